#include "record_kind.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

namespace hermetic::cli {
namespace {

constexpr std::array<std::string_view, 9> kKindNames = {
    "module", "mock",     "pickle",    "storage", "bytecode",
    "oob",    "resource", "framework", "other"};

// The first line torch.package and hermetic write in a mocked module.
constexpr std::string_view kMockStubStart = "from _mock import MockedObject\n";

// A deflated record larger than this is classified by its name only:
// telling a pickle from a resource is not worth inflating it whole.
constexpr uint64_t kMaxInflatedForKind = uint64_t{64} << 20;

bool IsFrameworkRecord(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      ".data/version",
      "version",
      ".data/extern_modules",
      ".data/python_version",
      "byteorder",
      ".data/serialization_id",
      ".data/hermetic/manifest",
      ".data/hermetic/signature",
      ".data/hermetic/environment",
      ".data/hermetic/dependencies",
  };
  return std::find(std::begin(kNames), std::end(kNames), name) !=
         std::end(kNames);
}

bool IsStorage(std::string_view name) {
  return name.starts_with(".data/") && name.ends_with(".storage") &&
         name.find('/', 6) == std::string_view::npos;
}

// Calls `use` with the record's bytes, if they can be had cheaply.
template <typename F>
void WithBytes(ArchiveReader& reader, const RecordInfo& info, F use) {
  if (Result<std::span<uint8_t>> view = reader.View(info.name); view.ok()) {
    use(std::span<const uint8_t>(*view));
    return;
  }
  if (info.size > kMaxInflatedForKind) return;
  if (Result<std::vector<uint8_t>> data = reader.Read(info.name); data.ok()) {
    use(std::span<const uint8_t>(*data));
  }
}

RecordKind Classify(ArchiveReader& reader, const RecordInfo& info) {
  std::string_view name = info.name;
  if (IsFrameworkRecord(name)) return RecordKind::kFramework;
  if (IsStorage(name)) return RecordKind::kStorage;
  if (OutOfBandOwner(name)) return RecordKind::kOutOfBand;
  if (name.starts_with(".data/bytecode/")) return RecordKind::kBytecode;
  if (name.starts_with(".data/")) return RecordKind::kOther;
  if (name == "_mock.py") return RecordKind::kMock;
  if (name.ends_with(".pkl")) return RecordKind::kPickle;
  RecordKind kind =
      name.ends_with(".py") ? RecordKind::kModule : RecordKind::kResource;
  if (kind == RecordKind::kModule && info.size >= kMockStubStart.size()) {
    WithBytes(reader, info, [&](std::span<const uint8_t> bytes) {
      std::string_view text(reinterpret_cast<const char*>(bytes.data()),
                            bytes.size());
      if (text.starts_with(kMockStubStart)) kind = RecordKind::kMock;
    });
  } else if (kind == RecordKind::kResource && info.size >= 3) {
    // What the loader and `hermetic scan` take for a pickle: a protocol
    // 2-5 header and STOP at the end.
    WithBytes(reader, info, [&](std::span<const uint8_t> bytes) {
      if (bytes.size() >= 3 && bytes[0] == 0x80 && bytes[1] >= 2 &&
          bytes[1] <= 5 && bytes.back() == '.') {
        kind = RecordKind::kPickle;
      }
    });
  }
  return kind;
}

}  // namespace

std::string_view KindName(RecordKind kind) {
  return kKindNames[static_cast<size_t>(kind)];
}

std::optional<RecordKind> ParseKind(std::string_view name) {
  for (RecordKind kind : kAllKinds) {
    if (KindName(kind) == name) return kind;
  }
  return std::nullopt;
}

std::optional<std::string_view> OutOfBandOwner(std::string_view name) {
  const size_t slash = name.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == name.size()) {
    return std::nullopt;
  }
  std::string_view dir = name.substr(0, slash);
  std::string_view n = name.substr(slash + 1);
  if (!dir.ends_with(".oob") || dir.size() == 4 ||
      !std::all_of(n.begin(), n.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return dir.substr(0, dir.size() - 4);
}

std::vector<RecordKind> ClassifyRecords(ArchiveReader& reader) {
  std::vector<RecordKind> kinds;
  kinds.reserve(reader.records().size());
  for (const RecordInfo& info : reader.records()) {
    kinds.push_back(Classify(reader, info));
  }
  return kinds;
}

}  // namespace hermetic::cli
