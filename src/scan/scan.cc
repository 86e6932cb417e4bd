#include "hermetic/scan.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "hermetic/manifest.h"
#include "import_bindings.h"
#include "rules.h"

namespace hermetic {
namespace {

using scan::FindRule;
using scan::NameRule;

constexpr std::array<std::string_view, 5> kSeverityNames = {
    "info", "low", "medium", "high", "critical"};

constexpr std::string_view kMockStubStart = "from _mock import MockedObject\n";
constexpr std::string_view kBytecodePrefix = ".data/bytecode/";

// Small text records of the format.
bool IsFrameworkRecord(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      ".data/version",
      "version",
      ".data/extern_modules",
      ".data/python_version",
      "byteorder",
      ".data/serialization_id",
      ".data/hermetic/environment",
      ".data/hermetic/dependencies",
  };
  for (std::string_view n : kNames) {
    if (name == n) return true;
  }
  return false;
}

// ".data/<n>.storage": tensor bytes.
bool IsStorage(std::string_view name) {
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

// PROTO 0-5: the bytes say they are a pickle.
bool HasProtocolHeader(std::span<const uint8_t> data) {
  return data.size() >= 2 && data[0] == 0x80 && data[1] <= 5;
}

bool IsIdentifierPath(std::string_view dotted) {
  if (dotted.empty()) return false;
  bool start = true;
  for (char ch : dotted) {
    const auto c = static_cast<uint8_t>(ch);
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        c == '_' || c >= 0x80;
    if (c == '.') {
      if (start) return false;
      start = true;
    } else if (letter || (!start && c >= '0' && c <= '9')) {
      start = false;
    } else {
      return false;
    }
  }
  return !start;
}

// Whether a pickle without a PROTO header (protocols 0 and 1 write none) is
// one worth a finding rather than bytes that happen to pass the gate (a
// text "N.B." is a pickle of None): it names a global, every global it names
// is a dotted identifier as an importable one is, or it names one through
// STACK_GLOBAL or an EXT code. Ordinary text names no such global.
bool NamesCode(const PickleScan& s) {
  if (!s.extension_codes.empty() || s.unresolved_globals > 0) return true;
  if (s.globals.empty()) return false;
  return std::all_of(
      s.globals.begin(), s.globals.end(), [](const PickleGlobal& g) {
        return IsIdentifierPath(g.module) && IsIdentifierPath(g.name);
      });
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

// The worst dangerous callable that (module, name) can reach, and its
// dotted path. A dotted name walks attributes from the module, and any of
// them may be a module the packaged code imported: pkg.mod + "os.system" is
// os.system. So every (module, name) split of every tail of the name is a
// candidate.
struct Reach {
  Severity severity;
  std::string path;
};
std::optional<Reach> DangerousAlongPath(std::string_view module,
                                        std::string_view name) {
  std::optional<Reach> worst;
  auto consider = [&](std::string_view head, std::string_view tail) {
    const scan::NameRule* rule =
        scan::FindRule(scan::DangerousGlobals(), head, tail);
    if (rule != nullptr && (!worst || rule->severity > worst->severity)) {
      worst = Reach{rule->severity, Dotted(head, tail)};
    }
  };
  consider(module, name);
  // No qualname of real code is this deep; judging a deeper one would cost
  // time quadratic in its length, and refusing it loses nothing.
  constexpr size_t kMaxComponents = 32;
  std::vector<size_t> starts = {0};  // offsets of the name's components
  for (size_t i = name.find('.'); i != std::string_view::npos;
       i = name.find('.', i + 1)) {
    if (starts.size() == kMaxComponents) {
      return Reach{Severity::kHigh, Dotted(module, name)};
    }
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
      consider(name.substr(starts[first], starts[cut] - 1 - starts[first]),
               name.substr(starts[cut]));
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
  enum class Hidden { kNo, kWithHeader, kWithoutHeader };
  void ScanPickleRecord(const RecordInfo& info, std::span<const uint8_t> data,
                        Hidden hidden);
  void ScanResource(const RecordInfo& info);
  void ClassifyGlobal(std::string_view record, size_t offset,
                      const PickleGlobal& global);
  bool IsNestedClass(const PickleGlobal& global);
  void ScanSourceRecord(const RecordInfo& info, std::string_view source);
  void FollowAliases(std::string_view record, std::string_view source,
                     const std::string& module, bool is_package,
                     const std::vector<ImportRef>& imports);
  void CheckNameUse(std::string_view record, const NameUse& use,
                    std::string_view spelled = {});
  void ReadExterns();
  void ScanExterns(const RecordInfo& info);
  void CheckManifest();
  bool IsInterned(std::string_view module) const;
  const std::vector<scan::ImportBinding>& BindingsOf(const std::string& module);

  ArchiveReader& reader_;
  const ScanOptions& options_;
  // The archive's own modules and their source records.
  std::unordered_map<std::string, std::string> modules_;
  std::unordered_map<std::string, std::vector<scan::ImportBinding>> bindings_;
  // .data/extern_modules, line by line, once read (nullopt: unreadable).
  std::optional<std::vector<std::string>> externs_;
  std::unordered_set<std::string> declared_externs_;
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

const std::vector<scan::ImportBinding>& ArchiveScanner::BindingsOf(
    const std::string& module) {
  auto [it, inserted] = bindings_.try_emplace(module);
  if (inserted) {
    auto source = modules_.find(module);
    const RecordInfo* info =
        source == modules_.end() ? nullptr : reader_.Find(source->second);
    // An unreadable source is reported where the record is scanned.
    if (info != nullptr && info->size <= options_.max_record_size) {
      if (Result<std::vector<uint8_t>> data = reader_.Read(info->name);
          data.ok()) {
        it->second = scan::FindImportBindings(std::string_view(
            reinterpret_cast<const char*>(data->data()), data->size()));
      }
    }
  }
  return it->second;
}

void ArchiveScanner::ClassifyGlobal(std::string_view record, size_t offset,
                                    const PickleGlobal& global) {
  const std::string shown =
      EscapeName(global.module) + "." + EscapeName(global.name);
  const auto at = static_cast<int64_t>(offset);
  if (std::optional<Reach> reach =
          DangerousAlongPath(global.module, global.name)) {
    const bool direct = reach->path == Dotted(global.module, global.name);
    Add(reach->severity, "pickle.global." + reach->path, record, at,
        "global " + shown +
            (direct ? " is" : " reaches " + EscapeName(reach->path) + ",") +
            " a callable that runs commands, code, imports or I/O");
    return;
  }
  const GlobalVerdict verdict = hermetic::ClassifyGlobal(
      global.module, global.name, IsInterned(global.module), options_);
  if (global.name.find('.') != std::string::npos &&
      verdict.kind != GlobalClass::kDataConstructor && !IsNestedClass(global)) {
    Add(Severity::kHigh, "pickle.global.qualified", record, at,
        "global " + shown +
            " reaches through module attributes: the scan cannot tell what "
            "it is");
    return;
  }
  switch (verdict.kind) {
    case GlobalClass::kDangerous:  // found above
    case GlobalClass::kInterned:
      Add(Severity::kInfo, "pickle.global.interned", record, at,
          "global " + shown + " of a module in the package");
      break;
    case GlobalClass::kDataConstructor:
      Add(Severity::kInfo, "pickle.global.allowed", record, at,
          "global " + shown + " is a data constructor");
      break;
    case GlobalClass::kExtern:
      if (declared_externs_.contains(global.module)) {
        Add(Severity::kLow, "pickle.global.extern", record, at,
            "global " + shown +
                " runs code of a module the package declares extern (the "
                "host provides it)");
      } else {
        Add(Severity::kMedium, "pickle.global.extern", record, at,
            "global " + shown +
                " runs code of a module the host provides, not declared "
                "extern");
      }
      break;
  }
}

// Protocol 4 looks a dotted name up attribute by attribute, so `m` +
// `a.b` is whatever m.a.b is. It is a nested class (Outer.Inner) of the
// module's own code when m is one of the archive's modules and `a` is not
// a name m's imports bind.
bool ArchiveScanner::IsNestedClass(const PickleGlobal& global) {
  if (!IsInterned(global.module)) return false;
  const std::string_view first =
      std::string_view(global.name).substr(0, global.name.find('.'));
  const std::vector<scan::ImportBinding>& bindings = BindingsOf(global.module);
  return std::none_of(
      bindings.begin(), bindings.end(),
      [&](const scan::ImportBinding& b) { return b.name == first; });
}

void ArchiveScanner::ScanPickleRecord(const RecordInfo& info,
                                      std::span<const uint8_t> data,
                                      Hidden hidden) {
  Result<PickleScan> scanned = ScanPickle(data, options_.pickle);
  if (!scanned.ok()) {
    if (hidden != Hidden::kNo) return;  // bytes that only start like a pickle
    Add(Severity::kHigh, "pickle.corrupt", info.name, -1,
        "the pickle gate refuses it: " + scanned.status().message());
    return;
  }
  const PickleScan& s = *scanned;
  if (hidden == Hidden::kWithoutHeader && !NamesCode(s)) return;
  ++report_.pickles;
  const size_t first = report_.findings.size();
  if (hidden != Hidden::kNo) {
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
    } else if (kind == "reduce_package") {
      Add(Severity::kInfo, "pickle.persistent_id.reduce_package", info.name, at,
          "objects rebuilt by calling a global of the pickle (classified "
          "on its own) with the importer");
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

void ArchiveScanner::CheckNameUse(std::string_view record, const NameUse& use,
                                  std::string_view spelled) {
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
        (use.called ? "calls " : "uses ") + shown +
            (spelled.empty() ? "" : " (as " + EscapeName(spelled) + ")"));
  }
}

// A second pass, only when the imports may bind a risky name to another
// one: uses spelled through such a binding (`o.system` after `import os as
// o`, `run` after `from subprocess import run`) are checked as what they
// stand for.
void ArchiveScanner::FollowAliases(std::string_view record,
                                   std::string_view source,
                                   const std::string& module, bool is_package,
                                   const std::vector<ImportRef>& imports) {
  const bool may_bind =
      std::any_of(imports.begin(), imports.end(), [](const ImportRef& ref) {
        return scan::MayBeRiskySourceName(ref.module, kSpecialSourceNames);
      });
  if (!may_bind) return;
  std::unordered_map<std::string, std::string> aliases;
  for (scan::ImportBinding& b : scan::FindImportBindings(source)) {
    if (b.name != b.target &&
        scan::MayBeRiskySourceName(b.target, kSpecialSourceNames)) {
      aliases.insert_or_assign(std::move(b.name), std::move(b.target));
    }
  }
  if (aliases.empty()) return;
  std::string resolved;
  // The source scanned once already: it cannot fail now.
  (void)ScanImports(
      source, module, is_package, options_.source, [&](const NameUse& use) {
        const size_t dot = use.name.find('.');
        auto it = aliases.find(std::string(use.name.substr(0, dot)));
        if (it == aliases.end()) return;
        resolved = it->second;
        if (dot != std::string_view::npos) resolved += use.name.substr(dot);
        NameUse as_resolved = use;
        as_resolved.name = resolved;
        CheckNameUse(record, as_resolved, use.name);
      });
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
  const size_t first = report_.findings.size();
  Result<std::vector<ImportRef>> imports =
      ScanImports(source, module, is_package, options_.source,
                  [&](const NameUse& use) { CheckNameUse(info.name, use); });
  if (!imports.ok()) {
    Add(Severity::kMedium, "source.unscannable", info.name, -1,
        "cannot be scanned: " + imports.status().message());
    return;
  }
  FollowAliases(info.name, source, module, is_package, *imports);
  std::stable_sort(report_.findings.begin() + static_cast<ptrdiff_t>(first),
                   report_.findings.end(),
                   [](const Finding& a, const Finding& b) {
                     return a.position < b.position;
                   });
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

// Before any pickle: globals of declared externs are classified apart.
void ArchiveScanner::ReadExterns() {
  const RecordInfo* info = reader_.Find(".data/extern_modules");
  if (info == nullptr || info->size > options_.max_record_size) return;
  Result<std::vector<uint8_t>> data = reader_.Read(info->name);
  if (!data.ok()) return;
  std::string_view text(reinterpret_cast<const char*>(data->data()),
                        data->size());
  externs_.emplace();
  while (!text.empty()) {
    size_t end = std::min(text.find('\n'), text.size());
    externs_->emplace_back(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
    if (!externs_->back().empty()) declared_externs_.insert(externs_->back());
  }
}

void ArchiveScanner::ScanExterns(const RecordInfo& info) {
  if (!externs_) {
    (void)ReadRecord(info);  // the finding that says why not
    return;
  }
  for (size_t i = 0; i < externs_->size(); ++i) {
    const std::string& module = (*externs_)[i];
    if (module.empty()) continue;
    Add(Severity::kInfo, "package.extern", info.name,
        static_cast<int64_t>(i + 1),
        "the host must provide module " + EscapeName(module));
  }
}

void ArchiveScanner::CheckManifest() {
  Result<VerifyReport> verified = VerifyManifest(reader_);
  if (!verified.ok()) {
    Add(Severity::kHigh, "manifest.mismatch", kManifestRecord, -1,
        "the archive is not what its manifest lists: " +
            verified.status().message());
  } else if (verified->signer) {
    Add(Severity::kInfo, "manifest.signed", kSignatureRecord, -1,
        "every record matches the manifest, signed by key " +
            KeyHex(*verified->signer) +
            " (trusted or not: the scan is given "
            "no keys)");
  } else {
    Add(Severity::kInfo, "manifest.verified", kManifestRecord, -1,
        "every record matches the manifest (not signed)");
  }
}

// Any record may be unpickled by code that asks for it (load_pickle takes
// any name), so each is looked at: a PROTO header, or failing that bytes
// the gate accepts that name code.
void ArchiveScanner::ScanResource(const RecordInfo& info) {
  if (info.size < 2 || info.size > options_.max_record_size) return;
  // Stored records, as most are, are looked at in place.
  Result<std::span<uint8_t>> view = reader_.View(info.name);
  std::optional<std::vector<uint8_t>> copy;
  std::span<const uint8_t> bytes;
  if (view.ok()) {
    bytes = *view;
  } else if ((copy = ReadRecord(info))) {
    bytes = *copy;
  } else {
    return;
  }
  ScanPickleRecord(
      info, bytes,
      HasProtocolHeader(bytes) ? Hidden::kWithHeader : Hidden::kWithoutHeader);
}

ScanReport ArchiveScanner::Run() {
  const std::vector<RecordInfo>& records = reader_.records();
  report_.records = records.size();
  for (const RecordInfo& info : records) {
    if (info.name.ends_with(".py")) {
      modules_.try_emplace(ModuleOfSource(info.name).first, info.name);
    }
  }
  ReadExterns();
  for (const RecordInfo& info : records) {
    const std::string& name = info.name;
    if (name == ".data/extern_modules") {
      ScanExterns(info);
    } else if (name == kManifestRecord) {
      CheckManifest();
    } else if (name == kSignatureRecord) {
      if (reader_.Find(kManifestRecord) == nullptr) CheckManifest();
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
    } else if (IsFrameworkRecord(name)) {
      continue;
    } else if (IsStorage(name) || IsOutOfBandBuffer(name)) {
      ScanResource(info);
    } else if (name.starts_with(".data/")) {
      Add(Severity::kLow, "record.unknown", name, -1,
          "a .data/ record the format does not define");
      ScanResource(info);
    } else if (name.ends_with(".py")) {
      if (std::optional<std::vector<uint8_t>> data = ReadRecord(info)) {
        ScanSourceRecord(
            info, std::string_view(reinterpret_cast<const char*>(data->data()),
                                   data->size()));
      }
    } else if (name.ends_with(".pkl")) {
      if (std::optional<std::vector<uint8_t>> data = ReadRecord(info)) {
        ScanPickleRecord(info, *data, Hidden::kNo);
      }
    } else {
      ScanResource(info);
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
  if (std::optional<Reach> reach = DangerousAlongPath(module, name)) {
    return {GlobalClass::kDangerous, reach->severity};
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
