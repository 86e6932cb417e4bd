#include "string_literal.h"

#include <cstdint>

namespace hermetic {

std::optional<StringPrefix> ParseStringPrefix(std::string_view word) {
  if (word.size() > 2) return std::nullopt;
  StringPrefix p;
  bool unicode = false;
  for (char c : word) {
    switch (c | 0x20) {  // ASCII lower case
      case 'r':
        if (p.raw) return std::nullopt;
        p.raw = true;
        break;
      case 'b':
        if (p.bytes) return std::nullopt;
        p.bytes = true;
        break;
      case 'f':
        if (p.f) return std::nullopt;
        p.f = true;
        break;
      case 'u':
        if (unicode) return std::nullopt;
        unicode = true;
        break;
      default:
        return std::nullopt;
    }
  }
  if (unicode && word.size() > 1) return std::nullopt;
  if (p.bytes && p.f) return std::nullopt;
  return p;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> DecodeStringLiteral(std::string_view literal) {
  size_t quote = literal.find_first_of("'\"");
  if (quote == std::string_view::npos) return std::nullopt;
  std::optional<StringPrefix> prefix =
      ParseStringPrefix(literal.substr(0, quote));
  if (!prefix || prefix->bytes || prefix->f) return std::nullopt;
  size_t delim = literal.size() - quote >= 6 &&
                         literal[quote + 1] == literal[quote] &&
                         literal[quote + 2] == literal[quote]
                     ? 3
                     : 1;
  std::string_view body =
      literal.substr(quote + delim, literal.size() - quote - 2 * delim);
  if (prefix->raw) return std::string(body);
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size();) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out.push_back(body[i++]);
      continue;
    }
    char e = body[i + 1];
    i += 2;
    switch (e) {
      case '\n':
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
        out.push_back('\'');
        break;
      case '"':
        out.push_back('"');
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (body.size() - i < digits) return std::nullopt;
        uint32_t cp = 0;
        for (size_t k = 0; k < digits; ++k) {
          int h = HexValue(body[i + k]);
          if (h < 0) return std::nullopt;
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (cp > 0x10FFFF) return std::nullopt;
        AppendUtf8(cp, &out);
        i += digits;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0;
               k < 2 && i < body.size() && body[i] >= '0' && body[i] <= '7';
               ++k) {
            cp = cp * 8 + static_cast<uint32_t>(body[i++] - '0');
          }
          AppendUtf8(cp, &out);
        } else if (e == 'N') {
          return std::nullopt;
        } else {
          // Unknown escapes keep their backslash.
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }
  return out;
}

}  // namespace hermetic
