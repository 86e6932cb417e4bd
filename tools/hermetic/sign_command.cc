// hermetic sign ARCHIVE --key KEY: adds (or replaces) the archive's
// signature, rewriting it atomically.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/manifest.h"
#include "hermetic/posix_file.h"

namespace hermetic::cli {

int Sign(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "sign",
                             .flags = {},
                             .options = {"--key"},
                             .required = {"ARCHIVE"},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  const std::vector<std::string>& keys = a->Values("--key");
  if (keys.size() != 1) {
    return UsageError("sign", keys.empty() ? "missing --key KEY"
                                           : "--key given more than once");
  }
  const std::string& archive = a->positional[0];
  const std::string& key_path = keys[0];
  auto text = ReadFile(key_path, "reading " + EscapeName(key_path));
  if (!text.ok()) return Fail(text.status());
  auto key = ParseSecretKey(*text, key_path);
  if (!key.ok()) return Fail(key.status());
  if (Status s = SignArchive(archive, *key); !s.ok()) return Fail(s);
  std::printf("%s: signed by %s\n", EscapeName(archive).c_str(),
              KeyHex(key->public_key()).c_str());
  return kExitOk;
}

}  // namespace hermetic::cli
