// The one place where core status codes become Python exceptions (and where a
// Python exception that crossed the core as a Status is restored). The classes
// live in hermetic/errors.py so that they can inherit builtins (ValueError,
// OSError, AssertionError, ...) the way Python users expect.
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
    case StatusCode::kIntegrity:
      return "IntegrityError";
    case StatusCode::kOk:
    case StatusCode::kInternal:
      break;
  }
  return "InternalError";
}

// Marks the Status of a Python callback that raised: the exception itself
// waits in the calling thread's slot until RaiseStatus restores it.
constexpr std::string_view kPythonError =
    "a Python callback raised an exception";

// Owned raw pointer, not an object with a destructor: it must never be freed
// at thread exit without the GIL. Emptied by every RaiseStatus that takes it.
thread_local nb::python_error* pending_error = nullptr;

bool IsPythonError(const Status& status) {
  return status.code() == StatusCode::kInternal &&
         status.message() == kPythonError;
}

}  // namespace

Status StatusFromPythonError(nb::python_error&& error) {
  delete pending_error;  // a stale one belongs to a status nobody raised
  pending_error = new nb::python_error(std::move(error));
  return Status::Internal(std::string(kPythonError));
}

void RaiseStatus(const Status& status) {
  // pyarrow's check_status: a status that stands for a Python exception
  // re-raises that very exception (type, value and traceback).
  if (IsPythonError(status) && pending_error != nullptr) {
    nb::python_error error = std::move(*pending_error);
    delete pending_error;
    pending_error = nullptr;
    throw error;
  }
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
