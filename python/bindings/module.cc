#include "bindings.h"

NB_MODULE(_core, m) {
  m.doc() = "hermetic's C++ core. Private: use the hermetic package instead.";
  hermetic::python::BindArchive(m);
  hermetic::python::BindScanners(m);
  hermetic::python::BindPackaging(m);
}
