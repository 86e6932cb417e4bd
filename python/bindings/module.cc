#include <new>

#include "bindings.h"

NB_MODULE(_core, m) {
  m.doc() = "hermetic's C++ core. Private: use the hermetic package instead.";
  // Calls that know their archive and record name them; this catches the
  // rest, so that no allocation failure reaches Python as a bare
  // MemoryError.
  nanobind::register_exception_translator(
      [](const std::exception_ptr& p, void*) {
        try {
          std::rethrow_exception(p);
        } catch (const std::bad_alloc&) {
          hermetic::python::RaiseStatus(hermetic::Status::ResourceExhausted(
              "out of memory in hermetic's core"));
        }
      });
  hermetic::python::BindArchive(m);
  hermetic::python::BindScanners(m);
  hermetic::python::BindExportEngine(m);
  hermetic::python::BindScan(m);
  hermetic::python::BindManifest(m);
}
