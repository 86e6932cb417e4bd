// hermetic diff [--json] [--source] A B: what changed between two packages,
// by what the records are: modules, mocks, externs, pickles, the tensors
// the pickles hold, other records.
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/tensor_index.h"
#include "json.h"
#include "line_diff.h"
#include "record_kind.h"

namespace hermetic::cli {
namespace {

// Whether two records hold the same bytes is decided by size and CRC-32;
// a zip's CRC-32 is in its central directory, a folder's file is hashed.
struct Fingerprint {
  uint64_t size = 0;
  uint32_t crc32 = 0;
  bool operator==(const Fingerprint&) const = default;
};

struct Side {
  std::string path;
  std::unique_ptr<ArchiveReader> reader;
  // Name (a module, or a record) -> record, per section.
  std::map<std::string, const RecordInfo*> modules, mocks, pickles, records;
  std::set<std::string> externs;
  // (pickle record, tensor name) -> tensor.
  std::map<std::pair<std::string, std::string>, TensorInfo> tensors;
  std::vector<Status> problems;  // pickles that could not be indexed
};

// "a/b.py" -> "a.b", "a/b/__init__.py" -> "a.b".
std::string ModuleOf(std::string_view record) {
  record.remove_suffix(3);
  if (record == "__init__") return "";
  if (record.ends_with("/__init__")) record.remove_suffix(9);
  std::string out(record);
  for (char& c : out) c = c == '/' ? '.' : c;
  return out;
}

Result<Side> Load(const std::string& path) {
  Side side;
  side.path = path;
  HERMETIC_ASSIGN_OR_RETURN(side.reader, ArchiveReader::OpenPath(path));
  ArchiveReader& reader = *side.reader;
  const std::vector<RecordKind> kinds = ClassifyRecords(reader);
  for (size_t i = 0; i < kinds.size(); ++i) {
    const RecordInfo& r = reader.records()[i];
    switch (kinds[i]) {
      case RecordKind::kModule:
        side.modules[ModuleOf(r.name)] = &r;
        break;
      case RecordKind::kMock:
        if (r.name != "_mock.py") side.mocks[ModuleOf(r.name)] = &r;
        break;
      case RecordKind::kPickle:
        side.pickles[r.name] = &r;
        break;
      case RecordKind::kStorage:
        break;  // compared through the tensors on them
      default:
        side.records[r.name] = &r;
    }
  }
  if (reader.Find(".data/extern_modules") != nullptr) {
    HERMETIC_ASSIGN_OR_RETURN(std::vector<uint8_t> text,
                              reader.Read(".data/extern_modules"));
    std::string_view rest(reinterpret_cast<const char*>(text.data()),
                          text.size());
    while (!rest.empty()) {
      size_t end = std::min(rest.find('\n'), rest.size());
      if (end > 0) side.externs.emplace(rest.substr(0, end));
      rest.remove_prefix(std::min(end + 1, rest.size()));
    }
  }
  for (const auto& [name, info] : side.pickles) {
    Result<std::vector<uint8_t>> bytes = reader.Read(name);
    Result<TensorIndex> index =
        bytes.ok() ? IndexTensors(*bytes) : Result<TensorIndex>(bytes.status());
    if (!index.ok()) {
      side.problems.push_back(
          bytes.ok()
              ? Status(index.status().code(), EscapeName(path) + ": record " +
                                                  EscapeName(name) + ": " +
                                                  index.status().message())
              : index.status());
      continue;
    }
    for (TensorInfo& t : index->tensors) {
      if (!t.name.empty()) side.tensors[{name, t.name}] = std::move(t);
    }
  }
  return side;
}

Result<Fingerprint> FingerprintOf(ArchiveReader& reader,
                                  const RecordInfo& info) {
  Fingerprint f{info.size, info.crc32};
  if (!reader.is_directory() && (info.crc32 != 0 || info.size == 0)) return f;
  f.crc32 = 0;
  HERMETIC_RETURN_IF_ERROR(
      reader.Stream(info.name, [&](std::span<const uint8_t> piece) {
        f.crc32 = Crc32(f.crc32, piece);
        return Status::Ok();
      }));
  return f;
}

struct Section {
  explicit Section(std::string t) : title(std::move(t)) {}
  std::string title;
  std::vector<std::string> added, removed, changed;  // escaped names
  std::vector<std::string> notes;                    // per changed entry
  size_t size() const { return added.size() + removed.size() + changed.size(); }
};

// Names only in b (added), only in a (removed), in both with other bytes.
Result<Section> CompareRecords(
    std::string title, Side& a,
    const std::map<std::string, const RecordInfo*>& in_a, Side& b,
    const std::map<std::string, const RecordInfo*>& in_b) {
  Section s(std::move(title));
  for (const auto& [name, info] : in_a) {
    auto other = in_b.find(name);
    if (other == in_b.end()) {
      s.removed.push_back(EscapeName(name));
      continue;
    }
    HERMETIC_ASSIGN_OR_RETURN(Fingerprint fa, FingerprintOf(*a.reader, *info));
    HERMETIC_ASSIGN_OR_RETURN(Fingerprint fb,
                              FingerprintOf(*b.reader, *other->second));
    if (!(fa == fb)) {
      s.changed.push_back(EscapeName(name));
      s.notes.push_back(HumanSize(fa.size) + " -> " + HumanSize(fb.size));
    }
  }
  for (const auto& [name, info] : in_b) {
    if (!in_a.contains(name)) s.added.push_back(EscapeName(name));
  }
  return s;
}

Section CompareExterns(const Side& a, const Side& b) {
  Section s("externs");
  for (const std::string& e : a.externs) {
    if (!b.externs.contains(e)) s.removed.push_back(EscapeName(e));
  }
  for (const std::string& e : b.externs) {
    if (!a.externs.contains(e)) s.added.push_back(EscapeName(e));
  }
  return s;
}

std::string Dims(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    out.append(i ? ", " : "").append(std::to_string(dims[i]));
  }
  return out + "]";
}

std::string Layout(const TensorInfo& t) {
  if (!t.known) return "unknown";
  return (t.dtype.empty() ? "?" : t.dtype) + " " + Dims(t.shape);
}

// Tensors by (pickle, name): added, removed, and changed in dtype, shape,
// stride or the bytes of the storage they are on.
Result<Section> CompareTensors(Side& a, Side& b) {
  Section s("tensors");
  auto label = [](const std::pair<std::string, std::string>& key) {
    return EscapeName(key.first) + ": " + EscapeName(key.second);
  };
  auto storage = [](Side& side,
                    const TensorInfo& t) -> Result<std::optional<Fingerprint>> {
    const RecordInfo* r =
        t.storage_key.empty() ? nullptr : side.reader->Find(t.StorageRecord());
    if (r == nullptr) return std::optional<Fingerprint>();
    HERMETIC_ASSIGN_OR_RETURN(Fingerprint f, FingerprintOf(*side.reader, *r));
    return std::optional<Fingerprint>(f);
  };
  for (const auto& [key, ta] : a.tensors) {
    auto other = b.tensors.find(key);
    if (other == b.tensors.end()) {
      s.removed.push_back(label(key));
      continue;
    }
    const TensorInfo& tb = other->second;
    if (Layout(ta) != Layout(tb) || ta.stride != tb.stride ||
        ta.storage_offset != tb.storage_offset) {
      s.changed.push_back(label(key));
      s.notes.push_back(Layout(ta) + " -> " + Layout(tb));
      continue;
    }
    HERMETIC_ASSIGN_OR_RETURN(std::optional<Fingerprint> fa, storage(a, ta));
    HERMETIC_ASSIGN_OR_RETURN(std::optional<Fingerprint> fb, storage(b, tb));
    if (fa != fb) {
      s.changed.push_back(label(key));
      s.notes.push_back(Layout(ta) + ", storage bytes differ");
    }
  }
  for (const auto& [key, t] : b.tensors) {
    if (!a.tensors.contains(key)) s.added.push_back(label(key));
  }
  return s;
}

std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    out.append(i ? ", " : "").append(JsonString(items[i]));
  }
  return out + "]";
}

Result<std::string> SourceDiff(Side& a, Side& b, const std::string& module) {
  HERMETIC_ASSIGN_OR_RETURN(std::vector<uint8_t> old_bytes,
                            a.reader->Read(a.modules.at(module)->name));
  HERMETIC_ASSIGN_OR_RETURN(std::vector<uint8_t> new_bytes,
                            b.reader->Read(b.modules.at(module)->name));
  std::optional<std::string> hunks = UnifiedDiff(
      std::string_view(reinterpret_cast<const char*>(old_bytes.data()),
                       old_bytes.size()),
      std::string_view(reinterpret_cast<const char*>(new_bytes.data()),
                       new_bytes.size()));
  if (!hunks) return std::string("    (too many changed lines to show)\n");
  // The text is the archive's: escaped line by line for the terminal.
  std::string out;
  for (size_t start = 0; start < hunks->size();) {
    size_t end = hunks->find('\n', start);
    out.append("    ")
        .append(EscapeName(std::string_view(*hunks).substr(start, end - start)))
        .append("\n");
    start = end + 1;
  }
  return out;
}

}  // namespace

int Diff(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "diff",
                             .flags = {"--json", "--source"},
                             .options = {},
                             .required = {"A", "B"},
                             .optional = {}};
  std::optional<Args> parsed = ParseArgs(args, kSpec);
  if (!parsed) return kExitUsage;
  Result<Side> a = Load(parsed->positional[0]);
  if (!a.ok()) return Fail(a.status());
  Result<Side> b = Load(parsed->positional[1]);
  if (!b.ok()) return Fail(b.status());
  std::vector<Section> sections;
  auto records = [&](const char* title, auto member) {
    Result<Section> s =
        CompareRecords(title, *a, (*a).*member, *b, (*b).*member);
    if (s.ok()) sections.push_back(std::move(*s));
    return s.status();
  };
  Status status = records("modules", &Side::modules);
  if (status.ok()) status = records("mocks", &Side::mocks);
  if (status.ok()) sections.push_back(CompareExterns(*a, *b));
  if (status.ok()) status = records("pickles", &Side::pickles);
  if (status.ok()) {
    Result<Section> tensors = CompareTensors(*a, *b);
    if (tensors.ok()) sections.push_back(std::move(*tensors));
    status = tensors.status();
  }
  if (status.ok()) status = records("records", &Side::records);
  if (!status.ok()) return Fail(status);
  size_t differences = 0;
  for (const Section& s : sections) differences += s.size();

  if (parsed->Has("--json")) {
    std::string out = "{\"a\": " + JsonString(EscapeName(a->path)) +
                      ", \"b\": " + JsonString(EscapeName(b->path));
    for (const Section& s : sections) {
      out.append(", ")
          .append(JsonString(s.title))
          .append(": {\"added\": ")
          .append(JsonList(s.added))
          .append(", \"removed\": ")
          .append(JsonList(s.removed))
          .append(", \"changed\": [");
      for (size_t i = 0; i < s.changed.size(); ++i) {
        out.append(i ? ", " : "")
            .append("{\"name\": ")
            .append(JsonString(s.changed[i]))
            .append(", \"change\": ")
            .append(JsonString(s.notes[i]))
            .append("}");
      }
      out.append("]}");
    }
    out.append(", \"differences\": ")
        .append(std::to_string(differences))
        .append("}\n");
    std::fputs(out.c_str(), stdout);
  } else {
    std::printf("--- %s\n+++ %s\n", EscapeName(a->path).c_str(),
                EscapeName(b->path).c_str());
    for (const Section& s : sections) {
      if (s.size() == 0) continue;
      std::printf("%s: %zu added, %zu removed, %zu changed\n", s.title.c_str(),
                  s.added.size(), s.removed.size(), s.changed.size());
      for (const std::string& name : s.added) {
        std::printf("  + %s\n", name.c_str());
      }
      for (const std::string& name : s.removed) {
        std::printf("  - %s\n", name.c_str());
      }
      for (size_t i = 0; i < s.changed.size(); ++i) {
        std::printf("  ~ %s  (%s)\n", s.changed[i].c_str(), s.notes[i].c_str());
        if (s.title == "modules" && parsed->Has("--source")) {
          // Module names were escaped for printing; find the raw one.
          for (const auto& [module, info] : a->modules) {
            if (EscapeName(module) != s.changed[i]) continue;
            Result<std::string> hunks = SourceDiff(*a, *b, module);
            if (!hunks.ok()) return Fail(hunks.status());
            std::fputs(hunks->c_str(), stdout);
          }
        }
      }
    }
    if (differences == 0) {
      std::printf("no differences\n");
    } else {
      std::printf("%zu difference%s\n", differences,
                  differences == 1 ? "" : "s");
    }
  }
  for (const Side* side : {&*a, &*b}) {
    if (!side->problems.empty()) return Fail(side->problems.front());
  }
  return differences == 0 ? kExitOk : kExitDamaged;
}

}  // namespace hermetic::cli
