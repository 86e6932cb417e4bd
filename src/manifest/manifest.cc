// Manifest text, keys and signatures (format: docs/format.md section 8).
#include "hermetic/manifest.h"

#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace hermetic {
namespace {

constexpr std::string_view kManifestHeader = "hermetic-manifest 1\n";
constexpr std::string_view kSignatureHeader = "hermetic-signature 1\n";
constexpr std::string_view kPublicKeyHeader = "hermetic-ed25519-public-key 1\n";
constexpr std::string_view kSecretKeyHeader = "hermetic-ed25519-secret-key 1\n";
constexpr size_t kMaxGenerator = 256;

std::string Hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not canonical
}

// Lowercase hex of exactly out.size() bytes.
bool ParseHex(std::string_view text, std::span<uint8_t> out) {
  if (text.size() != out.size() * 2) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexDigit(text[2 * i]);
    int lo = HexDigit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

Status EnsureSodium() {
  // sodium_init is idempotent and thread-safe; it fails only when the
  // system's random source cannot be opened.
  if (sodium_init() < 0) return Status::Internal("libsodium failed to start");
  return Status::Ok();
}

// For functions that cannot fail: only key generation needs the random
// source, the one thing sodium_init can fail to open.
void InitSodium() { static_cast<void>(EnsureSodium()); }

bool ValidTime(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SSZ
  if (t.size() != 20) return false;
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  for (size_t i = 0; i < t.size(); ++i) {
    if (kShape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != kShape[i]) {
      return false;
    }
  }
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) v = v * 10 + (t[i] - '0');
    return v;
  };
  return num(5, 2) >= 1 && num(5, 2) <= 12 && num(8, 2) >= 1 &&
         num(8, 2) <= 31 && num(11, 2) <= 23 && num(14, 2) <= 59 &&
         num(17, 2) <= 60;
}

std::string NowUtc() {
  using namespace std::chrono;
  const auto now = floor<seconds>(system_clock::now());
  const auto day = floor<days>(now);
  const year_month_day ymd{day};
  const hh_mm_ss hms{now - day};
  char buf[32];
  std::snprintf(
      buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ",
      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
      static_cast<int>(hms.minutes().count()),
      static_cast<int>(hms.seconds().count()));
  return buf;
}

// Splits off the next line (without its '\n'); false if no '\n' is left.
bool NextLine(std::string_view* rest, std::string_view* line) {
  size_t nl = rest->find('\n');
  if (nl == std::string_view::npos) return false;
  *line = rest->substr(0, nl);
  rest->remove_prefix(nl + 1);
  return true;
}

bool ParseDecimal(std::string_view text, uint64_t* out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool Reserved(std::string_view name) {
  return name == kManifestRecord || name == kSignatureRecord;
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class ManifestWriter final : public ArchiveWriter {
 public:
  ManifestWriter(std::unique_ptr<ArchiveWriter> inner,
                 ManifestWriteOptions options)
      : inner_(std::move(inner)), options_(std::move(options)) {}

  const std::string& archive_name() const override {
    return inner_->archive_name();
  }

  using ArchiveWriter::WriteRecord;
  Status WriteRecord(std::string_view name, std::span<const uint8_t> data,
                     Compression compression) override {
    if (Status s = Refuse(name); !s.ok()) return s;
    if (Status s = inner_->WriteRecord(name, data, compression); !s.ok()) {
      return s;
    }
    entries_.push_back({std::string(name), data.size(), Sha256(data)});
    return Status::Ok();
  }

  Status BeginRecord(std::string_view name) override {
    if (Status s = Refuse(name); !s.ok()) return s;
    if (Status s = inner_->BeginRecord(name); !s.ok()) return s;
    crypto_hash_sha256_init(&state_);
    open_ = ManifestEntry{std::string(name), 0, {}};
    return Status::Ok();
  }
  Status Append(std::span<const uint8_t> piece) override {
    if (Status s = inner_->Append(piece); !s.ok()) return s;
    crypto_hash_sha256_update(&state_, piece.data(), piece.size());
    open_->size += piece.size();
    return Status::Ok();
  }
  Status EndRecord() override {
    if (Status s = inner_->EndRecord(); !s.ok()) return s;
    crypto_hash_sha256_final(&state_, open_->sha256.data());
    entries_.push_back(std::move(*open_));
    open_.reset();
    return Status::Ok();
  }

  bool HasRecord(std::string_view name) const override {
    return inner_->HasRecord(name);
  }
  std::vector<std::string> RecordNames() const override {
    return inner_->RecordNames();
  }
  std::string SerializationId() const override {
    return inner_->SerializationId();
  }

  Status Finish() override {
    if (inner_->finished()) return inner_->Finish();  // its error
    // Through this writer, so that the manifest covers them.
    if (Status s = WriteFrameworkRecords(*this, options_.version); !s.ok()) {
      return s;
    }
    Manifest manifest;
    manifest.generator = std::string(ManifestGenerator());
    if (!options_.reproducible) manifest.created = NowUtc();
    manifest.records = std::move(entries_);
    entries_.clear();
    std::sort(manifest.records.begin(), manifest.records.end(),
              [](const ManifestEntry& a, const ManifestEntry& b) {
                return a.name < b.name;
              });
    const std::string text = SerializeManifest(manifest);
    if (Status s = inner_->WriteRecord(kManifestRecord, Bytes(text),
                                       Compression::kDeflate);
        !s.ok()) {
      return s;
    }
    if (options_.sign_with) {
      const std::string sig = SignManifest(Bytes(text), *options_.sign_with);
      if (Status s = inner_->WriteRecord(kSignatureRecord, Bytes(sig));
          !s.ok()) {
        return s;
      }
    }
    return inner_->Finish();
  }
  void Abort() override { inner_->Abort(); }
  bool finished() const override { return inner_->finished(); }

 private:
  static Status Refuse(std::string_view name) {
    if (!Reserved(name)) return Status::Ok();
    return Status::InvalidArgument("record name '" + EscapeName(name) +
                                   "' is reserved for the manifest");
  }

  std::unique_ptr<ArchiveWriter> inner_;
  ManifestWriteOptions options_;
  std::vector<ManifestEntry> entries_;
  std::optional<ManifestEntry> open_;
  crypto_hash_sha256_state state_{};
};

struct Signature {
  PublicKey key;
  std::array<uint8_t, crypto_sign_BYTES> sig{};
};

std::string SerializeSignature(const Signature& s) {
  return std::string(kSignatureHeader) + "ed25519 " + Hex(s.key.bytes) + " " +
         Hex(s.sig) + "\n";
}

Result<Signature> ParseSignature(std::span<const uint8_t> bytes,
                                 const std::string& where) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()),
                        bytes.size());
  Signature s;
  const size_t key_at = kSignatureHeader.size() + 8;
  const size_t sig_at = key_at + 64 + 1;
  const size_t size = sig_at + 128 + 1;
  if (text.size() != size || !text.starts_with(kSignatureHeader) ||
      text.substr(kSignatureHeader.size(), 8) != "ed25519 " ||
      !ParseHex(text.substr(key_at, 64), s.key.bytes) ||
      text[sig_at - 1] != ' ' || !ParseHex(text.substr(sig_at, 128), s.sig) ||
      text.back() != '\n') {
    return Status::Integrity(where + ": malformed signature record");
  }
  return s;
}

// Streams `name` through SHA-256 (the reader checks its CRC too).
Result<std::pair<Sha256Digest, uint64_t>> HashRecord(ArchiveReader& reader,
                                                     std::string_view name) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  uint64_t size = 0;
  Status s = reader.Stream(name, [&](std::span<const uint8_t> piece) {
    crypto_hash_sha256_update(&state, piece.data(), piece.size());
    size += piece.size();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  Sha256Digest digest;
  crypto_hash_sha256_final(&state, digest.data());
  return std::make_pair(digest, size);
}

Result<std::vector<uint8_t>> ReadBounded(ArchiveReader& reader,
                                         const RecordInfo& info, uint64_t limit,
                                         const std::string& where) {
  if (info.size > limit) {
    return Status::Integrity(where + ": record " + EscapeName(info.name) +
                             " is larger than the limit of " +
                             std::to_string(limit) + " bytes");
  }
  return reader.Read(info.name);
}

}  // namespace

std::string_view ManifestGenerator() { return "hermetic " HERMETIC_VERSION; }

Sha256Digest Sha256(std::span<const uint8_t> data) {
  InitSodium();
  Sha256Digest out;
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

std::string SerializeManifest(const Manifest& manifest) {
  std::string out(kManifestHeader);
  out += "generator " + manifest.generator + "\n";
  if (manifest.created) out += "created " + *manifest.created + "\n";
  for (const ManifestEntry& e : manifest.records) {
    out += "record " + Hex(e.sha256) + " " + std::to_string(e.size) + " " +
           EscapeName(e.name) + "\n";
  }
  out += "end " + std::to_string(manifest.records.size()) + "\n";
  return out;
}

Result<Manifest> ParseManifest(std::span<const uint8_t> bytes,
                               std::string_view archive,
                               const ManifestOptions& options) {
  const std::string where = "archive " + EscapeName(archive) + ", record " +
                            std::string(kManifestRecord);
  auto fail = [&](size_t line, const std::string& why) {
    return Status::Integrity(where + ", line " + std::to_string(line) + ": " +
                             why);
  };
  if (bytes.size() > options.max_manifest_size) {
    return Status::Integrity(where + ": larger than the limit of " +
                             std::to_string(options.max_manifest_size) +
                             " bytes");
  }
  std::string_view rest(reinterpret_cast<const char*>(bytes.data()),
                        bytes.size());
  if (!rest.starts_with(kManifestHeader)) {
    return fail(1, "not a hermetic-manifest 1 header");
  }
  rest.remove_prefix(kManifestHeader.size());
  Manifest m;
  std::string_view line;
  size_t number = 2;
  if (!NextLine(&rest, &line) || !line.starts_with("generator ")) {
    return fail(number, "expected 'generator'");
  }
  m.generator = std::string(line.substr(10));
  if (m.generator.empty() || m.generator.size() > kMaxGenerator ||
      !std::all_of(m.generator.begin(), m.generator.end(),
                   [](char c) { return c >= 0x20 && c <= 0x7e; })) {
    return fail(number, "generator must be 1 to 256 printable ASCII bytes");
  }
  ++number;
  if (!NextLine(&rest, &line)) return fail(number, "truncated");
  if (line.starts_with("created ")) {
    if (!ValidTime(line.substr(8))) {
      return fail(number, "created must be YYYY-MM-DDTHH:MM:SSZ");
    }
    m.created = std::string(line.substr(8));
    ++number;
    if (!NextLine(&rest, &line)) return fail(number, "truncated");
  }
  while (line.starts_with("record ")) {
    if (m.records.size() >= options.max_records) {
      return fail(number, "more than the limit of " +
                              std::to_string(options.max_records) + " records");
    }
    std::string_view f = line.substr(7);
    ManifestEntry e;
    size_t sp1 = f.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : f.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos ||
        !ParseHex(f.substr(0, sp1), e.sha256)) {
      return fail(number, "expected 'record <sha256> <size> <name>'");
    }
    if (!ParseDecimal(f.substr(sp1 + 1, sp2 - sp1 - 1), &e.size)) {
      return fail(number, "bad size");
    }
    std::string_view escaped = f.substr(sp2 + 1);
    if (escaped.size() > 4 * options.max_name_length) {
      return fail(number, "name longer than the limit");
    }
    std::optional<std::string> name = UnescapeName(escaped);
    if (!name || name->size() > options.max_name_length ||
        !CheckRecordName(*name).ok() || Reserved(*name)) {
      return fail(number,
                  "bad record name '" + EscapeName(std::string(escaped)) + "'");
    }
    e.name = std::move(*name);
    if (!m.records.empty() && !(m.records.back().name < e.name)) {
      return fail(number, "records not in strictly increasing name order");
    }
    m.records.push_back(std::move(e));
    ++number;
    if (!NextLine(&rest, &line)) return fail(number, "truncated");
  }
  uint64_t count = 0;
  if (!line.starts_with("end ") || !ParseDecimal(line.substr(4), &count)) {
    return fail(number, "expected 'record' or 'end'");
  }
  if (count != m.records.size()) {
    return fail(number, "end counts " + std::to_string(count) +
                            " records, the manifest lists " +
                            std::to_string(m.records.size()));
  }
  if (!rest.empty()) return fail(number + 1, "bytes after 'end'");
  return m;
}

SecretKey::~SecretKey() { sodium_memzero(bytes.data(), bytes.size()); }

PublicKey SecretKey::public_key() const {
  PublicKey key;
  crypto_sign_ed25519_sk_to_pk(key.bytes.data(), bytes.data());
  return key;
}

Result<SecretKey> GenerateKey() {
  if (Status s = EnsureSodium(); !s.ok()) return s;
  SecretKey key;
  PublicKey pub;
  crypto_sign_keypair(pub.bytes.data(), key.bytes.data());
  return key;
}

std::string KeyHex(const PublicKey& key) { return Hex(key.bytes); }

std::string FormatPublicKey(const PublicKey& key) {
  return std::string(kPublicKeyHeader) + Hex(key.bytes) + "\n";
}

std::string FormatSecretKey(const SecretKey& key) {
  return std::string(kSecretKeyHeader) + Hex(key.bytes) + "\n";
}

Result<PublicKey> ParsePublicKey(std::string_view text,
                                 std::string_view source) {
  PublicKey key;
  if (text.size() != kPublicKeyHeader.size() + 65 ||
      !text.starts_with(kPublicKeyHeader) || text.back() != '\n' ||
      !ParseHex(text.substr(kPublicKeyHeader.size(), 64), key.bytes)) {
    return Status::InvalidArgument(EscapeName(source) +
                                   ": not a hermetic Ed25519 public key file");
  }
  return key;
}

Result<SecretKey> ParseSecretKey(std::string_view text,
                                 std::string_view source) {
  if (Status s = EnsureSodium(); !s.ok()) return s;
  SecretKey key;
  if (text.size() != kSecretKeyHeader.size() + 129 ||
      !text.starts_with(kSecretKeyHeader) || text.back() != '\n' ||
      !ParseHex(text.substr(kSecretKeyHeader.size(), 128), key.bytes)) {
    return Status::InvalidArgument(EscapeName(source) +
                                   ": not a hermetic Ed25519 secret key file");
  }
  // The public half is stored beside the seed; a key whose halves disagree
  // would sign with one key and claim another.
  std::array<uint8_t, 32> seed_pub;
  std::array<uint8_t, 64> check;
  crypto_sign_seed_keypair(seed_pub.data(), check.data(), key.bytes.data());
  const bool match = sodium_memcmp(check.data(), key.bytes.data(), 64) == 0;
  sodium_memzero(check.data(), check.size());
  if (!match) {
    return Status::InvalidArgument(EscapeName(source) +
                                   ": secret key's public half does not match");
  }
  return key;
}

std::string SignManifest(std::span<const uint8_t> manifest,
                         const SecretKey& key) {
  InitSodium();
  Signature s;
  s.key = key.public_key();
  crypto_sign_detached(s.sig.data(), nullptr, manifest.data(), manifest.size(),
                       key.bytes.data());
  return SerializeSignature(s);
}

std::unique_ptr<ArchiveWriter> WrapWithManifest(
    std::unique_ptr<ArchiveWriter> inner, ManifestWriteOptions options) {
  InitSodium();
  return std::make_unique<ManifestWriter>(std::move(inner), std::move(options));
}

Result<VerifyReport> VerifyManifest(ArchiveReader& reader,
                                    const VerifyOptions& options) {
  if (Status s = EnsureSodium(); !s.ok()) return s;
  const std::string where = "archive " + EscapeName(reader.display_name());
  VerifyReport report;
  const RecordInfo* manifest_info = reader.Find(kManifestRecord);
  const RecordInfo* signature_info = reader.Find(kSignatureRecord);
  if (manifest_info == nullptr) {
    if (signature_info != nullptr) {
      return Status::Integrity(where + ": has a signature but no manifest");
    }
    if (options.require_manifest || !options.trusted_keys.empty()) {
      return Status::Integrity(where + ": has no manifest (" +
                               std::string(kManifestRecord) + ")");
    }
    return report;
  }
  report.has_manifest = true;
  auto manifest_bytes = ReadBounded(reader, *manifest_info,
                                    options.manifest.max_manifest_size, where);
  if (!manifest_bytes.ok()) return manifest_bytes.status();
  auto manifest =
      ParseManifest(*manifest_bytes, reader.display_name(), options.manifest);
  if (!manifest.ok()) return manifest.status();

  if (signature_info != nullptr) {
    auto sig_bytes = ReadBounded(reader, *signature_info, 4096, where);
    if (!sig_bytes.ok()) return sig_bytes.status();
    auto sig = ParseSignature(
        *sig_bytes, where + ", record " + std::string(kSignatureRecord));
    if (!sig.ok()) return sig.status();
    if (crypto_sign_verify_detached(sig->sig.data(), manifest_bytes->data(),
                                    manifest_bytes->size(),
                                    sig->key.bytes.data()) != 0) {
      return Status::Integrity(where + ": the signature by key " +
                               KeyHex(sig->key) +
                               " does not match the manifest");
    }
    report.signer = sig->key;
  }
  if (!options.trusted_keys.empty()) {
    if (!report.signer) {
      return Status::Integrity(where + ": is not signed (" +
                               std::string(kSignatureRecord) +
                               " is missing) but trusted keys were given");
    }
    if (std::find(options.trusted_keys.begin(), options.trusted_keys.end(),
                  *report.signer) == options.trusted_keys.end()) {
      return Status::Integrity(where + ": is signed by key " +
                               KeyHex(*report.signer) +
                               ", which is not a trusted key");
    }
  }

  // Records and entries, both by name, walked together.
  std::vector<const RecordInfo*> records;
  for (const RecordInfo& r : reader.records()) {
    if (!Reserved(r.name)) records.push_back(&r);
  }
  std::sort(records.begin(), records.end(),
            [](const RecordInfo* a, const RecordInfo* b) {
              return a->name < b->name;
            });
  const std::vector<ManifestEntry>& entries = manifest->records;
  size_t i = 0;
  size_t j = 0;
  while (i < records.size() || j < entries.size()) {
    if (j == entries.size() ||
        (i < records.size() && records[i]->name < entries[j].name)) {
      return Status::Integrity(where + ", record " +
                               EscapeName(records[i]->name) +
                               ": not in the manifest (added)");
    }
    if (i == records.size() || entries[j].name < records[i]->name) {
      return Status::Integrity(
          where + ", record " + EscapeName(entries[j].name) +
          ": listed in the manifest but missing (removed)");
    }
    const RecordInfo& r = *records[i];
    const std::string shown = where + ", record " + EscapeName(r.name);
    if (r.size != entries[j].size) {
      return Status::Integrity(shown + ": size " + std::to_string(r.size) +
                               " differs from the manifest's " +
                               std::to_string(entries[j].size) + " (changed)");
    }
    auto hashed = HashRecord(reader, r.name);
    if (!hashed.ok()) return hashed.status();
    if (sodium_memcmp(hashed->first.data(), entries[j].sha256.data(), 32) !=
        0) {
      return Status::Integrity(shown +
                               ": SHA-256 differs from the manifest (changed)");
    }
    ++report.records_checked;
    if (options.on_record_hashed) options.on_record_hashed(r.size);
    ++i;
    ++j;
  }
  return report;
}

Status SignArchive(const std::string& path, const SecretKey& key,
                   const ManifestOptions& options) {
  auto reader = ArchiveReader::OpenPath(path);
  if (!reader.ok()) return reader.status();
  VerifyOptions verify;
  verify.manifest = options;
  auto report = VerifyManifest(**reader, verify);
  if (!report.ok()) return report.status();
  WriterOptions write_options;
  write_options.deflate_level = kDefaultDeflateLevel;
  auto writer = ArchiveWriter::OpenFile(path, write_options);
  if (!writer.ok()) return writer.status();
  std::unique_ptr<ArchiveWriter> out = std::move(*writer);
  std::vector<uint8_t> manifest;
  if (report->has_manifest) {
    auto bytes = (*reader)->Read(kManifestRecord);
    if (!bytes.ok()) return bytes.status();
    manifest = std::move(*bytes);
  } else {
    // An archive another writer made (torch.package's): its records as
    // they are, under a new manifest.
    ManifestWriteOptions write;
    write.sign_with = key;
    out = WrapWithManifest(std::move(out), std::move(write));
  }
  for (const RecordInfo& r : (*reader)->records()) {
    if (r.name == kSignatureRecord) continue;
    // A deflated record stays deflated (re-deflated: the writer has no raw
    // copy), so signing does not grow a compressed archive.
    if (r.method != 0 && r.size <= write_options.max_deflate_size) {
      auto bytes = (*reader)->Read(r.name);
      if (!bytes.ok()) return bytes.status();
      if (Status s = out->WriteRecord(r.name, *bytes, Compression::kDeflate);
          !s.ok()) {
        return s;
      }
      continue;
    }
    if (Status s = out->BeginRecord(r.name); !s.ok()) return s;
    Status s = (*reader)->Stream(r.name, [&](std::span<const uint8_t> piece) {
      return out->Append(piece);
    });
    if (!s.ok()) return s;
    if (Status e = out->EndRecord(); !e.ok()) return e;
  }
  if (report->has_manifest) {
    const std::string sig = SignManifest(manifest, key);
    if (Status s = out->WriteRecord(kSignatureRecord, Bytes(sig)); !s.ok()) {
      return s;
    }
  }
  return out->Finish();
}

}  // namespace hermetic
