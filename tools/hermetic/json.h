// JSON text for the CLI's --json outputs.
#ifndef HERMETIC_TOOLS_HERMETIC_JSON_H_
#define HERMETIC_TOOLS_HERMETIC_JSON_H_

#include <cstdio>
#include <string>
#include <string_view>

namespace hermetic::cli {

// `s` as a JSON string literal (callers pass EscapeName()d names, so the
// text is UTF-8).
inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace hermetic::cli

#endif  // HERMETIC_TOOLS_HERMETIC_JSON_H_
