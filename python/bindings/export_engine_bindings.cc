// hermetic._core.ExportEngine: the C++ export engine driven by a Python
// SourceProvider (duck-typed: module_exists, module_source) and a Python
// finish callback.
//
// A Python exception raised by the provider or the callback travels through
// the engine as a non-ok Status; the binding then re-raises that very
// exception (type, value and traceback) instead of mapping the status.
#include <Python.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings.h"
#include "hermetic/archive.h"
#include "hermetic/glob.h"
#include "hermetic/graph.h"
#include "hermetic/export_engine.h"

namespace hermetic::python {
namespace {

// The Python exception of the innermost failed callback, kept until the
// engine call that ran the callback returns.
class PendingError {
 public:
  // Runs `call` (which needs the GIL) and captures what it raises.
  template <typename F>
  Status Call(F&& call) {
    try {
      call();
      return Status::Ok();
    } catch (nb::python_error& e) {
      error_.emplace(std::move(e));
      return Status::Internal("a Python callback raised an exception");
    }
  }

  // Raises the captured exception if any, else the status's exception.
  void RaiseIfError(const Status& status) {
    if (error_) {
      nb::python_error error = std::move(*error_);
      error_.reset();
      throw error;
    }
    ThrowIfError(status);
  }

 private:
  std::optional<nb::python_error> error_;
};

nb::str Str(std::string_view s) { return nb::str(s.data(), s.size()); }

class PySourceProvider : public SourceProvider {
 public:
  PySourceProvider(nb::object provider, PendingError* pending)
      : provider_(std::move(provider)), pending_(pending) {}

  Result<bool> ModuleExists(std::string_view name, bool must_import) override {
    if (!provider_.is_valid()) return Cleared();
    bool exists = false;
    HERMETIC_RETURN_IF_ERROR(pending_->Call([&] {
      nb::object answer =
          provider_.attr("module_exists")(Str(name), must_import);
      int truth = PyObject_IsTrue(answer.ptr());
      if (truth < 0) throw nb::python_error();
      exists = truth == 1;
    }));
    return exists;
  }

  Result<ModuleSource> GetSource(std::string_view name) override {
    if (!provider_.is_valid()) return Cleared();
    using Answer =
        std::tuple<bool, std::optional<std::string>, std::string, std::string>;
    Answer answer;
    bool well_formed = false;
    HERMETIC_RETURN_IF_ERROR(pending_->Call([&] {
      nb::object result = provider_.attr("module_source")(Str(name));
      well_formed = nb::try_cast(result, answer);
    }));
    if (!well_formed) {
      return Status::InvalidArgument(
          "SourceProvider.module_source('" + std::string(name) +
          "') must return (bool, str or None, str, str)");
    }
    auto& [is_package, source, reason, context] = answer;
    ModuleSource module;
    module.is_package = is_package;
    module.source = std::move(source);
    module.context = std::move(context);
    if (!reason.empty()) {
      module.reason = ParsePackagingErrorReason(reason);
      if (!module.reason) {
        return Status::InvalidArgument(
            "SourceProvider.module_source('" + std::string(name) +
            "') gave an unknown reason '" + reason + "'");
      }
    }
    return module;
  }

  nb::handle object() const { return provider_; }
  void Clear() { provider_.reset(); }

 private:
  static Status Cleared() {
    return Status::FailedPrecondition(
        "ExportEngine: its SourceProvider was released");
  }

  nb::object provider_;
  PendingError* pending_;
};

// A read-only view of any object with the buffer protocol.
class BufferView {
 public:
  explicit BufferView(nb::handle obj) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_SIMPLE) != 0) {
      throw nb::python_error();
    }
  }
  ~BufferView() { PyBuffer_Release(&view_); }
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;

  std::span<const uint8_t> bytes() const {
    return {static_cast<const uint8_t*>(view_.buf),
            static_cast<size_t>(view_.len)};
  }

 private:
  Py_buffer view_;
};

// The engine writes straight into the C++ writer of the Python
// _core.ArchiveWriter (which serialises access and releases the GIL while
// writing). Its errors are remembered so that they reach Python as the
// writer's own methods raise them, not as the engine's record checks do.
class DirectWriter : public ArchiveWriter {
 public:
  explicit DirectWriter(nb::object writer)
      : object_(std::move(writer)), writer_(UnwrapArchiveWriter(object_)) {}

  const std::string& archive_name() const override {
    return writer_->archive_name();
  }
  Status WriteRecord(std::string_view name,
                     std::span<const uint8_t> data) override {
    return Check(writer_->WriteRecord(name, data));
  }
  Status BeginRecord(std::string_view name) override {
    return Check(writer_->BeginRecord(name));
  }
  Status Append(std::span<const uint8_t> piece) override {
    return Check(writer_->Append(piece));
  }
  Status EndRecord() override { return Check(writer_->EndRecord()); }
  bool HasRecord(std::string_view name) const override {
    return writer_->HasRecord(name);
  }
  std::vector<std::string> RecordNames() const override {
    return writer_->RecordNames();
  }
  Status Finish() override { return Check(writer_->Finish()); }
  void Abort() override { writer_->Abort(); }
  bool finished() const override { return writer_->finished(); }

  nb::handle object() const { return object_; }

  // The status of the last failed writer call, cleared.
  std::optional<Status> TakeError() { return std::exchange(error_, {}); }

 private:
  Status Check(Status status) {
    if (!status.ok()) error_ = status;
    return status;
  }

  nb::object object_;
  ArchiveWriter* writer_;
  std::optional<Status> error_;
};

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
  PyExportEngine(nb::object writer, nb::object provider,
                 std::string mock_source,
                 const std::vector<std::string>& stdlib_modules)
      : writer_(std::move(writer)),
        provider_(std::move(provider), &pending_),
        engine_(&writer_, &provider_, std::move(mock_source), stdlib_modules) {}

  void AddPattern(std::vector<std::string> include,
                  std::vector<std::string> exclude, int action,
                  bool allow_empty) {
    InUse use(this);
    GlobGroup group = ValueOrRaise(
        GlobGroup::Create(std::move(include), std::move(exclude), '.'));
    ThrowIfError(engine_.AddPattern(std::move(group),
                                    static_cast<Action>(action), allow_empty));
  }

  void SaveSourceString(std::string_view module_name, std::string source,
                        bool is_package, bool dependencies) {
    InUse use(this);
    pending_.RaiseIfError(engine_.SaveSourceString(
        module_name, std::move(source), is_package, dependencies));
  }

  void SaveModule(std::string_view module_name, bool dependencies) {
    InUse use(this);
    pending_.RaiseIfError(engine_.SaveModule(module_name, dependencies));
  }

  void AddDependency(std::string_view module_name, bool dependencies) {
    InUse use(this);
    pending_.RaiseIfError(engine_.AddDependency(module_name, dependencies));
  }

  void AddPickle(std::string_view package, std::string_view resource,
                 nb::handle data, bool dependencies) {
    InUse use(this);
    BufferView view(data);
    RaiseWriteError(
        engine_.AddPickle(package, resource, view.bytes(), dependencies));
  }

  void WriteRecord(std::string_view name, nb::handle data) {
    InUse use(this);
    BufferView view(data);
    RaiseWriteError(engine_.WriteRecord(name, view.bytes()));
  }

  std::vector<std::string> ModulesWithAction(int action) {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_.ModulesWithAction(static_cast<Action>(action));
  }

  std::vector<std::string> RDeps(std::string_view module_name) {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_.RDeps(module_name);
  }

  DiGraph Graph() {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_.graph();
  }

  nb::dict NodeAttributesOf(std::string_view name) {
    InUse use(this);
    const NodeAttributes* node = engine_.FindNode(name);
    if (!node) {
      RaiseStatus(Status::NotFound("The node " + std::string(name) +
                                   " is not in the digraph."));
    }
    nb::dict attrs;
    if (node->action) attrs["action"] = static_cast<int>(*node->action);
    if (node->provided) attrs["provided"] = true;
    if (node->is_package) attrs["is_package"] = *node->is_package;
    if (node->source) attrs["source"] = Str(*node->source);
    if (node->is_pickle) attrs["is_pickle"] = true;
    if (node->error) {
      attrs["error"] = Str(PackagingErrorReasonName(*node->error));
    }
    if (node->error_context) attrs["error_context"] = Str(*node->error_context);
    return attrs;
  }

  std::optional<std::string> Validate(bool debug) {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_.Validate(debug);
  }

  std::vector<size_t> UnmatchedPatterns() {
    InUse use(this);
    nb::gil_scoped_release nogil;
    return engine_.UnmatchedPatterns();
  }

  void Finish(nb::object on_action, std::string_view python_version) {
    InUse use(this);
    auto callback = [&](std::string_view name, Action action) {
      return pending_.Call(
          [&] { on_action(Str(name), static_cast<int>(action)); });
    };
    RaiseWriteError(engine_.Finish(callback, python_version));
  }

  // Garbage-collector support: the provider usually references the Python
  // exporter that owns this engine, a cycle only the GC can break.
  static int Traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    if (!nb::inst_ready(self)) return 0;
    PyExportEngine* engine = nb::inst_ptr<PyExportEngine>(self);
    Py_VISIT(engine->writer_.object().ptr());
    Py_VISIT(engine->provider_.object().ptr());
    return 0;
  }

  // Drops only the provider: the engine keeps a raw pointer to the writer,
  // which cannot reference the engine back.
  static int Clear(PyObject* self) {
    nb::inst_ptr<PyExportEngine>(self)->provider_.Clear();
    return 0;
  }

 private:
  // torch's _write raises AssertionError for a duplicate or mangled record
  // name, and code ported from torch catches exactly that; no hermetic
  // error class fits, so these are raised here rather than through
  // status_to_exception.cc.
  void RaiseWriteError(const Status& status) {
    if (std::optional<Status> error = writer_.TakeError();
        error && !status.ok()) {
      ThrowIfError(*error);
    }
    if (status.code() == StatusCode::kFailedPrecondition) {
      PyErr_SetString(PyExc_AssertionError, status.message().c_str());
      throw nb::python_error();
    }
    pending_.RaiseIfError(status);
  }

  std::thread::id owner_;
  int depth_ = 0;
  PendingError pending_;
  DirectWriter writer_;
  PySourceProvider provider_;
  ExportEngine engine_;
};

PyType_Slot kEngineSlots[] = {
    {Py_tp_traverse, reinterpret_cast<void*>(&PyExportEngine::Traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&PyExportEngine::Clear)},
    {0, nullptr},
};

}  // namespace

void BindPackaging(nb::module_& m) {
  m.attr("INTERN") = static_cast<int>(Action::kIntern);
  m.attr("EXTERN") = static_cast<int>(Action::kExtern);
  m.attr("MOCK") = static_cast<int>(Action::kMock);
  m.attr("DENY") = static_cast<int>(Action::kDeny);
  m.attr("REPACKAGED_MOCK_MODULE") =
      static_cast<int>(Action::kRepackagedMockModule);
  m.attr("SKIP") = static_cast<int>(Action::kSkip);

  nb::class_<PyExportEngine>(m, "ExportEngine", nb::type_slots(kEngineSlots))
      .def(nb::init<nb::object, nb::object, std::string,
                    const std::vector<std::string>&>(),
           nb::arg("writer"), nb::arg("provider"), nb::arg("mock_source"),
           nb::arg("stdlib_modules"))
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
           nb::arg("data"))
      .def("modules_with_action", &PyExportEngine::ModulesWithAction,
           nb::arg("action"))
      .def("rdeps", &PyExportEngine::RDeps, nb::arg("module_name"))
      .def("graph", &PyExportEngine::Graph)
      .def("node_attributes", &PyExportEngine::NodeAttributesOf,
           nb::arg("name"))
      .def("validate", &PyExportEngine::Validate, nb::arg("debug") = false)
      .def("unmatched_patterns", &PyExportEngine::UnmatchedPatterns)
      .def("finish", &PyExportEngine::Finish, nb::arg("on_action"),
           nb::arg("python_version"));
}

}  // namespace hermetic::python
