// ExportEngine: torch.package's PackageExporter without the parts that need
// live Python objects (pickling objects, importing modules).
//
// Contract (spec sections 3.2-3.3, 4.1-4.8, 9):
//  - Modules are found and read only through a SourceProvider; the engine
//    asks ModuleExists at most once per name (answers are cached) because a
//    question may import the module in Python. It asks for an import-exact
//    answer (must_import) only for a name that would be interned or match no
//    pattern, where torch's answer (does importing it succeed) decides
//    whether the export fails; for the rest the provider may answer without
//    running the module's code.
//  - Actions are decided exactly in torch's order: a node already provided is
//    left alone; `torch_package_importer` is SKIP; `_mock` is
//    REPACKAGED_MOCK_MODULE; a top-level name `torch` or one of the stdlib
//    names (never `sys` or `io`) is an implicit EXTERN, before any user
//    pattern; then the first matching pattern in AddPattern order (DENY also
//    records a DENIED error, INTERN reads the module's source and resolves its
//    imports); otherwise a NO_ACTION error.
//  - An import `from m import x` depends on `m.x` if that module exists, else
//    on `m` if it exists, else on nothing (torch's submodule decision).
//    Modules reached while interning are always scanned for dependencies;
//    only the module named in the call honours `dependencies == false`.
//  - Interning is iterative: dependency chains of any depth use no native
//    stack. Nodes are added in the order torch's recursion adds them, so
//    records and `.data/extern_modules` come out in torch's order.
//  - Errors that torch reports at close() (a module without source, a
//    denied, unmatched or mocked-but-pickled module, an unparsable source)
//    are recorded on the node; Validate() renders them as torch's
//    PackagingError text. A non-ok Status returned by a call is an error of
//    the call itself (a SourceProvider or callback failure, a bad argument):
//    it is returned as is and the engine's graph may be partly updated.
//  - Giving source to a module that previously had no matching action clears
//    its NO_ACTION error (torch instead fails later with a bare
//    AssertionError); any action assigned to a node clears that error.
//  - Every record goes through WriteRecord's checks: a name written twice or
//    a name starting with a `<torch_package_N>` mangle prefix is
//    FailedPrecondition with torch's message.
//  - Not thread-safe; the SourceProvider and the Finish callback may call
//    back into the engine (the engine keeps no references across them).
#ifndef HERMETIC_EXPORT_ENGINE_H_
#define HERMETIC_EXPORT_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/glob.h"
#include "hermetic/graph.h"
#include "hermetic/imports.h"
#include "hermetic/pickle_scan.h"
#include "hermetic/status.h"

namespace hermetic {

// Numbered as torch.package's _ModuleProviderAction.
enum class Action : int {
  kIntern = 1,
  kExtern = 2,
  kMock = 3,
  kDeny = 4,
  kRepackagedMockModule = 5,
  kSkip = 6,
};

// torch.package's PackagingErrorReason members, in its declaration order.
enum class PackagingErrorReason {
  kIsExtensionModule,
  kNoDunderFile,
  kSourceFileNotFound,
  kDependencyResolutionFailed,
  kNoAction,
  kDenied,
  kMockedButStillUsed,
};

// The member name, e.g. "NO_ACTION".
std::string_view PackagingErrorReasonName(PackagingErrorReason reason);
// The member's value, the sentence shown in reports.
std::string_view PackagingErrorReasonText(PackagingErrorReason reason);
std::optional<PackagingErrorReason> ParsePackagingErrorReason(
    std::string_view name);

struct ModuleSource {
  bool is_package = false;
  std::optional<std::string> source;
  // Why there is no source: kIsExtensionModule, kNoDunderFile or
  // kSourceFileNotFound. Unset when source is set.
  std::optional<PackagingErrorReason> reason;
  // Shown as the error's context when non-empty, e.g. "filename: <path>".
  std::string context;
};

// What the engine knows of the exporting interpreter's modules.
class SourceProvider {
 public:
  virtual ~SourceProvider() = default;
  // Whether the module exists. With `must_import`, whether importing it
  // succeeds; without, the provider may instead answer whether its finders
  // locate it, without importing it. An error aborts the engine call.
  virtual Result<bool> ModuleExists(std::string_view name,
                                    bool must_import) = 0;
  // An error (e.g. a mangled name no importer knows) aborts the engine call.
  virtual Result<ModuleSource> GetSource(std::string_view name) = 0;
};

// One node's attributes, named as torch's dependency graph attributes.
struct NodeAttributes {
  std::optional<Action> action;
  bool provided = false;
  std::optional<bool> is_package;
  std::optional<std::string> source;
  bool is_pickle = false;
  std::optional<PackagingErrorReason> error;
  std::optional<std::string> error_context;
};

struct ExportOptions {
  ImportScanOptions import_scan;
  PickleScanOptions pickle_scan;
};

class ExportEngine {
 public:
  // Called by Finish for every extern, mock and intern node (pickle nodes
  // included, as torch calls intern hooks for them); an error aborts Finish.
  using ActionCallback =
      std::function<Status(std::string_view name, Action action)>;

  // `writer` and `provider` are not owned and must outlive the engine.
  // `stdlib_modules` are the top-level names externed implicitly.
  ExportEngine(ArchiveWriter* writer, SourceProvider* provider,
               std::string mock_source,
               const std::vector<std::string>& stdlib_modules,
               ExportOptions options = {});
  ExportEngine(const ExportEngine&) = delete;
  ExportEngine& operator=(const ExportEngine&) = delete;

  // Patterns are tried in the order added. DENY patterns are always
  // allow_empty. InvalidArgument for REPACKAGED_MOCK_MODULE and SKIP.
  Status AddPattern(GlobGroup group, Action action, bool allow_empty);

  Status SaveSourceString(std::string_view module_name, std::string source,
                          bool is_package, bool dependencies);
  Status SaveModule(std::string_view module_name, bool dependencies);
  Status AddDependency(std::string_view module_name, bool dependencies);
  // Adds node "<package.resource>" depending on the modules of the pickle's
  // globals and writes the record "<package as path>/<resource>".
  // InvalidArgument if resource is not a bare file name.
  Status AddPickle(std::string_view package, std::string_view resource,
                   std::span<const uint8_t> data, bool dependencies);
  Status WriteRecord(std::string_view name, std::span<const uint8_t> data);

  // Sorted names of the nodes with `action`, pickle nodes excluded.
  std::vector<std::string> ModulesWithAction(Action action) const;
  // Direct predecessors in insertion order; empty for an unknown name.
  std::vector<std::string> RDeps(std::string_view module_name) const;
  const DiGraph& graph() const { return graph_; }
  // nullptr for an unknown node.
  const NodeAttributes* FindNode(std::string_view name) const;

  // torch's PackagingError message, or nullopt if no node has an error.
  // `debug` adds each broken module's first path from a root.
  std::optional<std::string> Validate(bool debug) const;
  // Indices (AddPattern order) of allow_empty=false patterns never matched.
  std::vector<size_t> UnmatchedPatterns() const;

  // close() steps 2-5: writes sources, _mock.py and mock stubs in node
  // order, then .data/extern_modules and .data/python_version, and finishes
  // the writer. PackagingError with Validate()'s text if a node has an error.
  Status Finish(const ActionCallback& on_action,
                std::string_view python_version);

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
  void SetError(DiGraph::NodeId id, PackagingErrorReason reason,
                std::optional<std::string> context);
  bool CanImplicitlyExtern(std::string_view module_name) const;
  Pattern* FirstMatch(std::string_view module_name);
  // Whether a dependency on `name` could make it interned (or unmatched),
  // which is when existence must mean "imports" as in torch.
  bool MayIntern(std::string_view name);
  Result<bool> ModuleExists(const std::string& name);

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
  Status WriteMockFile();
  Status WriteSource(std::string_view module_name, std::string_view source,
                     bool is_package);

  ArchiveWriter* writer_;
  SourceProvider* provider_;
  std::string mock_source_;
  NameSet stdlib_;
  ExportOptions options_;
  DiGraph graph_;
  std::vector<NodeAttributes> attrs_;  // indexed by DiGraph::NodeId
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
};

}  // namespace hermetic

#endif  // HERMETIC_EXPORT_ENGINE_H_
