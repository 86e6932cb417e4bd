// Python string literals as the scanners need them: recognising a prefix and
// evaluating a constant (non-f) str literal (import_scan), and the UTF-8 and
// hex helpers protocol 0's escapes need (pickle_scan). Internal to the core:
// reachable by bare name from every component that links hermetic_util, never
// from the CLI or the bindings.
#ifndef HERMETIC_SRC_UTIL_STRING_LITERAL_H_
#define HERMETIC_SRC_UTIL_STRING_LITERAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hermetic {

struct StringPrefix {
  bool raw = false;
  bool bytes = false;
  bool f = false;
};

// The prefix a word before a quote denotes ("", "r", "Rb", "f", ...), or
// nullopt when the word is an identifier instead.
std::optional<StringPrefix> ParseStringPrefix(std::string_view word);

// The UTF-8 value of one complete str literal (prefix and quotes included).
// nullopt for bytes and f-strings, and for escapes that need Python's
// Unicode database (\N{...}): the scanner then treats the argument as not
// constant.
std::optional<std::string> DecodeStringLiteral(std::string_view literal);

void AppendUtf8(uint32_t code_point, std::string* out);
int HexValue(char c);  // -1 when c is not a hex digit

}  // namespace hermetic

#endif  // HERMETIC_SRC_UTIL_STRING_LITERAL_H_
