#include <new>

#include "bindings.h"
#include "hermetic/manifest.h"

NB_MODULE(_core, m) {
  m.doc() = "hermetic's C++ core. Private: use the hermetic package instead.";
  // An importer never closed stays in sys.modules with its modules, which
  // CPython tears down after nanobind's leak check: readers alive then are
  // not leaks, and the report would print on every such exit.
  nanobind::set_leak_warnings(false);
  // pyproject.toml's version, compiled in: the one the manifest records.
  const std::string_view version = hermetic::ManifestGenerator().substr(
      std::string_view("hermetic ").size());
  m.attr("__version__") = nanobind::str(version.data(), version.size());
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
