#include "bindings.h"

namespace hermetic::python {

void BindArchive(nb::module_& m) {}

}  // namespace hermetic::python
