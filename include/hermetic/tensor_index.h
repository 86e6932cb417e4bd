// IndexTensors: the tensors a torch.package pickle holds, found without
// unpickling it (safetensors-style metadata; torch is not needed).
//
// Contract:
//  - The pickle first passes the pickle gate (ScanPickle, pickle_scan.h);
//    its error is returned as it is. Then a bounded stack machine walks
//    the opcodes again, modelling the values it can name (None, bools,
//    ints, strs, tuples, lists, dicts, globals, objects made by REDUCE,
//    NEWOBJ and BUILD, persistent ids) and leaving every other value
//    opaque. Nothing is executed, imported or allocated per declared size.
//  - A tensor is a call of torch._utils._rebuild_tensor_v2 or
//    _rebuild_tensor_v3 (also wrapped in _rebuild_parameter or
//    _rebuild_parameter_with_state) whose storage argument is
//    torch.package's persistent id ('storage', storage_type, key, location,
//    numel) (docs/format.md section 6). Its dtype is v3's dtype argument
//    (torch.uint16, ...), else the storage type's (torch.FloatStorage:
//    float32, ...); an untyped storage under v2 gives none. Offset, shape
//    and stride are its int arguments.
//  - Anything the model cannot follow (an argument computed by another
//    call, a storage id of another shape, a non-int size) makes that tensor
//    `known = false` with the reason; nothing is guessed. So does every
//    storage id no such call uses (another rebuild function, e.g. for
//    quantized or sparse tensors, or a bare storage): one entry each, with
//    the storage fields filled when the id has them. A persistent id that
//    is no storage is counted, not a tensor.
//  - Names: after STOP, every tensor reachable from the pickle's result
//    through dict str keys, list and tuple positions and object state gets
//    the first path found (depth first, in pickle order), its parts joined
//    by '.', the nn.Module containers "_parameters", "_buffers" and
//    "_modules" left out, so a module's tensors read as in its state_dict
//    ("encoder.0.weight"). A tensor reachable no way has an empty name.
//  - Every limit on untrusted input is a TensorIndexOptions field; memory
//    is bounded by them and linear in the input size.
#ifndef HERMETIC_TENSOR_INDEX_H_
#define HERMETIC_TENSOR_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/pickle_scan.h"
#include "hermetic/status.h"

namespace hermetic {

struct TensorIndexOptions {
  PickleScanOptions gate;
  // Values the model builds in all (each opcode makes at most one).
  size_t max_values = size_t{1} << 24;
  size_t max_tensors = size_t{1} << 20;
  // Dimensions of one tensor.
  size_t max_dims = 64;
  // Depth of the naming walk, and bytes of one name.
  size_t max_name_depth = 64;
  size_t max_name_length = 4096;
};

struct TensorInfo {
  std::string name;     // path in the pickle (see the contract), may be empty
  size_t position = 0;  // byte offset of the opcode that rebuilt it
  bool parameter = false;  // wrapped in _rebuild_parameter*
  bool known = false;      // the fields below are valid
  std::string unknown_reason;
  std::string storage_type;     // e.g. "torch.FloatStorage"
  std::string dtype;            // e.g. "float32"; empty when not recorded
  size_t itemsize = 0;          // 0 when dtype is empty
  std::string storage_key;      // ".data/<key>.storage" holds the bytes
  std::string location;         // e.g. "cpu"
  uint64_t storage_numel = 0;   // elements (bytes for UntypedStorage)
  uint64_t storage_offset = 0;  // in elements
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
  bool requires_grad = false;
  // Bytes of the storage the tensor's elements span (0 for an empty one),
  // when the dtype is known.
  std::optional<uint64_t> SpanBytes() const;
  std::string StorageRecord() const {
    return ".data/" + storage_key + ".storage";
  }
};

struct TensorIndex {
  std::vector<TensorInfo> tensors;  // in pickle order
  size_t other_persistent_ids = 0;  // ids that are no storage
};

Result<TensorIndex> IndexTensors(std::span<const uint8_t> pickle,
                                 const TensorIndexOptions& options = {});

// The dtype and item size torch gives a legacy storage class name
// ("FloatStorage" -> float32, 4); nullopt for others.
struct StorageDtype {
  std::string_view dtype;
  size_t itemsize;
};
std::optional<StorageDtype> DtypeOfStorage(std::string_view class_name);
// The bytes of one element of torch dtype `dtype` ("uint16" -> 2).
std::optional<size_t> ItemSize(std::string_view dtype);

}  // namespace hermetic

#endif  // HERMETIC_TENSOR_INDEX_H_
