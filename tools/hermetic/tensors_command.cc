// hermetic tensors ARCHIVE [PICKLE]: every tensor the pickles hold, read
// from the pickle bytes by include/hermetic/tensor_index.h (nothing runs,
// torch is not needed).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/tensor_index.h"
#include "json.h"
#include "record_kind.h"

namespace hermetic::cli {
namespace {

struct PickleTensors {
  std::string record;
  Status status;  // the pickle could not be read or indexed
  TensorIndex index;
};

std::string Dims(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    out.append(i ? ", " : "").append(std::to_string(dims[i]));
  }
  return out + "]";
}

std::string BytesText(const TensorInfo& t) {
  std::optional<uint64_t> bytes = t.known ? t.SpanBytes() : std::nullopt;
  return bytes ? HumanSize(*bytes) : "?";
}

void PrintText(const std::vector<PickleTensors>& pickles,
               const std::map<std::string, size_t>& uses,
               const ArchiveReader& reader) {
  size_t tensors = 0;
  for (const PickleTensors& p : pickles) {
    std::printf("%s\n", EscapeName(p.record).c_str());
    if (!p.status.ok()) {
      std::printf("  cannot be indexed: %s\n", p.status.message().c_str());
      continue;
    }
    if (p.index.tensors.empty()) {
      std::printf("  no tensors\n");
      continue;
    }
    // Column widths from the rows, so that long names stay aligned.
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"name", "dtype", "shape", "bytes", "storage", "notes"});
    for (const TensorInfo& t : p.index.tensors) {
      ++tensors;
      std::string name = t.name.empty() ? "?" : EscapeName(t.name);
      if (!t.known) {
        rows.push_back(
            {name, "?", "?", "?", "?", "unknown: " + t.unknown_reason});
        continue;
      }
      std::string storage = EscapeName(t.StorageRecord());
      if (reader.Find(t.StorageRecord()) == nullptr) storage += " (missing)";
      size_t shared = uses.at(t.storage_key);
      std::string notes = t.parameter ? "parameter" : "";
      if (shared > 1) {
        notes.append(notes.empty() ? "" : ", ")
            .append("shared by ")
            .append(std::to_string(shared));
      }
      rows.push_back({name, t.dtype.empty() ? "? " + t.storage_type : t.dtype,
                      Dims(t.shape), BytesText(t), storage, notes});
    }
    std::vector<size_t> width(rows[0].size(), 0);
    for (const auto& row : rows) {
      for (size_t c = 0; c < row.size(); ++c) {
        width[c] = std::max(width[c], row[c].size());
      }
    }
    for (const auto& row : rows) {
      std::string line = " ";
      for (size_t c = 0; c < row.size(); ++c) {
        std::string cell = row[c];
        if (c + 1 < row.size()) cell.resize(width[c], ' ');
        // Byte counts read best right-aligned.
        if (c == 3) cell = std::string(width[c] - row[c].size(), ' ') + row[c];
        line.append(" ").append(cell);
      }
      while (line.back() == ' ') line.pop_back();
      std::printf("%s\n", line.c_str());
    }
  }
  uint64_t bytes = 0;
  for (const auto& [key, n] : uses) {
    if (const RecordInfo* r = reader.Find(".data/" + key + ".storage")) {
      bytes += r->size;
    }
  }
  std::printf("%zu tensor%s in %zu pickle%s, %zu storage%s, %s\n", tensors,
              tensors == 1 ? "" : "s", pickles.size(),
              pickles.size() == 1 ? "" : "s", uses.size(),
              uses.size() == 1 ? "" : "s", HumanSize(bytes).c_str());
}

void PrintJson(const std::string& archive,
               const std::vector<PickleTensors>& pickles,
               const std::map<std::string, size_t>& uses,
               const ArchiveReader& reader) {
  std::string out =
      "{\"archive\": " + JsonString(EscapeName(archive)) + ", \"pickles\": [";
  for (size_t i = 0; i < pickles.size(); ++i) {
    const PickleTensors& p = pickles[i];
    out.append(i ? ", " : "")
        .append("{\"record\": ")
        .append(JsonString(EscapeName(p.record)))
        .append(", \"error\": ")
        .append(p.status.ok() ? "null" : JsonString(p.status.message()))
        .append(", \"tensors\": [");
    for (size_t k = 0; k < p.index.tensors.size(); ++k) {
      const TensorInfo& t = p.index.tensors[k];
      std::optional<uint64_t> bytes = t.known ? t.SpanBytes() : std::nullopt;
      const RecordInfo* storage =
          t.storage_key.empty() ? nullptr : reader.Find(t.StorageRecord());
      out.append(k ? ", " : "")
          .append("{\"name\": ")
          .append(JsonString(EscapeName(t.name)))
          .append(", \"position\": ")
          .append(std::to_string(t.position))
          .append(", \"known\": ")
          .append(t.known ? "true" : "false")
          .append(", \"unknown_reason\": ")
          .append(t.known ? "null" : JsonString(t.unknown_reason))
          .append(", \"parameter\": ")
          .append(t.parameter ? "true" : "false");
      if (!t.storage_key.empty()) {
        out.append(", \"storage\": ")
            .append(JsonString(EscapeName(t.StorageRecord())))
            .append(", \"storage_type\": ")
            .append(JsonString(EscapeName(t.storage_type)))
            .append(", \"storage_size\": ")
            .append(storage ? std::to_string(storage->size) : "null")
            .append(", \"storage_numel\": ")
            .append(std::to_string(t.storage_numel))
            .append(", \"location\": ")
            .append(JsonString(EscapeName(t.location)))
            .append(", \"shared_by\": ")
            .append(std::to_string(uses.at(t.storage_key)));
      }
      if (t.known) {
        out.append(", \"dtype\": ")
            .append(t.dtype.empty() ? "null" : JsonString(t.dtype))
            .append(", \"shape\": ")
            .append(Dims(t.shape))
            .append(", \"stride\": ")
            .append(Dims(t.stride))
            .append(", \"storage_offset\": ")
            .append(std::to_string(t.storage_offset))
            .append(", \"bytes\": ")
            .append(bytes ? std::to_string(*bytes) : "null")
            .append(", \"requires_grad\": ")
            .append(t.requires_grad ? "true" : "false");
      }
      out.append("}");
    }
    out.append("], \"other_persistent_ids\": ")
        .append(std::to_string(p.index.other_persistent_ids))
        .append("}");
  }
  out.append("], \"storages\": ").append(std::to_string(uses.size()));
  out.append("}\n");
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int Tensors(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "tensors",
                             .flags = {"--json"},
                             .options = {},
                             .required = {"ARCHIVE"},
                             .optional = {"PICKLE"}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  const std::string& path = a->positional[0];
  auto reader = ArchiveReader::OpenPath(path);
  if (!reader.ok()) return Fail(reader.status());
  std::vector<std::string> names;
  if (std::optional<std::string> one = a->Optional(kSpec, 0)) {
    if ((*reader)->Find(*one) == nullptr) {
      return Fail(Status::NotFound(EscapeName(path) + ": no record " +
                                   EscapeName(*one)));
    }
    names.push_back(*one);
  } else {
    const std::vector<RecordKind> kinds = ClassifyRecords(**reader);
    for (size_t i = 0; i < kinds.size(); ++i) {
      if (kinds[i] == RecordKind::kPickle) {
        names.push_back((*reader)->records()[i].name);
      }
    }
  }
  std::vector<PickleTensors> pickles;
  std::map<std::string, size_t> uses;  // storage key -> tensors on it
  Status first_error;
  for (const std::string& name : names) {
    PickleTensors p;
    p.record = name;
    // The reader's errors name archive and record already.
    Result<std::vector<uint8_t>> bytes = (*reader)->Read(name);
    Result<TensorIndex> index =
        bytes.ok() ? IndexTensors(*bytes) : Result<TensorIndex>(bytes.status());
    if (index.ok()) {
      p.index = std::move(*index);
    } else if (!bytes.ok()) {
      p.status = bytes.status();
    } else {
      p.status = Status(index.status().code(), EscapeName(path) + ": record " +
                                                   EscapeName(name) + ": " +
                                                   index.status().message());
    }
    if (first_error.ok()) first_error = p.status;
    for (const TensorInfo& t : p.index.tensors) {
      if (!t.storage_key.empty()) ++uses[t.storage_key];
    }
    pickles.push_back(std::move(p));
  }
  if (a->Has("--json")) {
    PrintJson(path, pickles, uses, **reader);
  } else {
    PrintText(pickles, uses, **reader);
  }
  return first_error.ok() ? kExitOk : Fail(first_error);
}

}  // namespace hermetic::cli
