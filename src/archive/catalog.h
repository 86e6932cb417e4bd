// What every ArchiveReader implementation and the RecordMaps it makes share:
// the record list and its index, the CRC check and the one place where an
// allocation failure becomes a Status.
#ifndef HERMETIC_SRC_ARCHIVE_CATALOG_H_
#define HERMETIC_SRC_ARCHIVE_CATALOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/archive.h"

namespace hermetic {

// Records and their index, fixed once the reader is open; shared with the
// RecordMaps the reader makes, which may outlive it.
struct Catalog {
  std::vector<RecordInfo> records;
  std::map<std::string, size_t, std::less<>> index;

  const RecordInfo* Find(std::string_view name) const {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &records[it->second];
  }
};

// The part of an ArchiveReader that only reads the catalog, shared by the
// zip and folder readers; they fill prefix_ and catalog_ when they open.
class CatalogReader : public ArchiveReader {
 public:
  const std::string& prefix() const override { return prefix_; }
  const std::vector<RecordInfo>& records() const override {
    return catalog_->records;
  }
  const RecordInfo* Find(std::string_view name) const override {
    return catalog_->Find(name);
  }

 protected:
  std::string prefix_;
  std::shared_ptr<Catalog> catalog_ = std::make_shared<Catalog>();
};

// `where` names the archive ("archive x.pt"); `crc` is the CRC-32 of the
// record's bytes as read.
Status CheckCrc(const std::string& where, const RecordInfo& r, uint32_t crc);

// The readers' exception boundary: containers grow with the input, so an
// allocation may fail; inside `body` that becomes the Status `out_of_memory`
// returns (called only then, so its message costs nothing otherwise).
template <typename Body, typename OutOfMemory>
auto GuardAllocation(Body&& body, OutOfMemory&& out_of_memory)
    -> decltype(body()) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return out_of_memory();
  }
}

}  // namespace hermetic

#endif  // HERMETIC_SRC_ARCHIVE_CATALOG_H_
