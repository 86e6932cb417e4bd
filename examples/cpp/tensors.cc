// Lists the tensors a torch.package pickle holds and prints one of them,
// with no Python and no torch: the archive is memory-mapped, the pickle is
// read without running it (IndexTensors), and the tensor's values are read
// in place from a zero-copy view of its storage record.
//
//   usage: tensors ARCHIVE PICKLE [TENSOR]
//
// PICKLE is the record name ("model/state.pkl" for
// exporter.save_pickle("model", "state.pkl", ...)); TENSOR is a name from
// the list (the first tensor by default).
#include <bit>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/status.h"
#include "hermetic/tensor_index.h"

namespace {

constexpr size_t kValuesShown = 8;

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

template <typename T>
T Load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);  // storages need not be aligned to T
  return value;
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h >> 15) << 31;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  if (exponent == 0x1f) {  // inf, nan
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {  // zero, subnormal: mantissa * 2^-24
    float magnitude = static_cast<float>(mantissa) / 16777216.0f;
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) |
                              (mantissa << 13));
}

// One element as text, or empty for a dtype this example does not decode.
std::string ValueText(const std::string& dtype, const uint8_t* p) {
  auto number = [](auto value) {
    std::ostringstream out;
    out << +value;  // + prints int8/uint8 as numbers
    return out.str();
  };
  if (dtype == "float32") return number(Load<float>(p));
  if (dtype == "float64") return number(Load<double>(p));
  if (dtype == "float16") return number(HalfToFloat(Load<uint16_t>(p)));
  if (dtype == "bfloat16") {
    return number(std::bit_cast<float>(uint32_t{Load<uint16_t>(p)} << 16));
  }
  if (dtype == "int8") return number(Load<int8_t>(p));
  if (dtype == "uint8") return number(Load<uint8_t>(p));
  if (dtype == "int16") return number(Load<int16_t>(p));
  if (dtype == "int32") return number(Load<int32_t>(p));
  if (dtype == "int64") return number(Load<int64_t>(p));
  if (dtype == "bool") return *p ? "true" : "false";
  return "";
}

// The first elements in row-major order, each found through the strides
// (a transposed tensor's storage is not in that order).
hermetic::Status PrintValues(const hermetic::TensorInfo& t,
                             std::span<const uint8_t> storage) {
  if (t.stride.size() != t.shape.size()) {
    return hermetic::Status::Corrupt(t.name +
                                     ": shape and stride differ in rank");
  }
  uint64_t numel = 1;
  for (int64_t size : t.shape) numel *= static_cast<uint64_t>(size);
  std::vector<int64_t> index(t.shape.size(), 0);
  std::cout << "first values:";
  for (uint64_t i = 0; i < numel && i < kValuesShown; ++i) {
    // Unsigned, so that sizes from a hostile pickle wrap instead of
    // overflowing; the bounds check below catches any such element.
    uint64_t element = t.storage_offset;
    for (size_t d = 0; d < index.size(); ++d) {
      element +=
          static_cast<uint64_t>(index[d]) * static_cast<uint64_t>(t.stride[d]);
    }
    if (element >= storage.size() / t.itemsize) {
      return hermetic::Status::Corrupt(t.StorageRecord() +
                                       ": tensor reaches past its storage");
    }
    uint64_t byte = element * t.itemsize;
    std::string text = ValueText(t.dtype, storage.data() + byte);
    if (text.empty()) {
      return hermetic::Status::Unsupported("dtype " + t.dtype +
                                           " is not decoded by this example");
    }
    std::cout << ' ' << text;
    for (size_t d = index.size(); d-- > 0;) {  // next row-major index
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
  std::cout << (numel > kValuesShown ? " ...\n" : "\n");
  return hermetic::Status::Ok();
}

hermetic::Status Run(const std::string& path, const std::string& pickle,
                     const std::string& wanted) {
  HERMETIC_ASSIGN_OR_RETURN(std::unique_ptr<hermetic::ArchiveReader> reader,
                            hermetic::ArchiveReader::OpenPath(path));
  std::cout << "archive " << path << ": " << reader->records().size()
            << " records\n";
  // Read() checks the pickle's CRC-32; storages are viewed unchecked.
  HERMETIC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, reader->Read(pickle));
  HERMETIC_ASSIGN_OR_RETURN(hermetic::TensorIndex index,
                            hermetic::IndexTensors(bytes));
  std::cout << pickle << ": " << index.tensors.size() << " tensors\n";
  const hermetic::TensorInfo* chosen = nullptr;
  for (const hermetic::TensorInfo& t : index.tensors) {
    if (!t.known) {
      std::cout << "  " << t.name << ": not understood (" << t.unknown_reason
                << ")\n";
      continue;
    }
    std::cout << "  " << t.name << "  " << t.dtype << ' ' << ShapeText(t.shape)
              << "  " << t.StorageRecord() << '\n';
    if (chosen == nullptr && (wanted.empty() || t.name == wanted)) chosen = &t;
  }
  if (chosen == nullptr) {
    return hermetic::Status::NotFound(pickle + ": no tensor named " + wanted);
  }
  if (chosen->itemsize == 0) {
    return hermetic::Status::Unsupported(chosen->name + ": dtype not recorded");
  }
  // The record's bytes where they lie in the mapped file: nothing is copied.
  HERMETIC_ASSIGN_OR_RETURN(std::span<uint8_t> storage,
                            reader->View(chosen->StorageRecord()));
  std::cout << chosen->name << ": " << chosen->dtype << ' '
            << ShapeText(chosen->shape) << ", stride "
            << ShapeText(chosen->stride) << ", " << storage.size()
            << "-byte storage viewed in place at file offset "
            << reader->Find(chosen->StorageRecord())->data_offset << '\n';
  return PrintValues(*chosen, storage);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: tensors ARCHIVE PICKLE [TENSOR]\n";
    return 2;
  }
  if constexpr (std::endian::native != std::endian::little) {
    std::cerr << "tensors: this example reads little-endian storages only\n";
    return 1;
  }
  hermetic::Status status = Run(argv[1], argv[2], argc == 4 ? argv[3] : "");
  if (!status.ok()) {
    std::cerr << "tensors: " << status.ToString() << '\n';
    return 1;
  }
  return 0;
}
