// ScanPickle: what a pickle refers to, found without unpickling it; the gate
// every pickle passes before an unpickler sees it.
//
// Contract:
//  - Walks the opcode stream of protocols 0-5 up to the first STOP (what
//    follows is ignored, as the unpickler ignores it) and reports every
//    global the pickle would look up (GLOBAL, INST, and STACK_GLOBAL with
//    module and name resolved through a model of the stack and memo, incl.
//    names longer than 255 bytes and Python 2 strs), in first-seen order,
//    de-duplicated; STACK_GLOBALs whose operands the model cannot name (e.g.
//    computed by REDUCE) are counted, not named. Also reports the copyreg
//    extension codes (EXT*) and the persistent ids (PERSID, BINPERSID) with
//    the kinds the model can name (the str that starts a tuple id).
//    Each of these comes with the byte offset of the opcode that first
//    named it (of every unresolved STACK_GLOBAL), for reports.
//  - Never executes or allocates Python objects; memory and time linear in
//    the input size, no recursion.
//  - Accepting a pickle means CPython's C unpickler reading it allocates no
//    more than a small multiple of its size before running any code the
//    pickle names: every length lies within the data, every memo index is
//    below the number of values pushed so far (CPython sizes its memo by the
//    largest index, not by the entries), stack, MARK nesting, memo and
//    decimal integer text stay within PickleScanOptions. What picklers write
//    (incl. pickletools.optimize output) passes.
//  - Anything else fails with CorruptPickle "pickle <what> at byte N": unknown
//    opcode, protocol above 5, truncated argument, a length or FRAME past the
//    end, stack underflow, missing MARK, memo index missing, negative or out
//    of range, EXT code <= 0, a global name that is not strict UTF-8, a limit
//    exceeded, no STOP.
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
  // Memo indices stay below this (so do the entries).
  size_t max_memo_entries = size_t{1} << 26;
  // Values on the stack at once: a tuple of that many items, as lists and
  // dicts are built in batches.
  size_t max_stack_depth = size_t{1} << 24;
  // MARKs open at once: one per level of nesting, and picklers recurse per
  // level (sys.getrecursionlimit() is 1000 by default).
  size_t max_mark_depth = size_t{1} << 16;
  // Digits of INT and LONG text (protocol 0), CPython's default
  // sys.get_int_max_str_digits().
  size_t max_int_digits = 4300;
};

struct PickleScan {
  int protocol = 0;  // from PROTO, 0..1 when absent
  std::vector<PickleGlobal> globals;
  std::vector<size_t> global_offsets;  // of the opcode naming globals[i]
  size_t unresolved_globals = 0;       // STACK_GLOBALs with unknown operands
  std::vector<size_t> unresolved_global_offsets;  // of each of them
  std::vector<int32_t> extension_codes;           // distinct, first-seen order
  std::vector<size_t> extension_code_offsets;
  size_t persistent_ids = 0;  // PERSID and BINPERSID opcodes
  // Distinct first items of tuple ids, first-seen order ("storage", ...).
  std::vector<std::string> persistent_id_kinds;
  std::vector<size_t> persistent_id_kind_offsets;
  size_t unnamed_persistent_ids = 0;  // ids whose kind the model cannot name
  size_t first_unnamed_persistent_id_offset = 0;  // when there is one
};

Result<PickleScan> ScanPickle(std::span<const uint8_t> data,
                              const PickleScanOptions& options = {});

}  // namespace hermetic

#endif  // HERMETIC_PICKLE_SCAN_H_
