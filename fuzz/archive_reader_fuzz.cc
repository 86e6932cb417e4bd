// Feeds arbitrary bytes to ArchiveReader::OpenBuffer and, when they parse,
// exercises every record accessor. Limits are lowered so that a hostile
// declared size cannot make a single input allocate gigabytes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "hermetic/archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hermetic::ReaderOptions options;
  options.max_records = 4096;
  options.max_inflated_size = 64 << 20;
  auto reader = hermetic::ArchiveReader::OpenBuffer(
      std::span<const uint8_t>(data, size), nullptr, "fuzz", options);
  if (!reader.ok()) return 0;
  for (const hermetic::RecordInfo& r : (*reader)->records()) {
    (void)(*reader)->Find(r.name);
    (void)(*reader)->View(r.name);
    (void)(*reader)->Read(r.name);
    (void)(*reader)->Verify(r.name);
  }
  (void)(*reader)->VerifyAll();
  return 0;
}
