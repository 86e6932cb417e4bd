// hermetic._core's manifest functions: keys, verification, signing. Keys
// cross as the text of their key files (docs/format.md section 7.3), each
// with the name of where it came from, used in errors.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings.h"
#include "hermetic/manifest.h"

namespace hermetic::python {
namespace {

using KeyText = std::pair<std::string, std::string>;  // (text, source)

std::pair<std::string, std::string> GenerateKeyFiles() {
  SecretKey key = ValueOrRaise(GenerateKey());
  return {FormatSecretKey(key), FormatPublicKey(key.public_key())};
}

std::string PublicKeyOf(const KeyText& secret) {
  SecretKey key = ValueOrRaise(ParseSecretKey(secret.first, secret.second));
  return FormatPublicKey(key.public_key());
}

std::tuple<bool, std::optional<std::string>, size_t> VerifyArchiveManifest(
    nb::handle reader, const std::vector<KeyText>& trusted_keys,
    bool require_manifest) {
  VerifyOptions options;
  options.require_manifest = require_manifest;
  for (const auto& [text, source] : trusted_keys) {
    options.trusted_keys.push_back(ValueOrRaise(ParsePublicKey(text, source)));
  }
  VerifyReport report;
  RunOnArchiveReader(reader, [&](ArchiveReader& r) {
    auto result = VerifyManifest(r, options);
    if (!result.ok()) return result.status();
    report = *result;
    return Status::Ok();
  });
  std::optional<std::string> signer;
  if (report.signer) signer = KeyHex(*report.signer);
  return {report.has_manifest, signer, report.records_checked};
}

std::string SignArchiveFile(const std::string& path, const KeyText& secret) {
  SecretKey key = ValueOrRaise(ParseSecretKey(secret.first, secret.second));
  Status s;
  {
    nb::gil_scoped_release nogil;
    s = SignArchive(path, key);
  }
  ThrowIfError(s);
  return KeyHex(key.public_key());
}

}  // namespace

std::unique_ptr<ArchiveWriter> WithManifest(
    std::unique_ptr<ArchiveWriter> writer, bool reproducible,
    const std::optional<KeyText>& sign_with, uint32_t version) {
  ManifestWriteOptions options;
  options.reproducible = reproducible;
  options.version = version;
  if (sign_with) {
    options.sign_with =
        ValueOrRaise(ParseSecretKey(sign_with->first, sign_with->second));
  }
  return WrapWithManifest(std::move(writer), std::move(options));
}

void BindManifest(nb::module_& m) {
  m.attr("MANIFEST_RECORD") = std::string(kManifestRecord);
  m.attr("SIGNATURE_RECORD") = std::string(kSignatureRecord);
  m.def("generate_key", &GenerateKeyFiles,
        "A new Ed25519 key pair: (secret key file text, public key file "
        "text).");
  m.def("public_key_of", &PublicKeyOf, nb::arg("secret_key"),
        "The public key file text of a (secret key file text, source) pair.");
  m.def("verify_manifest", &VerifyArchiveManifest, nb::arg("reader"),
        nb::arg("trusted_keys"), nb::arg("require_manifest") = false,
        "Checks reader's records against its manifest and signature: "
        "(has_manifest, signer key hex or None, records checked); "
        "IntegrityError on any mismatch.");
  m.def("sign_archive", &SignArchiveFile, nb::arg("path"),
        nb::arg("secret_key"),
        "Rewrites the archive at path with a signature of its manifest; "
        "returns the signer's key hex.");
}

}  // namespace hermetic::python
