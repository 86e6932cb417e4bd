// Feeds arbitrary bytes to ScanArchive as an archive: whatever the reader
// accepts is scanned (pickles, sources, externs, bytecode records).
#include <cstddef>
#include <cstdint>
#include <span>

#include "hermetic/archive.h"
#include "hermetic/scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto reader = hermetic::ArchiveReader::OpenBuffer(
      std::span<const uint8_t>(data, size), nullptr, "fuzz");
  if (!reader.ok()) return 0;
  hermetic::ScanOptions options;
  options.max_record_size = size_t{1} << 20;
  (void)hermetic::ScanArchive(**reader, options);
  return 0;
}
