// ExportEngine: torch.package's PackageExporter without the parts that need
// live Python objects (pickling objects, importing modules).
//
// Contract (the layout it writes is docs/format.md section 2; the rest is
// torch.package's exporter behaviour, which these rules pin down):
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
//  - The engine owns its ArchiveWriter: every record goes through
//    WriteRecord's checks (a name written twice or a name starting with a
//    `<torch_package_N>` mangle prefix is AlreadyExists with torch's
//    message) straight into the writer. Destroying an unfinished engine
//    aborts the archive (the writer's contract).
//  - A mocked module's is_package is asked of the provider (IsPackage) when
//    the MOCK action is assigned; Finish asks the provider nothing.
//  - Not thread-safe; the SourceProvider and the Finish callback may call
//    back into the engine (the engine keeps no references across them).
#ifndef HERMETIC_EXPORT_ENGINE_H_
#define HERMETIC_EXPORT_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/dependency_record.h"
#include "hermetic/glob.h"
#include "hermetic/graph.h"
#include "hermetic/import_scan.h"
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

struct ModuleSource {
  bool is_package = false;
  std::optional<std::string> source;
  // Why there is no source: kIsExtensionModule, kNoDunderFile or
  // kSourceFileNotFound. Unset when source is set.
  std::optional<PackagingErrorReason> reason;
  // Shown as the error's context when non-empty, e.g. "filename: <path>".
  std::string context;
};

// torch.package's mangling rule, the one implementation (the Python layer
// calls it through _core): whether `name` starts with the prefix
// "<torch_package_N>" (N: ASCII digits) a PackageImporter gives its modules.
bool IsMangled(std::string_view name);
// `name` without any importer's prefix: the text after the prefix's first
// dot ("" for a bare prefix); a name that is not mangled as it is.
std::string_view Demangle(std::string_view name);

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
  // Whether the module is a package, asked once when a MOCK action is
  // assigned (its stub is written as a package's __init__.py). An error (the
  // module cannot be imported) aborts the engine call.
  virtual Result<bool> IsPackage(std::string_view name) = 0;
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
  // Finish also writes the dependency record (dependency_record.h), last
  // before the writer's framework records. Off by default: archives then
  // stay byte-identical to torch.package's.
  bool dependency_record = false;
};

class ExportEngine {
 public:
  // Called by Finish for every extern, mock and intern node (pickle nodes
  // included, as torch calls intern hooks for them); an error aborts Finish.
  using ActionCallback =
      std::function<Status(std::string_view name, Action action)>;

  // The engine owns `writer`; every record goes through it. `provider` is not
  // owned and must outlive the engine. `stdlib_modules` are the top-level
  // names externed implicitly. InvalidArgument for a null writer or provider.
  static Result<std::unique_ptr<ExportEngine>> Create(
      std::unique_ptr<ArchiveWriter> writer, SourceProvider* provider,
      std::string mock_source, const std::vector<std::string>& stdlib_modules,
      ExportOptions options = {});

  virtual ~ExportEngine() = default;

  // Patterns are tried in the order added. DENY patterns are always
  // allow_empty. InvalidArgument for REPACKAGED_MOCK_MODULE and SKIP.
  virtual Status AddPattern(GlobGroup group, Action action,
                            bool allow_empty) = 0;

  virtual Status SaveSourceString(std::string_view module_name,
                                  std::string source, bool is_package,
                                  bool dependencies) = 0;
  virtual Status SaveModule(std::string_view module_name,
                            bool dependencies) = 0;
  virtual Status AddDependency(std::string_view module_name,
                               bool dependencies) = 0;
  // Adds node "<package.resource>" depending on the modules of the pickle's
  // globals and writes the record "<package as path>/<resource>".
  // InvalidArgument if resource is not a bare file name.
  virtual Status AddPickle(std::string_view package, std::string_view resource,
                           std::span<const uint8_t> data,
                           bool dependencies) = 0;
  // torch's _write checks, then the writer's: AlreadyExists for a name
  // written before or a name under a `<torch_package_N>` mangle prefix (a
  // name that belongs to a loaded package's namespace). The engine writes
  // its own records (sources, mock stubs, pickles, .data/extern_modules and
  // .data/python_version) with Compression::kDeflate; whether they are
  // deflated is the writer's deflate_level.
  virtual Status WriteRecord(std::string_view name,
                             std::span<const uint8_t> data,
                             Compression compression) = 0;
  Status WriteRecord(std::string_view name, std::span<const uint8_t> data) {
    return WriteRecord(name, data, Compression::kStored);
  }

  // Whether a record of this name was written.
  virtual bool HasRecord(std::string_view name) const = 0;
  // Records written so far, in order.
  virtual std::vector<std::string> RecordNames() const = 0;
  // Whether Finish completed (the archive is in place).
  virtual bool finished() const = 0;
  // Drops the archive being written (a path target keeps what it had); later
  // writes fail. No-op once finished.
  virtual void Abort() = 0;

  // Sorted names of the nodes with `action`, pickle nodes excluded.
  virtual std::vector<std::string> ModulesWithAction(Action action) const = 0;
  // Direct predecessors in insertion order; empty for an unknown name.
  virtual std::vector<std::string> RDeps(
      std::string_view module_name) const = 0;
  virtual const DiGraph& graph() const = 0;
  // Attributes of node `id` of graph().
  virtual const NodeAttributes& node(DiGraph::NodeId id) const = 0;
  // nullptr for an unknown node.
  virtual const NodeAttributes* FindNode(std::string_view name) const = 0;

  // torch's PackagingError message, or nullopt if no node has an error.
  // `debug` adds each broken module's first path from a root.
  virtual std::optional<std::string> Validate(bool debug) const = 0;
  // Indices (AddPattern order) of allow_empty=false patterns never matched.
  virtual std::vector<size_t> UnmatchedPatterns() const = 0;

  // The nodes the caller asked for (SaveSourceString, SaveModule,
  // AddDependency, AddPickle), distinct, in the order first asked: the
  // roots of the dependency record.
  virtual std::vector<DiGraph::NodeId> Roots() const = 0;

  // close() steps 2-5: writes sources, _mock.py and mock stubs in node
  // order, then .data/extern_modules and .data/python_version (and, if
  // asked, the dependency record), and finishes the writer. PackagingError with
  // Validate()'s text if a node has an error.
  virtual Status Finish(const ActionCallback& on_action,
                        std::string_view python_version) = 0;
};

}  // namespace hermetic

#endif  // HERMETIC_EXPORT_ENGINE_H_
