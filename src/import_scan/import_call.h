// The imports one `__import__(...)` or `importlib.import_module(...)` call
// contributes, read from the tokens of its arguments as torch's visit_Call
// reads the AST: only arguments that are constants of the expected shape
// count; anything else makes the call contribute nothing.
#ifndef HERMETIC_SRC_IMPORT_SCAN_IMPORT_CALL_H_
#define HERMETIC_SRC_IMPORT_SCAN_IMPORT_CALL_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "hermetic/import_scan.h"
#include "token.h"

namespace hermetic::import_scan {

enum class Callee : uint8_t { kNone, kDunderImport, kImportModule };

// Appends to *out what a finished call to `callee` imports, given the tokens
// between its parentheses; package is what relative names resolve against.
// Time and memory are linear in args.size().
void ReadImportCall(Callee callee, const std::vector<Token>& args,
                    std::string_view package, std::vector<ImportRef>* out);

}  // namespace hermetic::import_scan

#endif  // HERMETIC_SRC_IMPORT_SCAN_IMPORT_CALL_H_
