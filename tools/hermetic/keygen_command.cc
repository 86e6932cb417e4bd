// hermetic keygen KEY: a new Ed25519 key pair, KEY (secret) and KEY.pub.
#include <fcntl.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/manifest.h"
#include "hermetic/posix_file.h"

namespace hermetic::cli {
namespace {

// A new file (never an existing one: a key is not silently replaced).
Status WriteNewFile(const std::string& path, std::string_view text,
                    mode_t mode) {
  const std::string context = "writing " + EscapeName(path);
  auto fd =
      Fd::Open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, context, mode);
  if (!fd.ok()) return fd.status();
  Status s = WriteFull(
      *fd, {reinterpret_cast<const uint8_t*>(text.data()), text.size()},
      context);
  if (!s.ok()) return s;
  return fd->Close(context);
}

}  // namespace

int Keygen(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "keygen",
                             .flags = {},
                             .options = {},
                             .required = {"KEY"},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  auto key = GenerateKey();
  if (!key.ok()) return Fail(key.status());
  const std::string& path = a->positional[0];
  const std::string pub_path = path + ".pub";
  const PublicKey pub = key->public_key();
  if (Status s = WriteNewFile(path, FormatSecretKey(*key), 0600); !s.ok()) {
    return Fail(s);
  }
  if (Status s = WriteNewFile(pub_path, FormatPublicKey(pub), 0644); !s.ok()) {
    return Fail(s);
  }
  std::printf("wrote %s (secret) and %s (public key %s)\n",
              EscapeName(path).c_str(), EscapeName(pub_path).c_str(),
              KeyHex(pub).c_str());
  return kExitOk;
}

}  // namespace hermetic::cli
