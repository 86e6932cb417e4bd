// ScanImports: the imports of a Python source file, found without Python.
//
// Contract (torch.package's dependency discovery):
//  - Reports, de-duplicated, the (module, name) pairs torch.package's AST
//    visitor reports, in the order that visitor reaches them (a pre-order
//    walk: statements in order, but e.g. a def's decorators and return
//    annotation after its body, dict keys before values, the test of
//    `a if t else b` first): `import a.b` -> (a.b, none); `from m import x,
//    y` -> (m, x), (m, y); `from m import *` -> (m, none); relative forms
//    resolved against the module's package; `__import__(...)` calls with
//    constant arguments (name, fromlist positional or keyword, level) that
//    are not inside any other call (its arguments or its callee, as in
//    `__import__("m").f()`); and, beyond torch,
//    `importlib.import_module("m")` / `("..m", "pkg")` under the same rule
//    -> (m, none). Calls with other arguments are ignored, as torch ignores
//    them; an unresolvable relative `__import__` or `import_module` too.
//  - Scans everything: function bodies, class bodies, if/try/with blocks,
//    lambdas, comprehensions and f-string fields. Never reports imports
//    inside strings or comments.
//  - Source that cannot be tokenized (unterminated string or bracket,
//    mismatched bracket, invalid character, stray line continuation) fails
//    with InvalidArgument in the words Python 3.11's ast.parse uses, e.g.
//    "unterminated string literal (detected at line 3) (<unknown>, line 3)"
//    (torch records exactly that text). Other syntax errors are not
//    detected. A relative import statement beyond the top-level package
//    fails with InvalidArgument "attempted relative import beyond top-level
//    package".
//  - Input is untrusted: no recursion proportional to nesting depth, time
//    linear in the source for a given bracket limit, memory a small multiple
//    of it; limits in ImportScanOptions. More brackets nested than
//    max_bracket_depth fail with InvalidArgument "too many nested
//    parentheses" (Python's own limit by default; f-string levels count
//    too); a source or an import call beyond its limit fails with
//    ResourceExhausted.
//  - Given a NameUseCallback, the same pass also hands it every dotted
//    name the code uses (a name not preceded by '.', with the attributes
//    that follow it: `os.path.join`, `eval`), once per use, names after
//    `def`, `class` and in import statements excluded. For a call it comes
//    when the call's ')' is reached, with what the scan can say of the
//    arguments; else when the name ends.
#ifndef HERMETIC_IMPORT_SCAN_H_
#define HERMETIC_IMPORT_SCAN_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
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
  size_t max_source_bytes = size_t{1} << 30;  // at most INT_MAX applies
  // CPython's tokenizer refuses a 201st nested bracket.
  size_t max_bracket_depth = 200;
  // Tokens recorded for the arguments of one `__import__(...)` or
  // `importlib.import_module(...)` call whose constants are read (real calls
  // have a handful).
  size_t max_call_tokens = size_t{1} << 16;
};

Result<std::vector<ImportRef>> ScanImports(
    std::string_view source, std::string_view module_name, bool is_package,
    const ImportScanOptions& options = {});

// Views valid only during the callback.
struct NameUse {
  std::string_view name;  // dotted, without spaces or comments
  int line = 0;           // of its first component
  bool called = false;
  // For calls: every argument is a literal (numbers, strings, containers
  // of them, keyword=literal), as constant `__import__` arguments are.
  bool constant_arguments = false;
  // For calls: the first argument when it is a bare name, else empty.
  std::string_view first_argument;
  // For calls: the string literals directly among the arguments, as
  // written (prefix and quotes included), the first kMaxStringArguments.
  std::span<const std::string_view> string_arguments;
  static constexpr size_t kMaxStringArguments = 4;
};
using NameUseCallback = std::function<void(const NameUse&)>;

Result<std::vector<ImportRef>> ScanImports(std::string_view source,
                                           std::string_view module_name,
                                           bool is_package,
                                           const ImportScanOptions& options,
                                           const NameUseCallback& on_name);

// The package relative imports resolve against: module_name for packages,
// else everything before its last dot (a top-level module is its own
// package, as in torch).
std::string ImportPackageOf(std::string_view module_name, bool is_package);

// torch's _resolve_name: strips level-1 trailing components of package and
// appends name. InvalidArgument if package has too few components.
Result<std::string> ResolveRelative(std::string_view name,
                                    std::string_view package, int level);

}  // namespace hermetic

#endif  // HERMETIC_IMPORT_SCAN_H_
