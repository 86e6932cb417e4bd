// The one place where core status codes become Python exceptions. The classes
// live in hermetic/errors.py so that they can inherit builtins (ValueError,
// OSError, ...) the way Python users expect.
#include <Python.h>

#include "bindings.h"

namespace hermetic::python {

namespace {

const char* ExceptionName(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return "InvalidArgumentError";
    case StatusCode::kNotFound:
      return "NotFoundError";
    case StatusCode::kCorruptArchive:
      return "CorruptArchiveError";
    case StatusCode::kCorruptPickle:
      return "CorruptPickleError";
    case StatusCode::kAlreadyExists:
      return "AlreadyExistsError";
    case StatusCode::kIOError:
      return "HermeticIOError";
    case StatusCode::kUnsupported:
      return "UnsupportedError";
    case StatusCode::kPackagingError:
      return "HermeticError";
    case StatusCode::kFailedPrecondition:
      return "StateError";
    case StatusCode::kResourceExhausted:
      return "ResourceLimitError";
    case StatusCode::kOk:
    case StatusCode::kInternal:
      break;
  }
  return "InternalError";
}

}  // namespace

void RaiseStatus(const Status& status) {
  nb::object errors = nb::module_::import_("hermetic.errors");
  nb::object cls = errors.attr(ExceptionName(status.code()));
  // Messages quote names and bytes from the input: keep all of them, NULs
  // included, and escape what is not UTF-8 rather than fail.
  const std::string& message = status.message();
  nb::object text = nb::steal(PyUnicode_DecodeUTF8(
      message.data(), static_cast<Py_ssize_t>(message.size()),
      "backslashreplace"));
  if (!text.is_valid()) throw nb::python_error();
  PyErr_SetObject(cls.ptr(), text.ptr());
  throw nb::python_error();
}

nb::str NameStr(std::string_view text) {
  PyObject* o = PyUnicode_DecodeUTF8(
      text.data(), static_cast<Py_ssize_t>(text.size()), "surrogateescape");
  if (o == nullptr) throw nb::python_error();
  return nb::steal<nb::str>(o);
}

}  // namespace hermetic::python
