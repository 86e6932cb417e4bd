// Shared plumbing of the hermetic._core module: one Bind* function per core
// component, and the single status-to-exception mapping they all use.
#ifndef HERMETIC_PYTHON_BINDINGS_BINDINGS_H_
#define HERMETIC_PYTHON_BINDINGS_BINDINGS_H_

#include <nanobind/nanobind.h>

#include <utility>

#include "hermetic/status.h"

namespace hermetic::python {

namespace nb = nanobind;

// Raises the Python exception of hermetic.errors that corresponds to
// status.code(), with status.message() as its text. Must hold the GIL.
[[noreturn]] void RaiseStatus(const Status& status);

inline void ThrowIfError(const Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

template <typename T>
T ValueOrRaise(Result<T>&& result) {
  if (!result.ok()) RaiseStatus(result.status());
  return std::move(result).value();
}

void BindArchive(nb::module_& m);
void BindScanners(nb::module_& m);
void BindPackaging(nb::module_& m);

}  // namespace hermetic::python

#endif  // HERMETIC_PYTHON_BINDINGS_BINDINGS_H_
