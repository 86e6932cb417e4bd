// hermetic sign ARCHIVE --key KEY: adds (or replaces) the archive's
// signature, rewriting it atomically.
#include <cstdio>
#include <string>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/manifest.h"
#include "hermetic/posix_file.h"

namespace hermetic::cli {

Status Sign(const std::vector<std::string>& args) {
  if (args.size() != 3 || args[1] != "--key") {
    return Status::InvalidArgument("");
  }
  const std::string& archive = args[0];
  const std::string& key_path = args[2];
  auto text = ReadFile(key_path, "reading " + EscapeName(key_path));
  if (!text.ok()) return text.status();
  auto key = ParseSecretKey(*text, key_path);
  if (!key.ok()) return key.status();
  if (Status s = SignArchive(archive, *key); !s.ok()) return s;
  std::printf("%s: signed by %s\n", EscapeName(archive).c_str(),
              KeyHex(key->public_key()).c_str());
  return Status::Ok();
}

}  // namespace hermetic::cli
