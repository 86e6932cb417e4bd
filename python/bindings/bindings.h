// Shared plumbing of the hermetic._core module: one Bind* function per core
// component, and the single status-to-exception mapping they all use.
#ifndef HERMETIC_PYTHON_BINDINGS_BINDINGS_H_
#define HERMETIC_PYTHON_BINDINGS_BINDINGS_H_

#include <nanobind/nanobind.h>

#include <string_view>
#include <utility>

#include "hermetic/archive.h"
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

// Text from an archive or the file system (record names, paths) as str:
// bytes that are not UTF-8 become surrogate escapes, as os.fsdecode makes
// them, so that a conversion never fails.
nb::str NameStr(std::string_view text);

// The C++ writer held by a hermetic._core.ArchiveWriter; TypeError for any
// other object. Valid while `obj` lives: the caller keeps it alive.
//
// Locking: the returned writer serialises every call with the same mutex as
// the Python methods, so C++ and Python writers may interleave freely, and
// needs no lock from the caller. A call made with the GIL held releases it
// while it waits for and holds that mutex (a Python write() target re-takes
// the GIL from inside the writer), so callers may hold the GIL or not, but
// must not hold any lock that a Python target's write() might want.
ArchiveWriter* UnwrapArchiveWriter(nb::handle obj);

void BindArchive(nb::module_& m);
void BindScanners(nb::module_& m);
void BindPackaging(nb::module_& m);

}  // namespace hermetic::python

#endif  // HERMETIC_PYTHON_BINDINGS_BINDINGS_H_
