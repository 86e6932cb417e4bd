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
  PyErr_SetObject(cls.ptr(), nb::str(status.message().c_str()).ptr());
  throw nb::python_error();
}

}  // namespace hermetic::python
