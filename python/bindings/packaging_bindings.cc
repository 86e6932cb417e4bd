#include "bindings.h"

namespace hermetic::python {

void BindPackaging(nb::module_& m) {}

}  // namespace hermetic::python
