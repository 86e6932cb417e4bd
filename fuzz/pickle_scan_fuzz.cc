// Feeds arbitrary bytes to ScanPickle. The limits are lowered so that inputs
// of fuzzer size reach them too.
#include <cstddef>
#include <cstdint>
#include <span>

#include "hermetic/pickle_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hermetic::PickleScanOptions options;
  options.max_memo_entries = 1 << 16;
  options.max_stack_depth = 1 << 16;
  options.max_mark_depth = 64;
  options.max_int_digits = 64;
  (void)hermetic::ScanPickle(std::span<const uint8_t>(data, size), options);
  return 0;
}
