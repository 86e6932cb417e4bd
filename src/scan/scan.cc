#include "hermetic/scan.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "rules.h"

namespace hermetic {
namespace {

using scan::FindRule;
using scan::NameRule;

constexpr std::array<std::string_view, 5> kSeverityNames = {
    "info", "low", "medium", "high", "critical"};

constexpr std::string_view kMockStubStart = "from _mock import MockedObject\n";
constexpr std::string_view kBytecodePrefix = ".data/bytecode/";

// Records of the format other than sources, pickles and resources.
bool IsFrameworkRecord(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      ".data/version",        "version",   ".data/extern_modules",
      ".data/python_version", "byteorder", ".data/serialization_id",
  };
  for (std::string_view n : kNames) {
    if (name == n) return true;
  }
  return name.starts_with(".data/") && name.ends_with(".storage") &&
         name.find('/', 6) == std::string_view::npos;
}

// "<pickle record>.oob/<n>": out-of-band buffers (format.md section 6).
bool IsOutOfBandBuffer(std::string_view name) {
  const size_t slash = name.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == name.size()) return false;
  std::string_view dir = name.substr(0, slash);
  std::string_view n = name.substr(slash + 1);
  return dir.ends_with(".oob") && std::all_of(n.begin(), n.end(), [](char c) {
           return c >= '0' && c <= '9';
         });
}

bool LooksLikePickle(std::span<const uint8_t> data) {
  return data.size() >= 3 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5 &&
         data.back() == '.';
}

// "a/b.py" -> ("a.b", false), "a/b/__init__.py" -> ("a.b", true).
std::pair<std::string, bool> ModuleOfSource(std::string_view record) {
  std::string_view path = record.substr(0, record.size() - 3);
  bool is_package = false;
  if (path == "__init__" || path.ends_with("/__init__")) {
    is_package = true;
    path.remove_suffix(std::min<size_t>(path.size(), 9));
  }
  std::string module(path);
  std::replace(module.begin(), module.end(), '/', '.');
  return {std::move(module), is_package};
}

std::string Dotted(std::string_view module, std::string_view name) {
  std::string out(module);
  if (!out.empty() && !name.empty()) out += '.';
  return out.append(name);
}

// Whether some dangerous-global rule's module starts with `component`.
bool StartsDangerousModule(std::string_view component) {
  static const std::vector<std::string_view> firsts = [] {
    std::vector<std::string_view> out;
    for (const scan::NameRule& rule : scan::DangerousGlobals()) {
      const std::string_view first =
          rule.pattern.substr(0, rule.pattern.find('.'));
      if (std::find(out.begin(), out.end(), first) == out.end()) {
        out.push_back(first);
      }
    }
    return out;
  }();
  return std::find(firsts.begin(), firsts.end(), component) != firsts.end();
}

// The worst dangerous-global rule that (module, name) can reach. A dotted
// name walks attributes from the module, and any of them may be a module
// the packaged code imported: pkg.mod + "os.system" is os.system. So every
// (module, name) split of every tail of the name is a candidate.
std::optional<Severity> DangerousAlongPath(std::string_view module,
                                           std::string_view name) {
  std::optional<Severity> worst;
  if (const scan::NameRule* rule =
          scan::FindRule(scan::DangerousGlobals(), module, name)) {
    worst = rule->severity;
  }
  // No qualname of real code is this deep; judging a deeper one would cost
  // time quadratic in its length, and refusing it loses nothing.
  constexpr size_t kMaxComponents = 32;
  std::vector<size_t> starts = {0};  // offsets of the name's components
  for (size_t i = name.find('.'); i != std::string_view::npos;
       i = name.find('.', i + 1)) {
    if (starts.size() == kMaxComponents) return Severity::kHigh;
    starts.push_back(i + 1);
  }
  // No rule's module has more components than this.
  constexpr size_t kMaxHead = 4;
  for (size_t first = 0; first + 1 < starts.size(); ++first) {
    // Most components start no rule's module.
    const std::string_view component =
        name.substr(starts[first], starts[first + 1] - 1 - starts[first]);
    if (!StartsDangerousModule(component)) continue;
    for (size_t cut = first + 1; cut < starts.size() && cut <= first + kMaxHead;
         ++cut) {
      const std::string_view head =
          name.substr(starts[first], starts[cut] - 1 - starts[first]);
      if (const scan::NameRule* rule = scan::FindRule(
              scan::DangerousGlobals(), head, name.substr(starts[cut]))) {
        if (!worst || rule->severity > *worst) worst = rule->severity;
      }
    }
  }
  return worst;
}

class ArchiveScanner {
 public:
  ArchiveScanner(ArchiveReader& reader, const ScanOptions& options)
      : reader_(reader), options_(options) {}

  ScanReport Run();

 private:
  void Add(Severity severity, std::string rule, std::string_view record,
           int64_t position, std::string message) {
    report_.findings.push_back({severity, std::move(rule), std::string(record),
                                position, std::move(message)});
  }
  // The record's bytes, or nullopt after a finding saying why not.
  std::optional<std::vector<uint8_t>> ReadRecord(const RecordInfo& info);
  void ScanPickleRecord(const RecordInfo& info, std::span<const uint8_t> data,
                        bool hidden);
  void ClassifyGlobal(std::string_view record, size_t offset,
                      const PickleGlobal& global);
  void ScanSourceRecord(const RecordInfo& info, std::string_view source);
  void CheckNameUse(std::string_view record, const NameUse& use);
  void ScanExterns();
  bool IsInterned(std::string_view module) const;

  ArchiveReader& reader_;
  const ScanOptions& options_;
  std::unordered_set<std::string> modules_;  // the archive's own
  ScanReport report_;
};

std::optional<std::vector<uint8_t>> ArchiveScanner::ReadRecord(
    const RecordInfo& info) {
  if (info.size > options_.max_record_size) {
    Add(Severity::kHigh, "record.unreadable", info.name, -1,
        "record of " + std::to_string(info.size) +
            " bytes is larger than the scan limit; not inspected");
    return std::nullopt;
  }
  Result<std::vector<uint8_t>> data = reader_.Read(info.name);
  if (!data.ok()) {
    Add(Severity::kHigh, "record.unreadable", info.name, -1,
        "cannot be read: " + data.status().message());
    return std::nullopt;
  }
  return std::move(*data);
}

bool ArchiveScanner::IsInterned(std::string_view module) const {
  return modules_.contains(std::string(module));
}

void ArchiveScanner::ClassifyGlobal(std::string_view record, size_t offset,
                                    const PickleGlobal& global) {
  const std::string shown =
      EscapeName(global.module) + "." + EscapeName(global.name);
  const auto at = static_cast<int64_t>(offset);
  const GlobalVerdict verdict = hermetic::ClassifyGlobal(
      global.module, global.name, IsInterned(global.module), options_);
  switch (verdict.kind) {
    case GlobalClass::kDangerous:
      Add(verdict.severity,
          "pickle.global." + Dotted(global.module, global.name), record, at,
          "global " + shown +
              " is a callable that runs commands, code, imports or I/O");
      break;
    case GlobalClass::kInterned:
      Add(verdict.severity, "pickle.global.interned", record, at,
          "global " + shown + " of a module in the package");
      break;
    case GlobalClass::kDataConstructor:
      Add(verdict.severity, "pickle.global.allowed", record, at,
          "global " + shown + " is a data constructor");
      break;
    case GlobalClass::kExtern:
      Add(verdict.severity, "pickle.global.extern", record, at,
          "global " + shown + " runs code of a module the host provides");
      break;
  }
}

void ArchiveScanner::ScanPickleRecord(const RecordInfo& info,
                                      std::span<const uint8_t> data,
                                      bool hidden) {
  Result<PickleScan> scanned = ScanPickle(data, options_.pickle);
  if (!scanned.ok()) {
    if (hidden) return;  // bytes that only start like a pickle
    Add(Severity::kHigh, "pickle.corrupt", info.name, -1,
        "the pickle gate refuses it: " + scanned.status().message());
    return;
  }
  ++report_.pickles;
  const size_t first = report_.findings.size();
  const PickleScan& s = *scanned;
  if (hidden) {
    Add(Severity::kLow, "pickle.hidden", info.name, 0,
        "a pickle under a name that does not end in .pkl");
  }
  for (size_t i = 0; i < s.globals.size(); ++i) {
    ClassifyGlobal(info.name, s.global_offsets[i], s.globals[i]);
  }
  for (size_t offset : s.unresolved_global_offsets) {
    Add(Severity::kHigh, "pickle.global.unresolved", info.name,
        static_cast<int64_t>(offset),
        "STACK_GLOBAL over operands the scan cannot name (computed on the "
        "stack): any callable");
  }
  for (size_t i = 0; i < s.extension_codes.size(); ++i) {
    Add(Severity::kHigh, "pickle.extension_code", info.name,
        static_cast<int64_t>(s.extension_code_offsets[i]),
        "extension code " + std::to_string(s.extension_codes[i]) +
            " names a global through the host's copyreg registry");
  }
  for (size_t i = 0; i < s.persistent_id_kinds.size(); ++i) {
    const std::string& kind = s.persistent_id_kinds[i];
    const auto at = static_cast<int64_t>(s.persistent_id_kind_offsets[i]);
    if (kind == "storage") {
      Add(Severity::kInfo, "pickle.persistent_id.storage", info.name, at,
          "tensor storages");
    } else {
      Add(Severity::kMedium, "pickle.persistent_id.other", info.name, at,
          "persistent id of kind '" + EscapeName(kind) +
              "', resolved by the loader");
    }
  }
  if (s.unnamed_persistent_ids > 0) {
    Add(Severity::kMedium, "pickle.persistent_id.unnamed", info.name,
        static_cast<int64_t>(s.first_unnamed_persistent_id_offset),
        std::to_string(s.unnamed_persistent_ids) +
            " persistent ids of a kind the scan cannot name");
  }
  std::stable_sort(report_.findings.begin() + static_cast<ptrdiff_t>(first),
                   report_.findings.end(),
                   [](const Finding& a, const Finding& b) {
                     return a.position < b.position;
                   });
}

// Source names CheckNameUse looks at beyond RiskySourceNames.
constexpr std::string_view kSpecialSourceNames[] = {
    "__import__", "importlib.import_module", "getattr", "setattr", "open",
    "io.open"};

void ArchiveScanner::CheckNameUse(std::string_view record, const NameUse& use) {
  if (!scan::MayBeRiskySourceName(use.name, kSpecialSourceNames)) return;
  const size_t dot = use.name.rfind('.');
  std::string_view module =
      dot == std::string_view::npos ? "" : use.name.substr(0, dot);
  std::string_view name =
      dot == std::string_view::npos ? use.name : use.name.substr(dot + 1);
  const std::string shown = EscapeName(use.name);
  if (use.called && !use.constant_arguments &&
      (use.name == "__import__" || use.name == "importlib.import_module")) {
    Add(Severity::kMedium, "source.dynamic_import", record, use.line,
        shown + "() with arguments the scan cannot read: imports any module");
    return;
  }
  if (use.called && (use.name == "getattr" || use.name == "setattr") &&
      (use.first_argument == "builtins" ||
       use.first_argument == "__builtins__")) {
    Add(Severity::kHigh, "source." + std::string(use.name) + ".builtins",
        record, use.line, shown + "() on the builtins module");
    return;
  }
  if (use.called && (use.name == "open" || use.name == "io.open")) {
    // The mode is the second positional argument (or mode=), a short
    // literal of "rwabxt+".
    for (std::string_view arg : use.string_arguments) {
      std::string_view body = arg;
      while (!body.empty() && body.front() != '\'' && body.front() != '"') {
        body.remove_prefix(1);
      }
      if (body.size() < 3 || body.size() > 8) continue;
      body = body.substr(1, body.size() - 2);
      const bool mode = std::all_of(body.begin(), body.end(), [](char c) {
        return std::string_view("rwabxt+").find(c) != std::string_view::npos;
      });
      if (mode && body.find_first_of("wax+") != std::string_view::npos) {
        Add(Severity::kMedium, "source.open.write", record, use.line,
            "open() for writing");
        return;
      }
    }
    return;
  }
  if (const NameRule* rule = FindRule(scan::RiskySourceNames(), module, name)) {
    Add(rule->severity, "source." + std::string(use.name), record, use.line,
        (use.called ? "calls " : "uses ") + shown);
  }
}

void ArchiveScanner::ScanSourceRecord(const RecordInfo& info,
                                      std::string_view source) {
  ++report_.sources;
  auto [module, is_package] = ModuleOfSource(info.name);
  if (source.starts_with(kMockStubStart)) {
    Add(Severity::kLow, "package.mock", info.name, -1,
        "module " + EscapeName(module) +
            " is mocked: any use of it raises at run time");
    return;
  }
  Result<std::vector<ImportRef>> imports =
      ScanImports(source, module, is_package, options_.source,
                  [&](const NameUse& use) { CheckNameUse(info.name, use); });
  if (!imports.ok()) {
    Add(Severity::kMedium, "source.unscannable", info.name, -1,
        "cannot be scanned: " + imports.status().message());
    return;
  }
  for (const ImportRef& ref : *imports) {
    std::string_view name = ref.name ? std::string_view(*ref.name) : "";
    std::string dotted = Dotted(ref.module, name);
    const NameRule* rule =
        ref.name && scan::MayBeRiskySourceName(dotted, kSpecialSourceNames)
            ? FindRule(scan::RiskySourceNames(), ref.module, name)
            : nullptr;
    if (rule != nullptr) {
      Add(rule->severity, "source.import." + dotted, info.name, -1,
          "imports " + EscapeName(dotted));
    } else {
      Add(Severity::kInfo, "source.import", info.name, -1,
          "imports " + EscapeName(dotted));
    }
  }
}

void ArchiveScanner::ScanExterns() {
  const RecordInfo* info = reader_.Find(".data/extern_modules");
  if (info == nullptr) return;
  std::optional<std::vector<uint8_t>> data = ReadRecord(*info);
  if (!data) return;
  std::string_view text(reinterpret_cast<const char*>(data->data()),
                        data->size());
  int64_t line = 0;
  while (!text.empty()) {
    ++line;
    size_t end = std::min(text.find('\n'), text.size());
    std::string_view module = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (module.empty()) continue;
    Add(Severity::kInfo, "package.extern", info->name, line,
        "the host must provide module " + EscapeName(module));
  }
}

ScanReport ArchiveScanner::Run() {
  const std::vector<RecordInfo>& records = reader_.records();
  report_.records = records.size();
  for (const RecordInfo& info : records) {
    if (info.name.ends_with(".py")) {
      modules_.insert(ModuleOfSource(info.name).first);
    }
  }
  for (const RecordInfo& info : records) {
    const std::string& name = info.name;
    if (name == ".data/extern_modules") {
      ScanExterns();
    } else if (name.starts_with(kBytecodePrefix)) {
      // .data/bytecode/<magic>/a/b.pyc sits beside a/b.py.
      std::string_view rest =
          std::string_view(name).substr(kBytecodePrefix.size());
      size_t slash = rest.find('/');
      std::string source =
          slash == std::string_view::npos || !rest.ends_with(".pyc")
              ? std::string()
              : std::string(rest.substr(slash + 1, rest.size() - slash - 2));
      if (source.empty() || reader_.Find(source) == nullptr) {
        Add(Severity::kHigh, "bytecode.orphan", name, -1,
            "bytecode with no source beside it: what would run cannot be "
            "read");
      } else {
        Add(Severity::kMedium, "bytecode.unchecked", name, -1,
            "bytecode is not checked against the source " + EscapeName(source));
      }
    } else if (IsFrameworkRecord(name) || IsOutOfBandBuffer(name)) {
      continue;
    } else if (name.starts_with(".data/")) {
      Add(Severity::kLow, "record.unknown", name, -1,
          "a .data/ record the format does not define");
    } else if (name.ends_with(".py")) {
      if (std::optional<std::vector<uint8_t>> data = ReadRecord(info)) {
        ScanSourceRecord(
            info, std::string_view(reinterpret_cast<const char*>(data->data()),
                                   data->size()));
      }
    } else if (name.ends_with(".pkl")) {
      if (std::optional<std::vector<uint8_t>> data = ReadRecord(info)) {
        ScanPickleRecord(info, *data, /*hidden=*/false);
      }
    } else if (info.size >= 3 && info.size <= options_.max_record_size) {
      // A resource: a pickle only if its bytes say so. The first bytes
      // are cheap to check for stored records, which most are.
      Result<std::span<uint8_t>> view = reader_.View(name);
      std::optional<std::vector<uint8_t>> copy;
      std::span<const uint8_t> bytes;
      if (view.ok()) {
        bytes = *view;
      } else if ((copy = ReadRecord(info))) {
        bytes = *copy;
      }
      if (LooksLikePickle(bytes))
        ScanPickleRecord(info, bytes, /*hidden=*/true);
    }
  }
  return std::move(report_);
}

}  // namespace

std::string_view SeverityName(Severity severity) {
  return kSeverityNames[static_cast<size_t>(severity)];
}

std::optional<Severity> ParseSeverity(std::string_view name) {
  for (size_t i = 0; i < kSeverityNames.size(); ++i) {
    if (kSeverityNames[i] == name) return static_cast<Severity>(i);
  }
  return std::nullopt;
}

size_t ScanReport::CountAtLeast(Severity severity) const {
  return static_cast<size_t>(
      std::count_if(findings.begin(), findings.end(),
                    [&](const Finding& f) { return f.severity >= severity; }));
}

Result<ScanReport> ScanArchive(ArchiveReader& reader,
                               const ScanOptions& options) {
  return ArchiveScanner(reader, options).Run();
}

GlobalVerdict ClassifyGlobal(std::string_view module, std::string_view name,
                             bool in_archive, const ScanOptions& options) {
  // Dangerous first: a module of the archive may be named os.
  if (std::optional<Severity> severity = DangerousAlongPath(module, name)) {
    return {GlobalClass::kDangerous, *severity};
  }
  if (in_archive) return {GlobalClass::kInterned, Severity::kInfo};
  // The allow-lists name module attributes: a dotted name reaches past
  // them (torch.nn.modules.linear + "torch.load"), so only a pattern that
  // spells it out whole admits it.
  const bool dotted = name.find('.') != std::string_view::npos;
  if (!dotted && scan::IsAllowedGlobal(module, name)) {
    return {GlobalClass::kDataConstructor, Severity::kInfo};
  }
  for (const std::string& pattern : options.allowed_globals) {
    if (dotted ? pattern == Dotted(module, name)
               : scan::MatchesPattern(pattern, module, name)) {
      return {GlobalClass::kDataConstructor, Severity::kInfo};
    }
  }
  return {GlobalClass::kExtern, Severity::kMedium};
}

}  // namespace hermetic
