// Feeds arbitrary bytes to IndexTensors. The limits are lowered so that
// inputs of fuzzer size reach them too.
#include <cstddef>
#include <cstdint>
#include <span>

#include "hermetic/tensor_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hermetic::TensorIndexOptions options;
  options.gate.max_memo_entries = 1 << 16;
  options.gate.max_stack_depth = 1 << 16;
  options.gate.max_mark_depth = 64;
  options.gate.max_int_digits = 64;
  options.max_values = 1 << 16;
  options.max_tensors = 64;
  options.max_dims = 8;
  options.max_name_depth = 16;
  options.max_name_length = 256;
  (void)hermetic::IndexTensors(std::span<const uint8_t>(data, size), options);
  return 0;
}
