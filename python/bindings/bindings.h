// Shared plumbing of the hermetic._core module: one Bind* function per core
// component, and the single status-to-exception mapping they all use.
#ifndef HERMETIC_PYTHON_BINDINGS_BINDINGS_H_
#define HERMETIC_PYTHON_BINDINGS_BINDINGS_H_

#include <nanobind/nanobind.h>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "hermetic/archive.h"
#include "hermetic/status.h"

namespace hermetic::python {

namespace nb = nanobind;

// Raises the Python exception of hermetic.errors that corresponds to
// status.code(), with status.message() as its text; a status made by
// StatusFromPythonError re-raises the Python exception it stands for. Every
// binding raises errors through here. Must hold the GIL.
[[noreturn]] void RaiseStatus(const Status& status);

// Turns a Python exception raised by a callback the core called (a provider,
// a hook) into a Status the core can pass along; RaiseStatus, in the same
// thread, re-raises the exception itself.
Status StatusFromPythonError(nb::python_error&& error);

// Runs `call` (Python code, GIL held) as a Status.
template <typename F>
Status CallPython(F&& call) {
  try {
    call();
    return Status::Ok();
  } catch (nb::python_error& e) {
    return StatusFromPythonError(std::move(e));
  }
}

inline void ThrowIfError(const Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

template <typename T>
T ValueOrRaise(Result<T>&& result) {
  if (!result.ok()) RaiseStatus(result.status());
  return std::move(result).value();
}

// Text from an archive or the file system (record names, paths) as str:
// bytes that are not UTF-8 become surrogate escapes, as os.fsdecode makes
// them, so that a conversion never fails.
nb::str NameStr(std::string_view text);

// A name argument (record name, prefix, glob candidate): the UTF-8 bytes of
// a str, surrogate escapes turned back into the bytes NameStr made them from,
// so that every name the bindings return can be passed back.
struct NameArg {
  std::string bytes;
};

// A contiguous buffer-protocol export of a Python object, released (taking
// the GIL) on destruction, so that it may outlive a GIL-released section.
class PyBuffer {
 public:
  static std::shared_ptr<PyBuffer> Get(nb::handle obj) {
    auto b = std::shared_ptr<PyBuffer>(new PyBuffer());
    if (PyObject_GetBuffer(obj.ptr(), &b->view_, PyBUF_C_CONTIGUOUS) != 0) {
      throw nb::python_error();
    }
    b->held_ = true;
    return b;
  }
  ~PyBuffer() {
    if (!held_) return;
    nb::gil_scoped_acquire gil;
    PyBuffer_Release(&view_);
  }
  PyBuffer(const PyBuffer&) = delete;
  PyBuffer& operator=(const PyBuffer&) = delete;

  std::span<const uint8_t> span() const {
    return {static_cast<const uint8_t*>(view_.buf),
            static_cast<size_t>(view_.len)};
  }

 private:
  PyBuffer() = default;
  Py_buffer view_{};
  bool held_ = false;
};

// A writer for `target`: a path (str or os.PathLike, written atomically
// through ArchiveWriter::OpenFile) or an object with write() and maybe
// flush() (ArchiveWriter::OpenSink). TypeError for anything else.
std::unique_ptr<ArchiveWriter> OpenArchiveWriter(nb::object target,
                                                 const WriterOptions& options);

// f(reader) on the C++ reader of a Python _core.ArchiveReader, as its own
// methods run it (GIL released, reader locked); raises f's error.
void RunOnArchiveReader(nb::handle reader,
                        const std::function<Status(ArchiveReader&)>& f);

void BindArchive(nb::module_& m);
void BindScanners(nb::module_& m);
void BindExportEngine(nb::module_& m);
void BindScan(nb::module_& m);
void BindManifest(nb::module_& m);

// `writer` wrapped to write a manifest (and, given a (secret key file text,
// source) pair, a signature) when finished; manifest_bindings.cc.
std::unique_ptr<ArchiveWriter> WithManifest(
    std::unique_ptr<ArchiveWriter> writer, bool reproducible,
    const std::optional<std::pair<std::string, std::string>>& sign_with,
    uint32_t version);

}  // namespace hermetic::python

namespace nanobind::detail {

template <>
struct type_caster<hermetic::python::NameArg> {
  NB_TYPE_CASTER(hermetic::python::NameArg, const_name("str"))

  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    if (!PyUnicode_Check(src.ptr())) return false;
    Py_ssize_t size = 0;
    if (const char* utf8 = PyUnicode_AsUTF8AndSize(src.ptr(), &size)) {
      value.bytes.assign(utf8, static_cast<size_t>(size));
      return true;
    }
    PyErr_Clear();
    PyObject* raw =
        PyUnicode_AsEncodedString(src.ptr(), "utf-8", "surrogateescape");
    if (raw == nullptr) {
      PyErr_Clear();
      return false;
    }
    value.bytes.assign(PyBytes_AS_STRING(raw),
                       static_cast<size_t>(PyBytes_GET_SIZE(raw)));
    Py_DECREF(raw);
    return true;
  }
};

}  // namespace nanobind::detail

#endif  // HERMETIC_PYTHON_BINDINGS_BINDINGS_H_
