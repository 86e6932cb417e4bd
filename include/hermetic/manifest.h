// Manifest and signature: what an archive contained when it was written, and
// who vouches for it (docs/format.md section 8 is the normative format).
//
// Contract:
//  - The manifest is the record ".data/hermetic/manifest": a line-based text
//    listing the SHA-256 and size of every other record but the signature,
//    the generator ("hermetic <version>") and, unless the exporter asked for
//    reproducible output, the creation time. Exactly one byte sequence
//    encodes a given Manifest (SerializeManifest); ParseManifest accepts
//    only that sequence, so a signature is over well-defined bytes.
//  - The signature is the record ".data/hermetic/signature": an Ed25519
//    signature of the manifest record's exact bytes and the signer's public
//    key. It vouches for the manifest, which vouches for every record.
//  - Torch.package's importer ignores both (it skips every ".data/" name),
//    so a manifest-bearing archive loads there unchanged.
//  - Everything read from an archive is untrusted: every field may lie.
//    Parsing checks each field against the format and ManifestOptions
//    limits before use; VerifyManifest hashes every record (streamed,
//    bounded memory) and refuses a record changed, added or removed, a
//    manifest that does not parse, and a signature that does not verify, as
//    kIntegrity naming the archive and the record.
//  - Crypto is libsodium's (crypto_hash_sha256, crypto_sign_ed25519): small,
//    audited, Ed25519 in one call with no parameters to get wrong, and in
//    Debian (libsodium-dev). Nothing here implements a primitive itself.
//  - Secret keys are wiped (sodium_memzero) when a SecretKey is destroyed.
#ifndef HERMETIC_MANIFEST_H_
#define HERMETIC_MANIFEST_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/status.h"

namespace hermetic {

inline constexpr std::string_view kManifestRecord = ".data/hermetic/manifest";
inline constexpr std::string_view kSignatureRecord = ".data/hermetic/signature";

using Sha256Digest = std::array<uint8_t, 32>;

struct ManifestEntry {
  std::string name;  // record name, without the top-level folder
  uint64_t size = 0;
  Sha256Digest sha256{};
};

struct Manifest {
  std::string generator;               // e.g. "hermetic 0.1.0"
  std::optional<std::string> created;  // "YYYY-MM-DDTHH:MM:SSZ" (UTC)
  std::vector<ManifestEntry> records;  // strictly increasing by name bytes
};

// Limits on a manifest read from an archive.
struct ManifestOptions {
  uint64_t max_manifest_size = uint64_t{256} << 20;
  uint64_t max_records = uint64_t{1} << 22;
  uint64_t max_name_length = 4096;  // unescaped bytes
};

// The generator line this build writes: "hermetic <version>".
std::string_view ManifestGenerator();

// The canonical bytes of `manifest` (records must already be sorted and
// unique; SerializeManifest does not check).
std::string SerializeManifest(const Manifest& manifest);
// The manifest encoded by `bytes`, read from record kManifestRecord of
// `archive` (used in messages). kIntegrity for anything but canonical bytes.
Result<Manifest> ParseManifest(std::span<const uint8_t> bytes,
                               std::string_view archive,
                               const ManifestOptions& options = {});

// SHA-256 of `data`.
Sha256Digest Sha256(std::span<const uint8_t> data);

struct PublicKey {
  std::array<uint8_t, 32> bytes{};
  bool operator==(const PublicKey&) const = default;
};

class SecretKey {
 public:
  SecretKey() = default;
  SecretKey(const SecretKey& other) = default;
  SecretKey& operator=(const SecretKey& other) = default;
  ~SecretKey();
  // libsodium's Ed25519 secret key: the 32-byte seed then the public key.
  std::array<uint8_t, 64> bytes{};
  PublicKey public_key() const;
};

// A fresh key pair from the system's random source.
Result<SecretKey> GenerateKey();

// Key files (docs/format.md section 8.3): a header line, then the key in
// lowercase hex and a newline.
std::string FormatPublicKey(const PublicKey& key);
std::string FormatSecretKey(const SecretKey& key);
// InvalidArgument naming `source` (a file name) for anything else. A secret
// key whose public half does not match its seed is refused.
Result<PublicKey> ParsePublicKey(std::string_view text,
                                 std::string_view source);
Result<SecretKey> ParseSecretKey(std::string_view text,
                                 std::string_view source);
// Lowercase hex, as printed in reports.
std::string KeyHex(const PublicKey& key);

// The signature record's bytes for manifest record bytes `manifest`.
std::string SignManifest(std::span<const uint8_t> manifest,
                         const SecretKey& key);

struct ManifestWriteOptions {
  // Omit the creation time, so the same records give the same archive.
  bool reproducible = false;
  // Also write a signature record.
  std::optional<SecretKey> sign_with;
  // The version record the inner writer's Finish would add (WriterOptions
  // version): the framework records are written here first so that the
  // manifest covers them.
  uint32_t version = 6;
};

// An ArchiveWriter that passes everything to `inner` and hashes each record
// as it goes; Finish writes the framework records (WriteFrameworkRecords:
// version, byteorder, serialization id, where missing), the manifest
// and, when asked, the signature, then finishes `inner`. The manifest names
// are reserved: writing them is InvalidArgument.
std::unique_ptr<ArchiveWriter> WrapWithManifest(
    std::unique_ptr<ArchiveWriter> inner, ManifestWriteOptions options);

struct VerifyOptions {
  ManifestOptions manifest;
  // When non-empty, the archive must carry a valid signature by one of
  // these keys (an unsigned archive is refused).
  std::vector<PublicKey> trusted_keys;
  // Refuse an archive without a manifest (implied by trusted_keys).
  bool require_manifest = false;
  // Called after each record is hashed, with its size (a progress line).
  std::function<void(uint64_t bytes)> on_record_hashed;
};

struct VerifyReport {
  bool has_manifest = false;
  std::optional<PublicKey> signer;  // set when a valid signature is present
  size_t records_checked = 0;       // records hashed against the manifest
};

// Checks the manifest (when present) against every record of `reader`, and
// the signature (when present, and against trusted_keys when given).
// kIntegrity naming the archive and the record for any mismatch; the
// reader's own errors (CRC, I/O) as they are.
Result<VerifyReport> VerifyManifest(ArchiveReader& reader,
                                    const VerifyOptions& options = {});

// Rewrites the archive at `path` (atomically: a temporary renamed over it)
// with every record as it is plus a signature by `key`, replacing an older
// signature. A manifest is verified first (a tampered archive is refused,
// kIntegrity) and kept as it is; an archive without one (torch.package's)
// gets a new manifest of its records, with the time.
Status SignArchive(const std::string& path, const SecretKey& key,
                   const ManifestOptions& options = {});

}  // namespace hermetic

#endif  // HERMETIC_MANIFEST_H_
