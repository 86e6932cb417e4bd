// FindImportBindings: the names a source's import statements bind and what
// each stands for, so that a use spelled through an alias (`import os as o`
// then `o.system(...)`) is classified by what it reaches. The import scanner
// reports what is imported, not under which name.
#ifndef HERMETIC_SRC_SCAN_IMPORT_BINDINGS_H_
#define HERMETIC_SRC_SCAN_IMPORT_BINDINGS_H_

#include <string>
#include <string_view>
#include <vector>

namespace hermetic::scan {

struct ImportBinding {
  std::string name;    // the name bound in the module
  std::string target;  // the dotted name it stands for
  bool operator==(const ImportBinding&) const = default;
};

// Absolute imports only (a relative one names a module of the package,
// scanned itself): `import a.b as c` binds c to a.b, `import a.b` binds a
// to a, `from m import n as k` binds k to m.n, `from m import n` binds n to
// m.n; `from m import *` binds nothing the scan can name. Strings and
// comments are skipped; every binding counts for the whole module (a scan
// over-reports a name rebound later rather than miss one). One pass, no
// recursion, output at most a fraction of the source's size.
std::vector<ImportBinding> FindImportBindings(std::string_view source);

}  // namespace hermetic::scan

#endif  // HERMETIC_SRC_SCAN_IMPORT_BINDINGS_H_
