// ScanImports: the imports of a Python source file, found without Python.
//
// Contract (torch.package's dependency discovery, spec section 4.1):
//  - Reports, in order of appearance and de-duplicated, the (module, name)
//    pairs torch.package's AST visitor reports: `import a.b` -> (a.b, none);
//    `from m import x, y` -> (m, x), (m, y); `from m import *` -> (m, none);
//    relative forms resolved against the module's package; constant-argument
//    `__import__(...)` calls that stand as their own expression (not nested in
//    another call's arguments) with fromlist and level; and, beyond torch,
//    `importlib.import_module("m")` with a constant argument -> (m, none).
//  - Scans everything: function bodies, class bodies, if/try/with blocks,
//    lambdas and comprehensions. Never reports imports inside strings or
//    comments.
//  - Source that cannot be tokenized (unterminated string or bracket,
//    mismatched bracket, bad indentation of an import statement) fails with
//    InvalidArgument "<reason> (<module>, line N)". A relative import beyond
//    the top-level package fails with InvalidArgument "attempted relative
//    import beyond top-level package".
//  - Input is untrusted: no recursion proportional to nesting depth; limits
//    in ScanOptions.
#ifndef HERMETIC_IMPORTS_H_
#define HERMETIC_IMPORTS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/status.h"

namespace hermetic {

struct ImportRef {
  std::string module;
  std::optional<std::string> name;
  bool operator==(const ImportRef&) const = default;
};

struct ImportScanOptions {
  size_t max_source_bytes = size_t{1} << 30;
  size_t max_bracket_depth = 10000;
};

Result<std::vector<ImportRef>> ScanImports(
    std::string_view source, std::string_view module_name, bool is_package,
    const ImportScanOptions& options = {});

// The package relative imports resolve against: module_name for packages,
// else everything before its last dot (a top-level module is its own
// package, as in torch).
std::string ImportPackageOf(std::string_view module_name, bool is_package);

// torch's _resolve_name: strips level-1 trailing components of package and
// appends name. InvalidArgument if package has too few components.
Result<std::string> ResolveRelative(std::string_view name,
                                    std::string_view package, int level);

}  // namespace hermetic

#endif  // HERMETIC_IMPORTS_H_
