#include "catalog.h"

#include <cstdio>

namespace hermetic {

Status CheckCrc(const std::string& where, const RecordInfo& r, uint32_t crc) {
  if (crc != r.crc32) {
    char buf[64];
    snprintf(buf, sizeof buf, "CRC-32 mismatch (stored %08x, computed %08x)",
             r.crc32, crc);
    return Status::Corrupt(where + ", record " + EscapeName(r.name) + ": " +
                           buf);
  }
  return Status::Ok();
}

}  // namespace hermetic
