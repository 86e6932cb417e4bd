#include "archive/zip_format.h"

#include <libdeflate.h>

#include <span>

#include "hermetic/archive.h"

namespace hermetic {

uint32_t Crc32(uint32_t crc, std::span<const uint8_t> data) {
  return libdeflate_crc32(crc, data.data(), data.size());
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

}  // namespace zip
}  // namespace hermetic
