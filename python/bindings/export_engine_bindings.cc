// hermetic._core.ExportEngine and torch's enums (_ModuleProviderAction,
// PackagingErrorReason): the C++ export engine, writing its own archive,
// driven by a Python SourceProvider (duck-typed: module_exists,
// module_source, module_is_package) and a Python finish callback.
//
// A Python exception raised by the provider or the callback travels through
// the engine as a Status made by StatusFromPythonError; RaiseStatus then
// re-raises that very exception (type, value and traceback).
#include <Python.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings.h"
#include "hermetic/archive.h"
#include "hermetic/export_engine.h"
#include "hermetic/glob.h"
#include "hermetic/graph.h"

namespace hermetic::python {
namespace {

nb::str Str(std::string_view s) { return nb::str(s.data(), s.size()); }

class PySourceProvider : public SourceProvider {
 public:
  explicit PySourceProvider(nb::object provider)
      : provider_(std::move(provider)) {}

  Result<bool> ModuleExists(std::string_view name, bool must_import) override {
    bool exists = false;
    HERMETIC_RETURN_IF_ERROR(Call([&] {
      exists = Truth(provider_.attr("module_exists")(Str(name), must_import));
    }));
    return exists;
  }

  Result<ModuleSource> GetSource(std::string_view name) override {
    using Answer = std::tuple<bool, std::optional<std::string>,
                              std::optional<PackagingErrorReason>, std::string>;
    Answer answer;
    bool well_formed = false;
    HERMETIC_RETURN_IF_ERROR(Call([&] {
      nb::object result = provider_.attr("module_source")(Str(name));
      well_formed = nb::try_cast(result, answer);
    }));
    if (!well_formed) {
      return Status::InvalidArgument(
          "SourceProvider.module_source('" + std::string(name) +
          "') must return (bool, str or None, PackagingErrorReason or None, "
          "str)");
    }
    auto& [is_package, source, reason, context] = answer;
    ModuleSource module;
    module.is_package = is_package;
    module.source = std::move(source);
    module.reason = reason;
    module.context = std::move(context);
    return module;
  }

  Result<bool> IsPackage(std::string_view name) override {
    bool is_package = false;
    HERMETIC_RETURN_IF_ERROR(Call([&] {
      is_package = Truth(provider_.attr("module_is_package")(Str(name)));
    }));
    return is_package;
  }

  nb::handle object() const { return provider_; }
  void Clear() { provider_.reset(); }

 private:
  static bool Truth(const nb::object& answer) {
    int truth = PyObject_IsTrue(answer.ptr());
    if (truth < 0) throw nb::python_error();
    return truth == 1;
  }

  template <typename F>
  Status Call(F&& call) {
    if (!provider_.is_valid()) {
      return Status::FailedPrecondition(
          "ExportEngine: its SourceProvider was released");
    }
    return CallPython(std::forward<F>(call));
  }

  nb::object provider_;
};

// A node's attributes as torch's dependency graph holds them: only the keys
// that are set.
nb::dict Attributes(const NodeAttributes& node, bool with_source) {
  nb::dict attrs;
  if (node.action) attrs["action"] = *node.action;
  if (node.provided) attrs["provided"] = true;
  if (node.is_package) attrs["is_package"] = *node.is_package;
  if (with_source && node.source) attrs["source"] = Str(*node.source);
  if (node.is_pickle) attrs["is_pickle"] = true;
  if (node.error) attrs["error"] = *node.error;
  if (node.error_context) attrs["error_context"] = Str(*node.error_context);
  return attrs;
}

// Calls that cannot run Python code (no provider or callback call) release
// the GIL; the others hold it and let their callbacks run.
class PyExportEngine {
  // Refuses calls from a second thread while one is running: a call may
  // release the GIL (itself, or in a callback or a write), and the engine is
  // not thread-safe. Re-entry from the same thread (a hook calling back) is
  // allowed.
  class InUse {
   public:
    explicit InUse(PyExportEngine* engine) : engine_(engine) {
      std::thread::id me = std::this_thread::get_id();
      if (engine->depth_ > 0 && engine->owner_ != me) {
        RaiseStatus(Status::FailedPrecondition(
            "ExportEngine is in use by another thread"));
      }
      engine->owner_ = me;
      ++engine->depth_;
    }
    ~InUse() { --engine_->depth_; }
    InUse(const InUse&) = delete;
    InUse& operator=(const InUse&) = delete;

   private:
    PyExportEngine* engine_;
  };

 public:
  PyExportEngine(
      nb::object target, nb::object provider, std::string mock_source,
      const std::vector<std::string>& stdlib_modules, bool manifest,
      bool reproducible,
      const std::optional<std::pair<std::string, std::string>>& sign_with,
      bool dependency_record, int deflate_level)
      : provider_(std::move(provider)) {
    WriterOptions options;
    options.deflate_level = deflate_level;
    std::unique_ptr<ArchiveWriter> writer =
        OpenArchiveWriter(std::move(target), options);
    if (manifest || sign_with) {
      writer = WithManifest(std::move(writer), reproducible, sign_with,
                            options.version);
    }
    ExportOptions export_options;
    export_options.dependency_record = dependency_record;
    engine_ = ValueOrRaise(ExportEngine::Create(
        std::move(writer), &provider_, std::move(mock_source), stdlib_modules,
        export_options));
  }

  void AddPattern(std::vector<std::string> include,
                  std::vector<std::string> exclude, Action action,
                  bool allow_empty) {
    InUse use(this);
    GlobGroup group = ValueOrRaise(
        GlobGroup::Create(std::move(include), std::move(exclude), '.'));
    ThrowIfError(engine_->AddPattern(std::move(group), action, allow_empty));
  }

  void SaveSourceString(std::string_view module_name, std::string source,
                        bool is_package, bool dependencies) {
    InUse use(this);
    ThrowIfError(engine_->SaveSourceString(module_name, std::move(source),
                                           is_package, dependencies));
  }

  void SaveModule(std::string_view module_name, bool dependencies) {
    InUse use(this);
    ThrowIfError(engine_->SaveModule(module_name, dependencies));
  }

  void AddDependency(std::string_view module_name, bool dependencies) {
    InUse use(this);
    ThrowIfError(engine_->AddDependency(module_name, dependencies));
  }

  void AddPickle(std::string_view package, std::string_view resource,
                 nb::handle data, bool dependencies) {
    InUse use(this);
    auto buffer = PyBuffer::Get(data);
    ThrowIfError(
        engine_->AddPickle(package, resource, buffer->span(), dependencies));
  }

  void WriteRecord(std::string_view name, nb::handle data, bool compress) {
    InUse use(this);
    auto buffer = PyBuffer::Get(data);
    Status status = [&] {
      nb::gil_scoped_release nogil;
      return engine_->WriteRecord(
          name, buffer->span(),
          compress ? Compression::kDeflate : Compression::kStored);
    }();
    ThrowIfError(status);
  }

  bool HasRecord(const NameArg& name) {
    InUse use(this);
    return engine_->HasRecord(name.bytes);
  }

  std::vector<std::string> RecordNames() {
    InUse use(this);
    return engine_->RecordNames();
  }

  bool finished() {
    InUse use(this);
    return engine_->finished();
  }

  void Abort() {
    InUse use(this);
    nb::gil_scoped_release nogil;
    engine_->Abort();
  }

  std::vector<std::string> ModulesWithAction(Action action) {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_->ModulesWithAction(action);
  }

  std::vector<std::string> RDeps(std::string_view module_name) {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_->RDeps(module_name);
  }

  DiGraph Graph() {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_->graph();
  }

  // (graph copy, attribute dict per node in node order): the whole graph in
  // one call; sources only if asked, as they are the bulk of it.
  nb::tuple DependencyGraph(bool sources) {
    InUse use(this);
    const DiGraph& graph = engine_->graph();
    nb::list attrs;
    for (DiGraph::NodeId id = 0; id < graph.size(); ++id) {
      attrs.append(Attributes(engine_->node(id), sources));
    }
    return nb::make_tuple(nb::cast(DiGraph(graph)), attrs);
  }

  std::optional<std::string> Validate(bool debug) {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_->Validate(debug);
  }

  std::vector<size_t> UnmatchedPatterns() {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_->UnmatchedPatterns();
  }

  void Finish(nb::object on_action, std::string_view python_version) {
    InUse use(this);
    auto callback = [&](std::string_view name, Action action) {
      return CallPython([&] { on_action(Str(name), action); });
    };
    ThrowIfError(engine_->Finish(callback, python_version));
  }

  // Garbage-collector support: the provider usually references the Python
  // exporter that owns this engine, a cycle only the GC can break.
  static int Traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    if (!nb::inst_ready(self)) return 0;
    PyExportEngine* engine = nb::inst_ptr<PyExportEngine>(self);
    Py_VISIT(engine->provider_.object().ptr());
    return 0;
  }

  // Drops only the provider: the archive's target (a file object) cannot
  // reference the engine back through anything the engine knows of.
  static int Clear(PyObject* self) {
    nb::inst_ptr<PyExportEngine>(self)->provider_.Clear();
    return 0;
  }

 private:
  std::thread::id owner_;
  int depth_ = 0;
  PySourceProvider provider_;
  std::unique_ptr<ExportEngine> engine_;
};

PyType_Slot kEngineSlots[] = {
    {Py_tp_traverse, reinterpret_cast<void*>(&PyExportEngine::Traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&PyExportEngine::Clear)},
    {0, nullptr},
};

}  // namespace

void BindExportEngine(nb::module_& m) {
  // torch.package's own names, numbers and texts, so that the Python layer
  // re-exports these classes as they are.
  nb::enum_<Action>(m, "_ModuleProviderAction")
      .def("__repr__",
           [](nb::handle self) {
             return nb::str("<{}.{}: {}>")
                 .format(self.type().attr("__name__"), self.attr("name"),
                         self.attr("value"));
           })
      .value("INTERN", Action::kIntern)
      .value("EXTERN", Action::kExtern)
      .value("MOCK", Action::kMock)
      .value("DENY", Action::kDeny)
      .value("REPACKAGED_MOCK_MODULE", Action::kRepackagedMockModule)
      .value("SKIP", Action::kSkip);

  nb::enum_<PackagingErrorReason> reasons(m, "PackagingErrorReason",
                                          nb::is_str());
  for (auto reason :
       {PackagingErrorReason::kIsExtensionModule,
        PackagingErrorReason::kNoDunderFile,
        PackagingErrorReason::kSourceFileNotFound,
        PackagingErrorReason::kDependencyResolutionFailed,
        PackagingErrorReason::kNoAction, PackagingErrorReason::kDenied,
        PackagingErrorReason::kMockedButStillUsed}) {
    // Both views point into static storage: NUL-terminated literals.
    reasons.str_value(PackagingErrorReasonName(reason).data(), reason,
                      PackagingErrorReasonText(reason).data());
  }
  // torch's repr: the member without its (long) text.
  reasons.def("__repr__", [](nb::handle self) {
    return nb::str("<{}.{}>").format(self.type().attr("__name__"),
                                     self.attr("name"));
  });

  m.def(
      "is_mangled", [](const NameArg& name) { return IsMangled(name.bytes); },
      nb::arg("name"));
  m.def(
      "demangle",
      [](nb::str name) -> nb::str {
        NameArg text = nb::cast<NameArg>(name);
        std::string_view demangled = Demangle(text.bytes);
        // Most names are not mangled: hand back the same object.
        if (demangled.size() == text.bytes.size()) return name;
        return NameStr(demangled);
      },
      nb::arg("name"));

  nb::class_<PyExportEngine>(m, "ExportEngine", nb::type_slots(kEngineSlots))
      .def(nb::init<nb::object, nb::object, std::string,
                    const std::vector<std::string>&, bool, bool,
                    const std::optional<std::pair<std::string, std::string>>&,
                    bool, int>(),
           nb::arg("target"), nb::arg("provider"), nb::arg("mock_source"),
           nb::arg("stdlib_modules"), nb::arg("manifest") = false,
           nb::arg("reproducible") = false, nb::arg("sign_with") = nb::none(),
           nb::arg("dependency_record") = false, nb::arg("deflate_level") = 0)
      .def("add_pattern", &PyExportEngine::AddPattern, nb::arg("include"),
           nb::arg("exclude"), nb::arg("action"), nb::arg("allow_empty"))
      .def("save_source_string", &PyExportEngine::SaveSourceString,
           nb::arg("module_name"), nb::arg("source"), nb::arg("is_package"),
           nb::arg("dependencies"))
      .def("save_module", &PyExportEngine::SaveModule, nb::arg("module_name"),
           nb::arg("dependencies"))
      .def("add_dependency", &PyExportEngine::AddDependency,
           nb::arg("module_name"), nb::arg("dependencies"))
      .def("add_pickle", &PyExportEngine::AddPickle, nb::arg("package"),
           nb::arg("resource"), nb::arg("data"), nb::arg("dependencies"))
      .def("write_record", &PyExportEngine::WriteRecord, nb::arg("name"),
           nb::arg("data"), nb::kw_only(), nb::arg("compress") = false)
      .def("has_record", &PyExportEngine::HasRecord, nb::arg("name"))
      .def("record_names", &PyExportEngine::RecordNames)
      .def_prop_ro("finished", &PyExportEngine::finished)
      .def("abort", &PyExportEngine::Abort)
      .def("modules_with_action", &PyExportEngine::ModulesWithAction,
           nb::arg("action"))
      .def("rdeps", &PyExportEngine::RDeps, nb::arg("module_name"))
      .def("graph", &PyExportEngine::Graph)
      .def("dependency_graph", &PyExportEngine::DependencyGraph,
           nb::arg("sources") = false)
      .def("validate", &PyExportEngine::Validate, nb::arg("debug") = false)
      .def("unmatched_patterns", &PyExportEngine::UnmatchedPatterns)
      .def("finish", &PyExportEngine::Finish, nb::arg("on_action"),
           nb::arg("python_version"));
}

}  // namespace hermetic::python
