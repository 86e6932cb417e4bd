#include "hermetic/export_engine.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace hermetic {
namespace {

constexpr std::string_view kMockStub =
    "from _mock import MockedObject\n"
    "def __getattr__(attr: str):\n"
    "    return MockedObject(__name__ + '.' + attr, _suppress_err=True)\n";

constexpr std::string_view kDebugHint =
    "Set debug=True when invoking PackageExporter for a visualization of where "
    "broken modules are coming from!\n";

struct ReasonInfo {
  PackagingErrorReason reason;
  std::string_view name;
  std::string_view text;
};

constexpr std::array<ReasonInfo, 7> kReasons = {{
    {PackagingErrorReason::kIsExtensionModule, "IS_EXTENSION_MODULE",
     "Module is a C extension module. torch.package supports Python modules "
     "only."},
    {PackagingErrorReason::kNoDunderFile, "NO_DUNDER_FILE",
     "Module had no __file__ defined."},
    {PackagingErrorReason::kSourceFileNotFound, "SOURCE_FILE_NOT_FOUND",
     "Module had a __file__, but we could not find it in your filesystem."},
    {PackagingErrorReason::kDependencyResolutionFailed,
     "DEPENDENCY_RESOLUTION_FAILED", "Dependency resolution failed."},
    {PackagingErrorReason::kNoAction, "NO_ACTION",
     "Module did not match against any action pattern. Extern, mock, or "
     "intern it."},
    {PackagingErrorReason::kDenied, "DENIED",
     "Module was denied by a pattern."},
    {PackagingErrorReason::kMockedButStillUsed, "MOCKED_BUT_STILL_USED",
     "Module was mocked out, but is still being used in the package. Please "
     "intern or extern the mocked modules if objects are supposed to be in "
     "the package."},
}};

const ReasonInfo& Info(PackagingErrorReason reason) {
  return kReasons[static_cast<size_t>(reason)];
}

std::string DottedToPath(std::string_view dotted) {
  std::string path(dotted);
  std::replace(path.begin(), path.end(), '.', '/');
  return path;
}

// Python's repr() of a str, which torch's messages embed.
std::string PyRepr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

std::string PyListRepr(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += PyRepr(items[i]);
  }
  out += "]";
  return out;
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Status Finished() {
  return Status::FailedPrecondition(
      "ExportEngine: the archive is already finished");
}

class ExportEngineImpl final : public ExportEngine {
 public:
  ExportEngineImpl(std::unique_ptr<ArchiveWriter> writer,
                   SourceProvider* provider, std::string mock_source,
                   const std::vector<std::string>& stdlib_modules,
                   ExportOptions options)
      : writer_(std::move(writer)),
        provider_(provider),
        mock_source_(std::move(mock_source)),
        stdlib_(stdlib_modules.begin(), stdlib_modules.end()),
        options_(options) {}

  Status AddPattern(GlobGroup group, Action action, bool allow_empty) override;
  Status SaveSourceString(std::string_view module_name, std::string source,
                          bool is_package, bool dependencies) override;
  Status SaveModule(std::string_view module_name, bool dependencies) override;
  Status AddDependency(std::string_view module_name,
                       bool dependencies) override;
  Status AddPickle(std::string_view package, std::string_view resource,
                   std::span<const uint8_t> data, bool dependencies) override;
  using ExportEngine::WriteRecord;
  Status WriteRecord(std::string_view name, std::span<const uint8_t> data,
                     Compression compression) override;

  bool HasRecord(std::string_view name) const override {
    return writer_->HasRecord(name);
  }
  std::vector<std::string> RecordNames() const override {
    return writer_->RecordNames();
  }
  bool finished() const override { return writer_->finished(); }
  void Abort() override { writer_->Abort(); }

  std::vector<std::string> ModulesWithAction(Action action) const override;
  std::vector<std::string> RDeps(std::string_view module_name) const override;
  const DiGraph& graph() const override { return graph_; }
  const NodeAttributes& node(DiGraph::NodeId id) const override {
    return attrs_[id];
  }
  const NodeAttributes* FindNode(std::string_view name) const override;
  std::vector<DiGraph::NodeId> Roots() const override { return roots_; }
  std::optional<std::string> Validate(bool debug) const override;
  std::vector<size_t> UnmatchedPatterns() const override;
  Status Finish(const ActionCallback& on_action,
                std::string_view python_version) override;

 private:
  struct Pattern {
    GlobGroup group;
    Action action;
    bool allow_empty;
    bool matched = false;
  };
  // A module whose dependencies are being added, torch's recursion frame.
  struct InternFrame {
    std::string module;
    std::vector<std::string> dependencies;
    size_t next = 0;
  };

  // Heterogeneous lookup: names arrive as string_view.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s);
    }
  };
  using NameSet = std::unordered_set<std::string, NameHash, std::equal_to<>>;

  DiGraph::NodeId Node(std::string_view name);
  void AddEdge(std::string_view from, std::string_view to);
  void SetAction(DiGraph::NodeId id, Action action);
  // MOCK, remembering whether the stub is a package's.
  Status SetMock(DiGraph::NodeId id);
  void SetError(DiGraph::NodeId id, PackagingErrorReason reason,
                std::optional<std::string> context);
  bool CanImplicitlyExtern(std::string_view module_name) const;
  Pattern* FirstMatch(std::string_view module_name);
  // Whether a dependency on `name` could make it interned (or unmatched),
  // which is when existence must mean "imports" as in torch.
  bool MayIntern(std::string_view name);
  Result<bool> ModuleExists(const std::string& name);

  // AddDependency without making the module a root (a pickle's global).
  Status Depend(std::string_view module_name, bool dependencies);
  // Runs torch's recursion from `root` until all of its dependencies (and
  // theirs) are added.
  Status InternDependencies(std::optional<InternFrame> root);
  // add_dependency without recursing: an INTERN match yields the frame of
  // the module to descend into.
  Result<std::optional<InternFrame>> ResolveAction(std::string_view name,
                                                   bool dependencies);
  Result<std::optional<InternFrame>> InternModule(std::string_view name,
                                                  bool dependencies);
  // The module names `source` depends on, or nullopt after recording a
  // DEPENDENCY_RESOLUTION_FAILED error on `id`.
  Result<std::optional<std::vector<std::string>>> SourceDependencies(
      DiGraph::NodeId id, const std::string& module_name, bool is_package);
  // Forgets the node's dependency list unless the source is as before.
  void SetSource(DiGraph::NodeId id, std::string source);
  // Remembers the node a caller's request for `name` made (the demangled
  // name for a module found under a mangled one) as a root.
  void AddRoot(std::string_view name);
  Result<DependencyRecord> MakeDependencyRecord() const;
  Status WriteMockFile();
  Status WriteSource(std::string_view module_name, std::string_view source,
                     bool is_package);

  std::unique_ptr<ArchiveWriter> writer_;
  SourceProvider* provider_;
  std::string mock_source_;
  NameSet stdlib_;
  ExportOptions options_;
  DiGraph graph_;
  std::vector<NodeAttributes> attrs_;  // indexed by DiGraph::NodeId
  // IsPackage's answer for mocked nodes: torch's graph has no is_package
  // attribute on them, so it is kept beside attrs_.
  std::unordered_map<DiGraph::NodeId, bool> mock_is_package_;
  std::vector<Pattern> patterns_;
  std::unordered_map<std::string, bool, NameHash, std::equal_to<>>
      exists_cache_;
  NameSet written_;
  // SourceDependencies' answer for a node's current source.
  struct ScannedDependencies {
    bool is_package;
    std::vector<std::string> modules;
  };
  std::unordered_map<DiGraph::NodeId, ScannedDependencies> dependencies_;
  uint64_t source_changes_ = 0;
  std::vector<DiGraph::NodeId> roots_;
  std::unordered_set<DiGraph::NodeId> is_root_;
};

}  // namespace

bool IsMangled(std::string_view name) {
  constexpr std::string_view kPrefix = "<torch_package_";
  if (!name.starts_with(kPrefix)) return false;
  size_t i = kPrefix.size();
  size_t digits_start = i;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
  return i > digits_start && i < name.size() && name[i] == '>';
}

std::string_view Demangle(std::string_view name) {
  if (!IsMangled(name)) return name;
  size_t dot = name.find('.');
  return dot == std::string_view::npos ? std::string_view()
                                       : name.substr(dot + 1);
}

std::string_view PackagingErrorReasonName(PackagingErrorReason reason) {
  return Info(reason).name;
}

std::string_view PackagingErrorReasonText(PackagingErrorReason reason) {
  return Info(reason).text;
}

Result<std::unique_ptr<ExportEngine>> ExportEngine::Create(
    std::unique_ptr<ArchiveWriter> writer, SourceProvider* provider,
    std::string mock_source, const std::vector<std::string>& stdlib_modules,
    ExportOptions options) {
  if (writer == nullptr || provider == nullptr) {
    return Status::InvalidArgument(
        "ExportEngine needs an ArchiveWriter and a SourceProvider");
  }
  return std::unique_ptr<ExportEngine>(
      new ExportEngineImpl(std::move(writer), provider, std::move(mock_source),
                           stdlib_modules, options));
}

DiGraph::NodeId ExportEngineImpl::Node(std::string_view name) {
  DiGraph::NodeId id = graph_.AddNode(name);
  attrs_.resize(graph_.size());
  return id;
}

void ExportEngineImpl::AddEdge(std::string_view from, std::string_view to) {
  graph_.AddEdge(from, to);
  attrs_.resize(graph_.size());
}

void ExportEngineImpl::SetAction(DiGraph::NodeId id, Action action) {
  NodeAttributes& node = attrs_[id];
  node.action = action;
  node.provided = true;
  // A node that gets an action is no longer unmatched; torch keeps the stale
  // error and then trips over it with a bare AssertionError at close().
  if (node.error == PackagingErrorReason::kNoAction) {
    node.error.reset();
    node.error_context.reset();
  }
}

Status ExportEngineImpl::SetMock(DiGraph::NodeId id) {
  SetAction(id, Action::kMock);
  if (mock_is_package_.contains(id)) return Status::Ok();
  // Copied: the provider may re-enter the engine and add nodes.
  std::string name = graph_.name(id);
  HERMETIC_ASSIGN_OR_RETURN(bool is_package, provider_->IsPackage(name));
  mock_is_package_.insert_or_assign(id, is_package);
  return Status::Ok();
}

void ExportEngineImpl::SetError(DiGraph::NodeId id, PackagingErrorReason reason,
                                std::optional<std::string> context) {
  attrs_[id].error = reason;
  attrs_[id].error_context = std::move(context);
}

bool ExportEngineImpl::CanImplicitlyExtern(std::string_view module_name) const {
  std::string_view top = module_name.substr(0, module_name.find('.'));
  if (top == "torch") return true;
  // sys and io give too much system access to be externed silently.
  if (top == "sys" || top == "io") return false;
  return stdlib_.find(top) != stdlib_.end();
}

ExportEngineImpl::Pattern* ExportEngineImpl::FirstMatch(
    std::string_view module_name) {
  for (Pattern& pattern : patterns_) {
    if (pattern.group.Matches(module_name)) return &pattern;
  }
  return nullptr;
}

bool ExportEngineImpl::MayIntern(std::string_view name) {
  if (name == "torch_package_importer" || name == "_mock" ||
      CanImplicitlyExtern(name)) {
    return false;
  }
  const Pattern* pattern = FirstMatch(name);
  return pattern == nullptr || pattern->action == Action::kIntern;
}

Result<bool> ExportEngineImpl::ModuleExists(const std::string& name) {
  if (auto it = exists_cache_.find(name); it != exists_cache_.end()) {
    return it->second;
  }
  HERMETIC_ASSIGN_OR_RETURN(bool exists,
                            provider_->ModuleExists(name, MayIntern(name)));
  exists_cache_.emplace(name, exists);
  return exists;
}

Status ExportEngineImpl::AddPattern(GlobGroup group, Action action,
                                    bool allow_empty) {
  switch (action) {
    case Action::kIntern:
    case Action::kExtern:
    case Action::kMock:
      break;
    case Action::kDeny:
      allow_empty = true;
      break;
    default:
      return Status::InvalidArgument(
          "a pattern's action must be INTERN, EXTERN, MOCK or DENY, got " +
          std::to_string(static_cast<int>(action)));
  }
  patterns_.push_back(Pattern{std::move(group), action, allow_empty});
  return Status::Ok();
}

Result<std::optional<std::vector<std::string>>>
ExportEngineImpl::SourceDependencies(DiGraph::NodeId id,
                                     const std::string& module_name,
                                     bool is_package) {
  // save_module re-interns modules that an earlier call interned as
  // dependencies (as torch does). Existence answers are cached, so a source
  // scanned before resolves to the same list: no need to scan it again.
  if (auto known = dependencies_.find(id);
      known != dependencies_.end() && known->second.is_package == is_package) {
    return std::optional<std::vector<std::string>>(known->second.modules);
  }
  // A provider that re-enters the engine may replace sources meanwhile.
  const uint64_t source_changes = source_changes_;
  // Scanned before any provider call: the provider may re-enter the engine
  // and move attrs_.
  Result<std::vector<ImportRef>> refs = ScanImports(
      *attrs_[id].source, module_name, is_package, options_.import_scan);
  if (!refs.ok()) {
    SetError(id, PackagingErrorReason::kDependencyResolutionFailed,
             refs.status().message());
    return std::optional<std::vector<std::string>>();
  }
  std::vector<std::string> deps;
  std::unordered_set<std::string_view> seen;
  auto add = [&](std::string name) {
    if (seen.contains(name)) return;
    deps.push_back(std::move(name));
    seen.insert(deps.back());
  };
  deps.reserve(refs->size());  // keeps `seen`'s views valid
  for (const ImportRef& ref : *refs) {
    // `from m import x` needs only m.x when x is a submodule.
    if (ref.name) {
      std::string submodule = ref.module + "." + *ref.name;
      HERMETIC_ASSIGN_OR_RETURN(bool exists, ModuleExists(submodule));
      if (exists) {
        add(std::move(submodule));
        continue;
      }
    }
    HERMETIC_ASSIGN_OR_RETURN(bool exists, ModuleExists(ref.module));
    if (exists) add(ref.module);
  }
  if (source_changes == source_changes_) {
    dependencies_.insert_or_assign(id, ScannedDependencies{is_package, deps});
  }
  return std::optional<std::vector<std::string>>(std::move(deps));
}

void ExportEngineImpl::SetSource(DiGraph::NodeId id, std::string source) {
  if (attrs_[id].source != source) {
    dependencies_.erase(id);
    ++source_changes_;
  }
  attrs_[id].source = std::move(source);
}

Result<std::optional<ExportEngineImpl::InternFrame>>
ExportEngineImpl::InternModule(std::string_view name, bool dependencies) {
  HERMETIC_ASSIGN_OR_RETURN(ModuleSource module, provider_->GetSource(name));
  if (!module.source && !module.reason) {
    return Status::InvalidArgument(
        "SourceProvider gave neither source nor "
        "a reason for module '" +
        std::string(name) + "'");
  }
  // The provider found the module, so a mangled name can be recorded under
  // its original name.
  std::string module_name(Demangle(name));
  DiGraph::NodeId id = Node(module_name);
  SetAction(id, Action::kIntern);
  attrs_[id].is_package = module.is_package;
  if (!module.source) {
    std::optional<std::string> context;
    if (!module.context.empty()) context = std::move(module.context);
    SetError(id, *module.reason, std::move(context));
    return std::optional<InternFrame>();
  }
  SetSource(id, std::move(*module.source));
  if (!dependencies) return std::optional<InternFrame>();
  HERMETIC_ASSIGN_OR_RETURN(
      std::optional<std::vector<std::string>> deps,
      SourceDependencies(id, module_name, module.is_package));
  if (!deps) return std::optional<InternFrame>();
  return std::optional<InternFrame>(
      InternFrame{std::move(module_name), std::move(*deps)});
}

Result<std::optional<ExportEngineImpl::InternFrame>>
ExportEngineImpl::ResolveAction(std::string_view name, bool dependencies) {
  std::optional<DiGraph::NodeId> existing = graph_.Find(name);
  if (existing && attrs_[*existing].provided) {
    return std::optional<InternFrame>();
  }
  if (name == "torch_package_importer") {
    SetAction(Node(name), Action::kSkip);
  } else if (name == "_mock") {
    SetAction(Node(name), Action::kRepackagedMockModule);
  } else if (CanImplicitlyExtern(name)) {
    SetAction(Node(name), Action::kExtern);
  } else if (Pattern* pattern = FirstMatch(name)) {
    pattern->matched = true;
    Action action = pattern->action;
    DiGraph::NodeId id = Node(name);
    if (action == Action::kMock) {
      HERMETIC_RETURN_IF_ERROR(SetMock(id));
      return std::optional<InternFrame>();
    }
    SetAction(id, action);
    if (action == Action::kDeny) {
      SetError(id, PackagingErrorReason::kDenied, std::nullopt);
    } else if (action == Action::kIntern) {
      return InternModule(name, dependencies);
    }
  } else {
    SetError(Node(name), PackagingErrorReason::kNoAction, std::nullopt);
  }
  return std::optional<InternFrame>();
}

Status ExportEngineImpl::InternDependencies(std::optional<InternFrame> root) {
  // torch recurses add_dependency -> _intern_module -> add_dependency; an
  // explicit stack visits the same nodes in the same order without using
  // native stack per level.
  std::vector<InternFrame> stack;
  if (root) stack.push_back(std::move(*root));
  while (!stack.empty()) {
    InternFrame& top = stack.back();
    if (top.next == top.dependencies.size()) {
      stack.pop_back();
      continue;
    }
    std::string dep = std::move(top.dependencies[top.next++]);
    AddEdge(top.module, dep);
    HERMETIC_ASSIGN_OR_RETURN(std::optional<InternFrame> child,
                              ResolveAction(dep, /*dependencies=*/true));
    if (child) stack.push_back(std::move(*child));
  }
  return Status::Ok();
}

Status ExportEngineImpl::SaveSourceString(std::string_view module_name,
                                          std::string source, bool is_package,
                                          bool dependencies) {
  DiGraph::NodeId id = Node(module_name);
  SetAction(id, Action::kIntern);
  SetSource(id, std::move(source));
  attrs_[id].is_package = is_package;
  AddRoot(module_name);
  if (!dependencies) return Status::Ok();
  std::string name(module_name);
  HERMETIC_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> deps,
                            SourceDependencies(id, name, is_package));
  if (!deps) return Status::Ok();
  return InternDependencies(InternFrame{std::move(name), std::move(*deps)});
}

Status ExportEngineImpl::SaveModule(std::string_view module_name,
                                    bool dependencies) {
  HERMETIC_ASSIGN_OR_RETURN(std::optional<InternFrame> frame,
                            InternModule(module_name, dependencies));
  AddRoot(module_name);
  return InternDependencies(std::move(frame));
}

Status ExportEngineImpl::AddDependency(std::string_view module_name,
                                       bool dependencies) {
  HERMETIC_RETURN_IF_ERROR(Depend(module_name, dependencies));
  AddRoot(module_name);
  return Status::Ok();
}

Status ExportEngineImpl::Depend(std::string_view module_name,
                                bool dependencies) {
  HERMETIC_ASSIGN_OR_RETURN(std::optional<InternFrame> frame,
                            ResolveAction(module_name, dependencies));
  return InternDependencies(std::move(frame));
}

Status ExportEngineImpl::AddPickle(std::string_view package,
                                   std::string_view resource,
                                   std::span<const uint8_t> data,
                                   bool dependencies) {
  if (resource.find('/') != std::string_view::npos) {
    return Status::InvalidArgument(PyRepr(resource) +
                                   " must be only a file name");
  }
  std::string pickle_node = "<";
  pickle_node.append(package).append(".").append(resource).append(">");
  DiGraph::NodeId id = Node(pickle_node);
  SetAction(id, Action::kIntern);
  attrs_[id].is_pickle = true;
  AddRoot(pickle_node);
  if (dependencies) {
    HERMETIC_ASSIGN_OR_RETURN(PickleScan scan,
                              ScanPickle(data, options_.pickle_scan));
    std::vector<std::string> modules;
    // Objects the pickle takes from modules a pattern mocks: loading would
    // fail, so they are reported instead of being added.
    std::unordered_map<std::string, std::vector<std::string>> mocked_fields;
    std::unordered_set<std::string_view> seen;
    for (const PickleGlobal& global : scan.globals) {
      if (seen.insert(global.module).second) modules.push_back(global.module);
      if (CanImplicitlyExtern(global.module)) continue;
      Pattern* pattern = FirstMatch(global.module);
      if (pattern && pattern->action == Action::kMock) {
        mocked_fields[global.module].push_back(global.name);
      }
    }
    for (const std::string& module : modules) {
      AddEdge(pickle_node, module);
      auto mocked = mocked_fields.find(module);
      if (mocked == mocked_fields.end()) {
        HERMETIC_RETURN_IF_ERROR(Depend(module, true));
        continue;
      }
      // Not SetMock: the error stops Finish before a stub is written, so
      // whether the module is a package is never needed.
      DiGraph::NodeId module_id = Node(module);
      SetAction(module_id, Action::kMock);
      SetError(module_id, PackagingErrorReason::kMockedButStillUsed,
               "Object(s) '" + PyListRepr(mocked->second) + "' from module `" +
                   module +
                   "` was mocked out during packaging but is being used in "
                   "resource - `" +
                   std::string(resource) + "` in package `" +
                   std::string(package) + "`. ");
    }
  }
  return WriteRecord(DottedToPath(package) + "/" + std::string(resource), data,
                     Compression::kDeflate);
}

Status ExportEngineImpl::WriteRecord(std::string_view name,
                                     std::span<const uint8_t> data,
                                     Compression compression) {
  auto [it, inserted] = written_.emplace(name);
  if (!inserted) {
    return Status::AlreadyExists(
        "Tried to write file '" + std::string(name) +
        "', but it already exists in this archive. Please file a bug.");
  }
  // The name belongs to a loaded package's namespace; AlreadyExists keeps
  // torch's exception type (AssertionError) for it too.
  if (IsMangled(name)) {
    return Status::AlreadyExists(
        "Tried to save a torch.package'd module as '" + std::string(name) +
        "'. Directly saving torch.package'd modules is not allowed.");
  }
  return writer_->WriteRecord(name, data, compression);
}

std::vector<std::string> ExportEngineImpl::ModulesWithAction(
    Action action) const {
  std::vector<std::string> names;
  for (DiGraph::NodeId id = 0; id < attrs_.size(); ++id) {
    if (attrs_[id].action == action && !attrs_[id].is_pickle) {
      names.push_back(graph_.name(id));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> ExportEngineImpl::RDeps(
    std::string_view module_name) const {
  std::vector<std::string> names;
  std::optional<DiGraph::NodeId> id = graph_.Find(module_name);
  if (!id) return names;
  for (DiGraph::NodeId pred : graph_.Predecessors(*id)) {
    names.push_back(graph_.name(pred));
  }
  return names;
}

void ExportEngineImpl::AddRoot(std::string_view name) {
  std::optional<DiGraph::NodeId> id = graph_.Find(Demangle(name));
  if (!id) id = graph_.Find(name);
  if (id && is_root_.insert(*id).second) roots_.push_back(*id);
}

Result<DependencyRecord> ExportEngineImpl::MakeDependencyRecord() const {
  DependencyRecord record{graph_, {}, roots_};
  record.kinds.reserve(graph_.size());
  for (DiGraph::NodeId id = 0; id < graph_.size(); ++id) {
    const NodeAttributes& node = attrs_[id];
    DependencyKind kind = DependencyKind::kIntern;
    switch (node.action.value_or(Action::kDeny)) {
      case Action::kIntern:
        kind =
            node.is_pickle ? DependencyKind::kPickle : DependencyKind::kIntern;
        break;
      case Action::kExtern:
        kind = DependencyKind::kExtern;
        break;
      case Action::kMock:
        kind = DependencyKind::kMock;
        break;
      case Action::kRepackagedMockModule:
        kind = DependencyKind::kMockModule;
        break;
      case Action::kSkip:
        kind = DependencyKind::kSkip;
        break;
      case Action::kDeny:
        // Validation passed, so every node has one of the actions above.
        return Status::Internal("module " + graph_.name(id) +
                                " has no action to record");
    }
    record.kinds.push_back(kind);
  }
  return record;
}

const NodeAttributes* ExportEngineImpl::FindNode(std::string_view name) const {
  std::optional<DiGraph::NodeId> id = graph_.Find(name);
  return id ? &attrs_[*id] : nullptr;
}

std::optional<std::string> ExportEngineImpl::Validate(bool debug) const {
  // Reasons in order of first occurrence, each with its modules in order.
  std::vector<std::pair<PackagingErrorReason, std::vector<DiGraph::NodeId>>>
      broken;
  for (DiGraph::NodeId id = 0; id < attrs_.size(); ++id) {
    const std::optional<PackagingErrorReason>& error = attrs_[id].error;
    if (!error) continue;
    auto group = std::find_if(broken.begin(), broken.end(),
                              [&](const auto& g) { return g.first == *error; });
    if (group == broken.end()) {
      broken.emplace_back(*error, std::vector<DiGraph::NodeId>{id});
    } else {
      group->second.push_back(id);
    }
  }
  if (broken.empty()) return std::nullopt;

  std::string message = "\n";
  for (const auto& [reason, ids] : broken) {
    message.append("* ").append(PackagingErrorReasonText(reason)).append("\n");
    for (DiGraph::NodeId id : ids) {
      const std::string& name = graph_.name(id);
      message.append("    ").append(name).append("\n");
      if (attrs_[id].error_context) {
        message.append("      Context: ")
            .append(*attrs_[id].error_context)
            .append("\n");
      }
      if (name == "sys" || name == "io") {
        message.append(
            "      Note: While we usually use modules in the python standard "
            "library from the local environment, `" +
            name +
            "` has a lot of system level access and therefore can pose a "
            "security risk. We heavily recommend removing `" +
            name +
            "` from your packaged code. However, if that is not possible, add "
            "it to the extern list by calling PackageExporter.extern(\"`" +
            name + "`\")\n");
      }
      if (debug) {
        message.append("      A path to ").append(name).append(": ");
        std::vector<DiGraph::NodeId> path = graph_.FirstPath(id);
        for (size_t i = 0; i < path.size(); ++i) {
          if (i > 0) message.append(" -> ");
          message.append(graph_.name(path[i]));
        }
        message.append("\n");
      }
    }
  }
  if (!debug) message.append("\n").append(kDebugHint);
  return message;
}

std::vector<size_t> ExportEngineImpl::UnmatchedPatterns() const {
  std::vector<size_t> unmatched;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    if (!patterns_[i].allow_empty && !patterns_[i].matched) {
      unmatched.push_back(i);
    }
  }
  return unmatched;
}

Status ExportEngineImpl::WriteMockFile() {
  if (written_.contains("_mock.py")) return Status::Ok();
  return WriteRecord("_mock.py", Bytes(mock_source_), Compression::kDeflate);
}

Status ExportEngineImpl::WriteSource(std::string_view module_name,
                                     std::string_view source, bool is_package) {
  std::string name = DottedToPath(module_name);
  name += is_package ? "/__init__.py" : ".py";
  return WriteRecord(name, Bytes(source), Compression::kDeflate);
}

Status ExportEngineImpl::Finish(const ActionCallback& on_action,
                                std::string_view python_version) {
  if (writer_->finished()) return Finished();
  if (std::optional<std::string> report = Validate(/*debug=*/false)) {
    return Status::Packaging(std::move(*report));
  }
  std::string extern_modules;
  // Indices, not references: callbacks may add nodes (as torch's hooks can
  // call back into the exporter).
  for (DiGraph::NodeId id = 0; id < graph_.size(); ++id) {
    std::string name = graph_.name(id);
    std::optional<Action> action = attrs_[id].action;
    if (!action) {
      return Status::Internal("module " + name + " has no action");
    }
    switch (*action) {
      case Action::kExtern:
        HERMETIC_RETURN_IF_ERROR(on_action(name, *action));
        extern_modules.append(name).append("\n");
        break;
      case Action::kMock: {
        HERMETIC_RETURN_IF_ERROR(on_action(name, *action));
        HERMETIC_RETURN_IF_ERROR(WriteMockFile());
        auto is_package = mock_is_package_.find(id);
        if (is_package == mock_is_package_.end()) {
          return Status::Internal("mocked module " + name +
                                  " has no is_package");
        }
        HERMETIC_RETURN_IF_ERROR(
            WriteSource(name, kMockStub, is_package->second));
        break;
      }
      case Action::kIntern: {
        HERMETIC_RETURN_IF_ERROR(on_action(name, *action));
        const NodeAttributes& node = attrs_[id];
        if (node.is_pickle) break;
        if (!node.source || !node.is_package) {
          return Status::Internal("interned module " + name + " has no source");
        }
        HERMETIC_RETURN_IF_ERROR(
            WriteSource(name, *node.source, *node.is_package));
        break;
      }
      case Action::kRepackagedMockModule:
        HERMETIC_RETURN_IF_ERROR(WriteMockFile());
        break;
      case Action::kSkip:
        break;
      case Action::kDeny:
        return Status::Internal("denied module " + name +
                                " reached Finish without an error");
    }
  }
  // torch writes one newline for an empty list too.
  if (extern_modules.empty()) extern_modules = "\n";
  HERMETIC_RETURN_IF_ERROR(WriteRecord(
      ".data/extern_modules", Bytes(extern_modules), Compression::kDeflate));
  HERMETIC_RETURN_IF_ERROR(WriteRecord(
      ".data/python_version", Bytes(python_version), Compression::kDeflate));
  if (options_.dependency_record) {
    HERMETIC_ASSIGN_OR_RETURN(DependencyRecord record, MakeDependencyRecord());
    HERMETIC_RETURN_IF_ERROR(
        WriteRecord(kDependencyRecord, Bytes(SerializeDependencyRecord(record)),
                    Compression::kDeflate));
  }
  return writer_->Finish();
}

}  // namespace hermetic
