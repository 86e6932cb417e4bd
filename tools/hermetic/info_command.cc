// hermetic info ARCHIVE: one screen about a package: its format and whether
// torch.package can read it, the versions it records, manifest and
// signature, records by kind, the largest records.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/dependency_record.h"
#include "hermetic/manifest.h"
#include "hermetic/posix_file.h"
#include "json.h"
#include "record_kind.h"

namespace hermetic::cli {
namespace {

// Small text records (the Python version, the extern list) are read whole
// only up to this size; a larger one is reported, not read.
constexpr uint64_t kMaxTextRecord = uint64_t{16} << 20;
constexpr size_t kLargest = 5;

struct KindTotal {
  size_t records = 0;
  uint64_t bytes = 0;
};

struct ManifestState {
  bool present = false;
  std::optional<Manifest> manifest;  // when it parses
  std::string problem;               // when it does not
};

struct SignatureState {
  bool present = false;
  std::optional<std::string> key;  // the key it names, not checked here
};

struct Summary {
  std::string archive;
  bool folder = false;
  uint64_t file_size = 0;  // of a zip
  size_t records = 0;
  uint64_t bytes = 0;
  std::vector<KindTotal> kinds = std::vector<KindTotal>(kAllKinds.size());
  std::optional<size_t> externs;  // lines of .data/extern_modules
  std::optional<std::string> python_version;
  // From .data/hermetic/environment (docs/format.md section 10).
  struct Environment {
    std::string python, platform;
    std::vector<std::string> pins;  // "distribution==version", sorted
  };
  std::optional<Environment> environment;
  ManifestState manifest;
  SignatureState signature;
  // The dependency record (docs/format.md section 12): its node and edge
  // counts when it parses, the reason when it does not.
  struct Graph {
    size_t nodes = 0, edges = 0;
    std::string problem;
  };
  std::optional<Graph> graph;
  // Why torch.package 2.13 cannot read the archive, and what it ignores.
  std::vector<std::string> torch_problems;
  std::vector<std::string> torch_notes;
  struct Record {
    std::string name;
    uint64_t size = 0;
    RecordKind kind = RecordKind::kOther;
  };
  std::vector<Record> largest;
};

std::optional<std::string> ReadText(ArchiveReader& reader,
                                    std::string_view name) {
  const RecordInfo* info = reader.Find(name);
  if (info == nullptr || info->size > kMaxTextRecord) return std::nullopt;
  Result<std::vector<uint8_t>> data = reader.Read(name);
  if (!data.ok()) return std::nullopt;
  return std::string(data->begin(), data->end());
}

// The public key a signature record names (docs/format.md section 8.2),
// if it has that shape; whether it verifies is `hermetic verify`'s job.
std::optional<std::string> SignatureKey(const std::string& text) {
  constexpr std::string_view kHead = "hermetic-signature 1\ned25519 ";
  if (!text.starts_with(kHead) || text.size() < kHead.size() + 64) {
    return std::nullopt;
  }
  std::string key = text.substr(kHead.size(), 64);
  if (!std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return std::nullopt;
  }
  return key;
}

std::string Plural(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

Result<Summary> Gather(const std::string& path) {
  HERMETIC_ASSIGN_OR_RETURN(std::unique_ptr<ArchiveReader> reader,
                            ArchiveReader::OpenPath(path));
  Summary info;
  info.archive = path;
  info.folder = reader->is_directory();
  if (!info.folder) {
    HERMETIC_ASSIGN_OR_RETURN(FileInfo st,
                              Stat(path, "reading " + EscapeName(path)));
    info.file_size = st.size;
  }
  const std::vector<RecordKind> kinds = ClassifyRecords(*reader);
  const auto& records = reader->records();
  info.records = records.size();
  std::vector<std::string> oob_pickles;
  for (size_t i = 0; i < records.size(); ++i) {
    KindTotal& t = info.kinds[static_cast<size_t>(kinds[i])];
    ++t.records;
    t.bytes += records[i].size;
    info.bytes += records[i].size;
    info.largest.push_back({records[i].name, records[i].size, kinds[i]});
    if (std::optional<std::string_view> owner = OutOfBandOwner(records[i].name);
        owner && kinds[i] == RecordKind::kOutOfBand &&
        std::find(oob_pickles.begin(), oob_pickles.end(), *owner) ==
            oob_pickles.end()) {
      oob_pickles.emplace_back(*owner);
    }
  }
  std::stable_sort(
      info.largest.begin(), info.largest.end(),
      [](const auto& x, const auto& y) { return x.size > y.size; });
  if (info.largest.size() > kLargest) info.largest.resize(kLargest);

  if (std::optional<std::string> externs =
          ReadText(*reader, ".data/extern_modules")) {
    size_t n = 0;
    for (size_t start = 0; start < externs->size();) {
      size_t end = externs->find('\n', start);
      if (end == std::string::npos) end = externs->size();
      n += end > start;
      start = end + 1;
    }
    info.externs = n;
  }
  if (std::optional<std::string> v =
          ReadText(*reader, ".data/python_version")) {
    while (!v->empty() && (v->back() == '\n' || v->back() == ' ')) {
      v->pop_back();
    }
    info.python_version = EscapeName(*v);
  }
  if (std::optional<std::string> text =
          ReadText(*reader, ".data/hermetic/environment")) {
    Summary::Environment env;
    env.pins = EnvironmentPins(*text);
    std::string_view rest = *text;
    while (!rest.empty()) {
      const size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
      if (line.starts_with("python ")) {
        env.python = EscapeName(line.substr(7));
      } else if (line.starts_with("platform ")) {
        env.platform = EscapeName(line.substr(9));
      }
    }
    info.environment = std::move(env);
  }
  if (reader->Find(kManifestRecord) != nullptr) {
    info.manifest.present = true;
    Result<std::vector<uint8_t>> bytes = reader->Read(kManifestRecord);
    Result<Manifest> m = bytes.ok() ? ParseManifest(*bytes, path)
                                    : Result<Manifest>(bytes.status());
    if (m.ok()) {
      info.manifest.manifest = std::move(*m);
    } else {
      info.manifest.problem = m.status().message();
    }
  }
  if (reader->Find(kSignatureRecord) != nullptr) {
    info.signature.present = true;
    if (std::optional<std::string> text = ReadText(*reader, kSignatureRecord)) {
      info.signature.key = SignatureKey(*text);
    }
  }

  if (reader->Find(kDependencyRecord) != nullptr) {
    Summary::Graph graph;
    Result<std::optional<DependencyRecord>> record =
        ReadDependencyRecord(*reader, path);
    if (record.ok() && *record) {
      graph.nodes = (*record)->graph.size();
      for (DiGraph::NodeId id = 0; id < graph.nodes; ++id) {
        graph.edges += (*record)->graph.Successors(id).size();
      }
    } else {
      graph.problem = record.status().message();
    }
    info.graph = std::move(graph);
  }

  // What torch.package 2.13's importer needs (docs/format.md section 4):
  // its reader opens a version record and .data/extern_modules, and it
  // loads pickles without out-of-band buffers only.
  if (!reader->Find(".data/version") && !reader->Find("version")) {
    info.torch_problems.push_back("no version record (.data/version)");
  }
  if (!reader->Find(".data/extern_modules")) {
    info.torch_problems.push_back("no .data/extern_modules record");
  }
  if (!oob_pickles.empty()) {
    std::string what = Plural(oob_pickles.size(), "pickle", "pickles") +
                       " with out-of-band buffers (" +
                       EscapeName(oob_pickles[0]) +
                       (oob_pickles.size() > 1 ? ", ..." : "") + ")";
    info.torch_problems.push_back(std::move(what));
  }
  if (size_t n =
          info.kinds[static_cast<size_t>(RecordKind::kBytecode)].records) {
    info.torch_notes.push_back(
        Plural(n, "bytecode record", "bytecode records") +
        " ignored (it compiles the sources)");
  }
  if (info.manifest.present || info.signature.present) {
    info.torch_notes.push_back("manifest and signature ignored");
  }
  return info;
}

const KindTotal& Total(const Summary& info, RecordKind kind) {
  return info.kinds[static_cast<size_t>(kind)];
}

std::string FormatLine(const Summary& info) {
  std::string out = info.folder ? "folder" : "zip";
  out += ", " + Plural(info.records, "record", "records") + ", " +
         HumanSize(info.bytes);
  if (!info.folder) out += " (file " + HumanSize(info.file_size) + ")";
  return out;
}

void PrintText(const Summary& info) {
  auto field = [](const char* label, const std::string& value) {
    std::printf("%-14s %s\n", label, value.c_str());
  };
  field("archive", EscapeName(info.archive));
  field("format", FormatLine(info));
  if (info.torch_problems.empty()) {
    field("torch.package", "readable (torch 2.13)");
  } else {
    std::string why;
    for (const std::string& p : info.torch_problems) {
      why.append(why.empty() ? "" : "; ").append(p);
    }
    field("torch.package", "NOT readable: " + why);
  }
  for (const std::string& note : info.torch_notes) field("", "note: " + note);
  field("python", info.python_version.value_or("unknown (no record)"));
  if (const auto& env = info.environment) {
    std::string pins;
    for (const std::string& pin : env->pins) {
      pins.append(pins.empty() ? "" : ", ").append(pin);
    }
    field("environment", "python " + env->python + " on " + env->platform);
    field("", "externs from " +
                  (pins.empty() ? std::string("the standard library") : pins) +
                  " (hermetic requirements)");
  } else {
    field("environment", "not recorded");
  }
  const std::optional<Manifest>& m = info.manifest.manifest;
  if (m && m->generator.starts_with("hermetic ")) {
    field("hermetic", m->generator.substr(9) + " (from the manifest)");
  } else {
    field("hermetic", "unknown (no manifest)");
  }
  if (m) {
    field("manifest", "present, " +
                          Plural(m->records.size(), "record", "records") +
                          (m->created ? ", created " + *m->created : "") +
                          " (checked by hermetic verify)");
  } else if (info.manifest.present) {
    field("manifest", "present but unreadable: " + info.manifest.problem);
  } else {
    field("manifest", "absent");
  }
  if (info.signature.key) {
    field("signature", "present, key " + *info.signature.key +
                           " (checked by hermetic verify --key)");
  } else {
    field("signature",
          info.signature.present ? "present but malformed" : "absent");
  }
  if (!info.graph) {
    field("dependencies", "graph not recorded");
  } else if (info.graph->problem.empty()) {
    field("dependencies",
          "graph recorded, " + Plural(info.graph->nodes, "node", "nodes") +
              ", " + Plural(info.graph->edges, "edge", "edges") +
              " (hermetic deps)");
  } else {
    field("dependencies",
          "graph present but unreadable: " + info.graph->problem);
  }

  std::printf("\n%-10s %8s %12s\n", "kind", "records", "size");
  auto row = [](std::string_view label, const std::string& count,
                const std::string& size, std::string_view note) {
    std::string line(label);
    line.resize(std::max<size_t>(line.size(), 10), ' ');
    char nums[64];
    std::snprintf(nums, sizeof nums, " %8s %12s", count.c_str(), size.c_str());
    line.append(nums);
    if (!note.empty()) line.append("  ").append(note);
    std::printf("%s\n", line.c_str());
  };
  for (RecordKind kind : kAllKinds) {
    const KindTotal& t = Total(info, kind);
    // The kinds people ask about first are always shown; the rest when
    // the archive has them.
    bool always = kind == RecordKind::kModule || kind == RecordKind::kMock ||
                  kind == RecordKind::kPickle || kind == RecordKind::kStorage ||
                  kind == RecordKind::kBytecode;
    if (t.records == 0 && !always) continue;
    std::string_view note;
    if (kind == RecordKind::kModule) note = "interned sources";
    if (kind == RecordKind::kStorage) note = "tensor storages";
    if (kind == RecordKind::kOutOfBand) note = "out-of-band buffers";
    row(KindName(kind), std::to_string(t.records), HumanSize(t.bytes), note);
    if (kind == RecordKind::kMock) {
      row("extern", info.externs ? std::to_string(*info.externs) : "?", "-",
          "modules taken from the loading environment");
    }
  }
  row("total", std::to_string(info.records), HumanSize(info.bytes), "");

  if (!info.largest.empty()) std::printf("\nlargest records\n");
  for (const Summary::Record& r : info.largest) {
    std::printf("  %10s  %-9s  %s\n", HumanSize(r.size).c_str(),
                std::string(KindName(r.kind)).c_str(),
                EscapeName(r.name).c_str());
  }
}

std::string JsonOrNull(const std::optional<std::string>& s) {
  return s ? JsonString(*s) : "null";
}

std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    out.append(i ? ", " : "").append(JsonString(items[i]));
  }
  return out + "]";
}

void PrintJson(const Summary& info) {
  const std::optional<Manifest>& m = info.manifest.manifest;
  std::optional<std::string> hermetic_version;
  if (m && m->generator.starts_with("hermetic ")) {
    hermetic_version = m->generator.substr(9);
  }
  std::string out = "{\"archive\": " + JsonString(EscapeName(info.archive));
  out.append(", \"format\": ")
      .append(JsonString(info.folder ? "folder" : "zip"))
      .append(", \"file_size\": ")
      .append(info.folder ? "null" : std::to_string(info.file_size))
      .append(", \"records\": ")
      .append(std::to_string(info.records))
      .append(", \"size\": ")
      .append(std::to_string(info.bytes))
      .append(", \"torch_package\": {\"readable\": ")
      .append(info.torch_problems.empty() ? "true" : "false")
      .append(", \"problems\": ")
      .append(JsonList(info.torch_problems))
      .append(", \"notes\": ")
      .append(JsonList(info.torch_notes))
      .append("}, \"python_version\": ")
      .append(JsonOrNull(info.python_version))
      .append(", \"environment\": ")
      .append(info.environment
                  ? "{\"python\": " + JsonString(info.environment->python) +
                        ", \"platform\": " +
                        JsonString(info.environment->platform) +
                        ", \"requirements\": " +
                        JsonList(info.environment->pins) + "}"
                  : std::string("null"))
      .append(", \"hermetic_version\": ")
      .append(JsonOrNull(hermetic_version))
      .append(", \"manifest\": {\"present\": ")
      .append(info.manifest.present ? "true" : "false")
      .append(", \"valid\": ")
      .append(m ? "true" : "false")
      .append(", \"records\": ")
      .append(m ? std::to_string(m->records.size()) : "null")
      .append(", \"created\": ")
      .append(JsonOrNull(m ? m->created : std::nullopt))
      .append("}, \"signature\": {\"present\": ")
      .append(info.signature.present ? "true" : "false")
      .append(", \"key\": ")
      .append(JsonOrNull(info.signature.key))
      .append("}, \"dependency_graph\": ")
      .append(!info.graph
                  ? std::string("{\"recorded\": false}")
                  : "{\"recorded\": true, \"valid\": " +
                        std::string(info.graph->problem.empty() ? "true"
                                                                : "false") +
                        ", \"nodes\": " + std::to_string(info.graph->nodes) +
                        ", \"edges\": " + std::to_string(info.graph->edges) +
                        "}")
      .append(", \"externs\": ")
      .append(info.externs ? std::to_string(*info.externs) : "null")
      .append(", \"kinds\": {");
  for (size_t i = 0; i < kAllKinds.size(); ++i) {
    const KindTotal& t = Total(info, kAllKinds[i]);
    out.append(i ? ", " : "")
        .append(JsonString(KindName(kAllKinds[i])))
        .append(": {\"records\": ")
        .append(std::to_string(t.records))
        .append(", \"size\": ")
        .append(std::to_string(t.bytes))
        .append("}");
  }
  out.append("}, \"largest\": [");
  for (size_t i = 0; i < info.largest.size(); ++i) {
    const Summary::Record& r = info.largest[i];
    out.append(i ? ", " : "")
        .append("{\"name\": ")
        .append(JsonString(EscapeName(r.name)))
        .append(", \"kind\": ")
        .append(JsonString(KindName(r.kind)))
        .append(", \"size\": ")
        .append(std::to_string(r.size))
        .append("}");
  }
  out.append("]}\n");
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int Info(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "info",
                             .flags = {"--json"},
                             .options = {},
                             .required = {"ARCHIVE"},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  Result<Summary> info = Gather(a->positional[0]);
  if (!info.ok()) return Fail(info.status());
  if (a->Has("--json")) {
    PrintJson(*info);
  } else {
    PrintText(*info);
  }
  return kExitOk;
}

}  // namespace hermetic::cli
