// ScanPickle: what a pickle refers to, found without unpickling it.
//
// Contract:
//  - Walks the opcode stream of protocols 0-5 and reports every global the
//    pickle would look up (GLOBAL, INST, OBJ's class via STACK_GLOBAL, and
//    STACK_GLOBAL with module and name resolved through a model of the stack
//    and memo, incl. names longer than 255 bytes), in first-seen order,
//    de-duplicated.
//  - Never executes or allocates Python objects; bounded memory and time in
//    the input size, no recursion.
//  - Malformed input (unknown opcode, truncated argument, stack underflow,
//    memo index missing, no STOP) fails with Corrupt "pickle <what> at byte
//    N". A STACK_GLOBAL whose operands are not strings known to the model
//    (e.g. computed by REDUCE) is skipped, as newer torch.package does.
#ifndef HERMETIC_PICKLE_SCAN_H_
#define HERMETIC_PICKLE_SCAN_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hermetic/status.h"

namespace hermetic {

struct PickleGlobal {
  std::string module;
  std::string name;
  bool operator==(const PickleGlobal&) const = default;
};

struct PickleScanOptions {
  size_t max_memo_entries = size_t{1} << 26;
  size_t max_stack_depth = size_t{1} << 24;
};

struct PickleScan {
  int protocol = 0;  // from PROTO, 0..1 when absent
  std::vector<PickleGlobal> globals;
};

Result<PickleScan> ScanPickle(std::span<const uint8_t> data,
                              const PickleScanOptions& options = {});

}  // namespace hermetic

#endif  // HERMETIC_PICKLE_SCAN_H_
