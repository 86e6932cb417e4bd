#include "bindings.h"

namespace hermetic::python {

void BindScanners(nb::module_& m) {}

}  // namespace hermetic::python
