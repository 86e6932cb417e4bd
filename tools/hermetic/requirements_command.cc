// hermetic requirements ARCHIVE: the distributions the package's externs
// came from, as a pip requirements file, read from the environment record
// (.data/hermetic/environment, docs/format.md section 10).
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "json.h"

namespace hermetic::cli {

int Requirements(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "requirements",
                             .flags = {"--json"},
                             .options = {},
                             .required = {"ARCHIVE"},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  const std::string& path = a->positional[0];
  auto reader = ArchiveReader::OpenPath(path);
  if (!reader.ok()) return Fail(reader.status());
  Result<std::vector<uint8_t>> record =
      (*reader)->Read(".data/hermetic/environment");
  if (!record.ok()) {
    if (record.status().code() == StatusCode::kNotFound) {
      std::fprintf(stderr,
                   "hermetic requirements: %s records no environment (export "
                   "it with PackageExporter(..., environment=True))\n",
                   EscapeName(path).c_str());
    }
    return Fail(record.status());
  }
  const std::vector<std::string> pins = EnvironmentPins(std::string_view(
      reinterpret_cast<const char*>(record->data()), record->size()));
  std::string out;
  if (a->Has("--json")) {
    out = "{\"requirements\": [";
    bool first = true;
    for (const std::string& pin : pins) {
      out.append(first ? "" : ", ").append(JsonString(pin));
      first = false;
    }
    out += "]}\n";
  } else {
    for (const std::string& pin : pins) out.append(pin).append("\n");
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace hermetic::cli
