// Feeds arbitrary bytes to ScanPickle. The limits are lowered so that a
// hostile stream cannot grow the model's stack or memo past a few MB.
#include <cstddef>
#include <cstdint>
#include <span>

#include "hermetic/pickle_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hermetic::PickleScanOptions options;
  options.max_memo_entries = 1 << 16;
  options.max_stack_depth = 1 << 16;
  (void)hermetic::ScanPickle(std::span<const uint8_t>(data, size), options);
  return 0;
}
