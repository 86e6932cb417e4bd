// The tokens the import scanner's lexer produces and import_call reads back.
#ifndef HERMETIC_SRC_IMPORT_SCAN_TOKEN_H_
#define HERMETIC_SRC_IMPORT_SCAN_TOKEN_H_

#include <cstdint>
#include <string_view>

namespace hermetic::import_scan {

enum class TokenKind : uint8_t {
  kName,
  kNumber,
  kString,   // a complete non-f string literal
  kFString,  // an f-string, only ever recorded as one opaque atom
  kOp,
  kNewline,
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  // Operators by a single char, so the hot checks are char compares: the
  // operator itself when one char long, 'E' for "...", 'W' for ":=", 'O'
  // for any other multi-char operator, '"' for the end of an f-string; 0
  // for non-operators.
  char op = 0;
  bool keyword = false;   // a hard keyword (kName only)
  std::string_view text;  // for kString: the whole literal incl. prefix
  int line = 0;
};

}  // namespace hermetic::import_scan

#endif  // HERMETIC_SRC_IMPORT_SCAN_TOKEN_H_
