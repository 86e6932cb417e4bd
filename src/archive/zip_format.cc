#include "zip_format.h"

#include <libdeflate.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "hermetic/archive.h"

namespace hermetic {

uint32_t Crc32(uint32_t crc, std::span<const uint8_t> data) {
  return libdeflate_crc32(crc, data.data(), data.size());
}

std::string EscapeName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  auto hex = [&](size_t from, size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    for (size_t k = from; k < from + n; ++k) {
      const auto b = static_cast<unsigned char>(name[k]);
      out += "\\x";
      out += kDigits[b >> 4];
      out += kDigits[b & 15];
    }
  };
  for (size_t i = 0; i < name.size();) {
    uint32_t cp = 0;
    const size_t n = zip::Utf8SequenceAt(name, i, &cp);
    if (n == 0) {
      hex(i, 1);
      ++i;
      continue;
    }
    const bool control = cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
    const bool bidi = (cp >= 0x202A && cp <= 0x202E) ||
                      (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
                      cp == 0x200F || cp == 0x061C;
    if (control || bidi) {
      hex(i, n);
    } else if (cp == '\\') {
      out += "\\\\";
    } else {
      out.append(name.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::optional<std::string> UnescapeName(std::string_view text) {
  auto hex_digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // EscapeName writes lower case only
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '\\') {
      out += '\\';
      ++i;
      continue;
    }
    if (i + 3 >= text.size() || text[i + 1] != 'x') return std::nullopt;
    const int hi = hex_digit(text[i + 2]);
    const int lo = hex_digit(text[i + 3]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 3;
  }
  // Re-escaping refuses every escape EscapeName would not have written.
  if (EscapeName(out) != text) return std::nullopt;
  return out;
}

bool IsValidUtf8(std::string_view text) { return zip::IsValidUtf8(text); }

Status CheckRecordName(std::string_view name) {
  std::string_view problem = zip::NameProblem(name);
  if (problem.empty()) return Status::Ok();
  return Status::InvalidArgument("invalid record name '" + std::string(name) +
                                 "': " + std::string(problem));
}

namespace zip {

std::string_view NameProblem(std::string_view name) {
  if (name.empty()) return "empty name";
  if (name.front() == '/') return "absolute path";
  if (name.find('\0') != std::string_view::npos) return "NUL in name";
  if (name.find('\\') != std::string_view::npos) return "backslash in name";
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view part = name.substr(start, end - start);
    if (part.empty()) return "empty path component";
    if (part == "..") return "'..' component";
    if (part == ".") return "'.' component";
    start = end + 1;
  }
  return {};
}

size_t Utf8SequenceAt(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t v, min;
  if ((c & 0xE0) == 0xC0) {
    n = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

bool IsValidUtf8(std::string_view s) {
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceAt(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace zip
}  // namespace hermetic
