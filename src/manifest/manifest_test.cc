#include "hermetic/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "hermetic/posix_file.h"

namespace hermetic {
namespace {

using ::testing::HasSubstr;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string Str(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

using Records = std::vector<std::pair<std::string, std::string>>;

// An archive of `records` written through the manifest writer.
std::string WriteSigned(const Records& records, ManifestWriteOptions options) {
  std::vector<uint8_t> out;
  auto inner = ArchiveWriter::OpenMemory(&out);
  EXPECT_TRUE(inner.ok());
  auto w = WrapWithManifest(std::move(*inner), std::move(options));
  for (const auto& [name, data] : records) {
    EXPECT_TRUE(w->WriteRecord(name, Bytes(data)).ok());
  }
  EXPECT_TRUE(w->Finish().ok());
  return std::string(out.begin(), out.end());
}

// An archive of exactly `records`, no manifest added.
std::string WritePlain(const Records& records) {
  std::vector<uint8_t> out;
  auto w = ArchiveWriter::OpenMemory(&out);
  EXPECT_TRUE(w.ok());
  for (const auto& [name, data] : records) {
    EXPECT_TRUE((*w)->WriteRecord(name, Bytes(data)).ok());
  }
  EXPECT_TRUE((*w)->Finish().ok());
  return std::string(out.begin(), out.end());
}

std::unique_ptr<ArchiveReader> Open(const std::string& bytes) {
  auto copy = std::make_shared<const std::string>(bytes);
  auto r = ArchiveReader::OpenBuffer(Bytes(*copy), copy, "test.pt");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(*r);
}

// Every record of an archive, in order.
Records ReadAll(const std::string& archive) {
  auto r = Open(archive);
  Records out;
  for (const RecordInfo& info : r->records()) {
    auto data = r->Read(info.name);
    EXPECT_TRUE(data.ok());
    out.emplace_back(info.name, Str(*data));
  }
  return out;
}

Result<VerifyReport> Verify(const std::string& archive,
                            const VerifyOptions& options = {}) {
  auto r = Open(archive);
  return VerifyManifest(*r, options);
}

SecretKey NewKey() {
  auto key = GenerateKey();
  EXPECT_TRUE(key.ok());
  return *key;
}

const Records kRecords = {{"m/a.py", "print(1)\n"},
                          {"m/b.pkl", std::string("\x80\x02N.", 4)},
                          {"m/empty.txt", ""}};

Manifest Sample() {
  Manifest m;
  m.generator = "hermetic 0.1.0";
  m.created = "2026-12-02T01:02:03Z";
  m.records = {{".data/version", 2, Sha256(Bytes("6\n"))},
               {"m/a b\n.py", 0, Sha256({})}};
  return m;
}

TEST(ManifestTest, SerializeParseRoundTrip) {
  for (bool timed : {true, false}) {
    Manifest m = Sample();
    if (!timed) m.created.reset();
    const std::string text = SerializeManifest(m);
    auto parsed = ParseManifest(Bytes(text), "a.pt");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->generator, m.generator);
    EXPECT_EQ(parsed->created, m.created);
    ASSERT_EQ(parsed->records.size(), 2u);
    EXPECT_EQ(parsed->records[1].name, "m/a b\n.py");
    EXPECT_EQ(parsed->records[1].sha256, Sha256({}));
    EXPECT_EQ(SerializeManifest(*parsed), text);
  }
}

// The digest is sha256sum's of "6\n", computed outside hermetic.
TEST(ManifestTest, TextIsTheDocumentedFormat) {
  Manifest m = Sample();
  m.records.pop_back();
  EXPECT_EQ(SerializeManifest(m),
            "hermetic-manifest 1\n"
            "generator hermetic 0.1.0\n"
            "created 2026-12-02T01:02:03Z\n"
            "record "
            "06e9d52c1720fca412803e3b07c4b228ff113e303f4c7ab94665319d832bbfb7"
            " 2 .data/version\n"
            "end 1\n");
}

TEST(ManifestTest, EveryProperPrefixIsRefused) {
  const std::string text = SerializeManifest(Sample());
  for (size_t n = 0; n < text.size(); ++n) {
    auto parsed = ParseManifest(Bytes(text.substr(0, n)), "a.pt");
    ASSERT_FALSE(parsed.ok()) << n;
    EXPECT_EQ(parsed.status().code(), StatusCode::kIntegrity);
    EXPECT_THAT(parsed.status().message(),
                HasSubstr("archive a.pt, record .data/hermetic/manifest"));
  }
}

TEST(ManifestTest, EveryLyingFieldIsRefused) {
  const std::string good = SerializeManifest(Sample());
  const std::string hash(64, 'a');
  const std::map<std::string, std::string> lies = {
      {"header", "hermetic-manifest 2\n"},
      {"no generator", "hermetic-manifest 1\nend 0\n"},
      {"empty generator", "hermetic-manifest 1\ngenerator \nend 0\n"},
      {"control in generator", "hermetic-manifest 1\ngenerator a\tb\nend 0\n"},
      {"bad time",
       "hermetic-manifest 1\ngenerator g\ncreated 2026-13-01T00:00:00Z\n"
       "end 0\n"},
      {"upper hex", "hermetic-manifest 1\ngenerator g\nrecord " +
                        std::string(64, 'A') + " 1 a\nend 1\n"},
      {"short hash",
       "hermetic-manifest 1\ngenerator g\nrecord abc 1 a\nend 1\n"},
      {"size with leading zero",
       "hermetic-manifest 1\ngenerator g\nrecord " + hash + " 01 a\nend 1\n"},
      {"size overflow", "hermetic-manifest 1\ngenerator g\nrecord " + hash +
                            " 99999999999999999999 a\nend 1\n"},
      {"negative size",
       "hermetic-manifest 1\ngenerator g\nrecord " + hash + " -1 a\nend 1\n"},
      {"unsorted", "hermetic-manifest 1\ngenerator g\nrecord " + hash +
                       " 1 b\nrecord " + hash + " 1 a\nend 2\n"},
      {"duplicate", "hermetic-manifest 1\ngenerator g\nrecord " + hash +
                        " 1 a\nrecord " + hash + " 1 a\nend 2\n"},
      {"dot-dot name",
       "hermetic-manifest 1\ngenerator g\nrecord " + hash + " 1 ../x\nend 1\n"},
      {"reserved name", "hermetic-manifest 1\ngenerator g\nrecord " + hash +
                            " 1 .data/hermetic/signature\nend 1\n"},
      {"non-canonical escape", "hermetic-manifest 1\ngenerator g\nrecord " +
                                   hash + " 1 \\x41\nend 1\n"},
      {"escape past the end", "hermetic-manifest 1\ngenerator g\nrecord " +
                                  hash + " 1 a\\x4\nend 1\n"},
      {"raw control byte",
       "hermetic-manifest 1\ngenerator g\nrecord " + hash + " 1 a\rb\nend 1\n"},
      {"wrong count",
       "hermetic-manifest 1\ngenerator g\nrecord " + hash + " 1 a\nend 2\n"},
      {"trailing bytes", good + "x"},
      {"unknown line", "hermetic-manifest 1\ngenerator g\nsigned x\nend 0\n"},
  };
  for (const auto& [what, text] : lies) {
    auto parsed = ParseManifest(Bytes(text), "a.pt");
    ASSERT_FALSE(parsed.ok()) << what;
    EXPECT_EQ(parsed.status().code(), StatusCode::kIntegrity) << what;
  }
}

TEST(ManifestTest, LimitsAreOptions) {
  const std::string text = SerializeManifest(Sample());
  ManifestOptions options;
  options.max_records = 1;
  EXPECT_THAT(ParseManifest(Bytes(text), "a.pt", options).status().message(),
              HasSubstr("limit of 1 records"));
  options = {};
  options.max_manifest_size = 10;
  EXPECT_FALSE(ParseManifest(Bytes(text), "a.pt", options).ok());
  options = {};
  options.max_name_length = 5;
  EXPECT_FALSE(ParseManifest(Bytes(text), "a.pt", options).ok());
}

TEST(ManifestTest, WriterListsEveryRecordAndVerifies) {
  const std::string archive = WriteSigned(kRecords, {});
  auto r = Open(archive);
  auto text = r->Read(kManifestRecord);
  ASSERT_TRUE(text.ok());
  auto m = ParseManifest(*text, "test.pt");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->created.has_value());
  EXPECT_EQ(m->generator, ManifestGenerator());
  std::vector<std::string> names;
  for (const ManifestEntry& e : m->records) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       ".data/serialization_id", ".data/version", "byteorder",
                       "m/a.py", "m/b.pkl", "m/empty.txt"}));
  EXPECT_EQ(m->records[3].sha256, Sha256(Bytes("print(1)\n")));
  auto report = Verify(archive);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->has_manifest);
  EXPECT_FALSE(report->signer.has_value());
  EXPECT_EQ(report->records_checked, 6u);
}

TEST(ManifestTest, StreamedRecordsAreHashed) {
  std::vector<uint8_t> out;
  auto inner = ArchiveWriter::OpenMemory(&out);
  ASSERT_TRUE(inner.ok());
  ManifestWriteOptions options;
  options.reproducible = true;
  auto w = WrapWithManifest(std::move(*inner), options);
  ASSERT_TRUE(w->BeginRecord("big.bin").ok());
  ASSERT_TRUE(w->Append(Bytes("abc")).ok());
  ASSERT_TRUE(w->Append(Bytes("def")).ok());
  ASSERT_TRUE(w->EndRecord().ok());
  ASSERT_TRUE(w->Finish().ok());
  const std::string archive(out.begin(), out.end());
  EXPECT_EQ(archive, WriteSigned({{"big.bin", "abcdef"}}, options));
  EXPECT_TRUE(Verify(archive).ok());
}

TEST(ManifestTest, ReproducibleOutputIsByteIdentical) {
  ManifestWriteOptions options;
  options.reproducible = true;
  const std::string a = WriteSigned(kRecords, options);
  EXPECT_EQ(a, WriteSigned(kRecords, options));
  EXPECT_EQ(Str(*Open(a)->Read(kManifestRecord)).find("created"),
            std::string::npos);
}

TEST(ManifestTest, ReservedNamesCannotBeWritten) {
  std::vector<uint8_t> out;
  auto inner = ArchiveWriter::OpenMemory(&out);
  ASSERT_TRUE(inner.ok());
  auto w = WrapWithManifest(std::move(*inner), {});
  EXPECT_EQ(w->WriteRecord(kManifestRecord, Bytes("x")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(w->BeginRecord(kSignatureRecord).code(),
            StatusCode::kInvalidArgument);
}

// `signed_archive`'s manifest, signature and the framework records it
// vouches for, over other records.
std::string Tamper(const std::string& signed_archive, Records records) {
  for (const auto& [name, data] : ReadAll(signed_archive)) {
    if (name == kManifestRecord || name == kSignatureRecord ||
        name == kByteorderRecord || name == kSerializationIdRecord) {
      records.emplace_back(name, data);
    }
  }
  return WritePlain(records);
}

Records WithVersion(Records records) {
  records.emplace_back(".data/version", "6\n");
  return records;
}

TEST(ManifestTest, ChangedAddedRemovedRecordsAreRefused) {
  ManifestWriteOptions options;
  options.sign_with = NewKey();
  const std::string archive = WriteSigned(kRecords, options);
  ASSERT_TRUE(Verify(archive).ok());

  Records changed = WithVersion(kRecords);
  changed[0].second = "print(2)\n";  // same size, other bytes
  Records added = WithVersion(kRecords);
  added.emplace_back("m/extra.py", "");
  Records removed = WithVersion(kRecords);
  removed.erase(removed.begin() + 1);
  Records resized = WithVersion(kRecords);
  resized[0].second = "print(10)\n";
  const std::vector<std::pair<Records, std::string>> cases = {
      {changed, "record m/a.py: SHA-256 differs from the manifest (changed)"},
      {added, "record m/extra.py: not in the manifest (added)"},
      {removed, "record m/b.pkl: listed in the manifest but missing"},
      {resized, "record m/a.py: size 10 differs"},
  };
  for (const auto& [records, message] : cases) {
    auto report = Verify(Tamper(archive, records));
    ASSERT_FALSE(report.ok()) << message;
    EXPECT_EQ(report.status().code(), StatusCode::kIntegrity);
    EXPECT_THAT(report.status().message(), HasSubstr("archive test.pt"));
    EXPECT_THAT(report.status().message(), HasSubstr(message));
  }
  // The untouched records under the same manifest still verify.
  EXPECT_TRUE(Verify(Tamper(archive, WithVersion(kRecords))).ok());
}

TEST(ManifestTest, SignatureOverChangedManifestIsRefused) {
  const SecretKey key = NewKey();
  ManifestWriteOptions options;
  options.sign_with = key;
  Records records = ReadAll(WriteSigned(kRecords, options));
  // A forged manifest that agrees with forged records, under the old
  // signature.
  Records forged = WithVersion(kRecords);
  forged[0].second = "import os\n";
  ManifestWriteOptions unsigned_options;
  Records forged_archive =
      ReadAll(WriteSigned({forged[0], forged[1], forged[2]}, unsigned_options));
  for (auto& [name, data] : forged_archive) {
    if (name == kManifestRecord) {
      forged.emplace_back(name, data);
    }
  }
  for (const auto& [name, data] : records) {
    if (name == kSignatureRecord) forged.emplace_back(name, data);
  }
  auto report = Verify(WritePlain(forged));
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kIntegrity);
  EXPECT_THAT(report.status().message(),
              HasSubstr("signature by key " + KeyHex(key.public_key()) +
                        " does not match the manifest"));
}

TEST(ManifestTest, TrustedKeysDecide) {
  const SecretKey key = NewKey();
  const SecretKey other = NewKey();
  ManifestWriteOptions options;
  options.sign_with = key;
  const std::string signed_archive = WriteSigned(kRecords, options);
  const std::string unsigned_archive = WriteSigned(kRecords, {});

  VerifyOptions trust_key;
  trust_key.trusted_keys = {other.public_key(), key.public_key()};
  auto ok = Verify(signed_archive, trust_key);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->signer, key.public_key());

  VerifyOptions trust_other;
  trust_other.trusted_keys = {other.public_key()};
  auto wrong = Verify(signed_archive, trust_other);
  EXPECT_EQ(wrong.status().code(), StatusCode::kIntegrity);
  EXPECT_THAT(wrong.status().message(), HasSubstr("not a trusted key"));

  auto unsigned_report = Verify(unsigned_archive, trust_key);
  EXPECT_EQ(unsigned_report.status().code(), StatusCode::kIntegrity);
  EXPECT_THAT(unsigned_report.status().message(), HasSubstr("is not signed"));

  auto no_manifest = Verify(WritePlain(kRecords), trust_key);
  EXPECT_THAT(no_manifest.status().message(), HasSubstr("has no manifest"));
  // Without trusted keys, no manifest is no finding.
  auto plain = Verify(WritePlain(kRecords));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->has_manifest);
}

TEST(ManifestTest, MalformedSignatureIsRefused) {
  Records records = ReadAll(WriteSigned(kRecords, {}));
  records.emplace_back(std::string(kSignatureRecord),
                       "hermetic-signature 1\ned25519 00\n");
  auto report = Verify(WritePlain(records));
  EXPECT_EQ(report.status().code(), StatusCode::kIntegrity);
  EXPECT_THAT(report.status().message(), HasSubstr("malformed signature"));
}

TEST(ManifestTest, KeyFilesRoundTrip) {
  const SecretKey key = NewKey();
  auto secret = ParseSecretKey(FormatSecretKey(key), "k");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->bytes, key.bytes);
  auto pub = ParsePublicKey(FormatPublicKey(key.public_key()), "k.pub");
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub, key.public_key());
  EXPECT_THAT(FormatPublicKey(*pub),
              ::testing::StartsWith("hermetic-ed25519-public-key 1\n"));
}

TEST(ManifestTest, BadKeyFilesAreRefused) {
  const SecretKey key = NewKey();
  std::string secret = FormatSecretKey(key);
  // Flip a bit of the stored public half: it no longer matches the seed.
  secret[secret.size() - 2] = secret[secret.size() - 2] == '0' ? '1' : '0';
  auto mismatched = ParseSecretKey(secret, "k");
  EXPECT_EQ(mismatched.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatched.status().message(), HasSubstr("does not match"));
  EXPECT_FALSE(ParseSecretKey(FormatPublicKey(key.public_key()), "k").ok());
  EXPECT_FALSE(ParsePublicKey(FormatSecretKey(key), "k.pub").ok());
  std::string pub = FormatPublicKey(key.public_key());
  pub.pop_back();
  EXPECT_THAT(ParsePublicKey(pub, "k.pub").status().message(),
              HasSubstr("k.pub: not a hermetic Ed25519 public key file"));
}

TEST(ManifestTest, SignArchiveAddsOrKeepsTheManifest) {
  const std::string path = ::testing::TempDir() + "hermetic-sign-test.pt";
  auto write_file = [&](const std::string& bytes) {
    auto w = ArchiveWriter::OpenFile(path);
    ASSERT_TRUE(w.ok());
    auto r = Open(bytes);
    for (const RecordInfo& info : r->records()) {
      ASSERT_TRUE((*w)->WriteRecord(info.name, *r->Read(info.name)).ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
  };
  const SecretKey key = NewKey();
  VerifyOptions trusted;
  trusted.trusted_keys = {key.public_key()};
  auto verify_file = [&] {
    auto r = ArchiveReader::OpenPath(path);
    EXPECT_TRUE(r.ok());
    return VerifyManifest(**r, trusted);
  };

  write_file(WritePlain(kRecords));  // no manifest: one is made
  ASSERT_TRUE(SignArchive(path, key).ok());
  auto report = verify_file();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->records_checked, 6u);

  const std::string signed_once = WriteSigned(kRecords, {});
  write_file(signed_once);  // a manifest: kept byte for byte
  ASSERT_TRUE(SignArchive(path, key).ok());
  ASSERT_TRUE(verify_file().ok());
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->Read(kManifestRecord),
            *Open(signed_once)->Read(kManifestRecord));

  Records tampered = WithVersion(kRecords);
  tampered.emplace_back("m/extra.py", "");
  write_file(Tamper(signed_once, tampered));
  Status s = SignArchive(path, key);
  EXPECT_EQ(s.code(), StatusCode::kIntegrity);
  EXPECT_THAT(s.message(), HasSubstr("m/extra.py: not in the manifest"));
  EXPECT_TRUE(Unlink(path, "removing the test archive").ok());
}

TEST(ManifestTest, DeflatedRecordsStayDeflatedThroughWrappingAndSigning) {
  std::string source;
  for (int i = 0; i < 200; ++i) {
    source.append("x_").append(std::to_string(i)).append(" = 1\n");
  }
  const std::string path = ::testing::TempDir() + "hermetic-sign-deflate.pt";
  WriterOptions options;
  options.deflate_level = kDefaultDeflateLevel;
  auto inner = ArchiveWriter::OpenFile(path, options);
  ASSERT_TRUE(inner.ok());
  ManifestWriteOptions manifest;
  manifest.reproducible = true;
  auto w = WrapWithManifest(std::move(*inner), manifest);
  ASSERT_TRUE(
      w->WriteRecord("m/a.py", Bytes(source), Compression::kDeflate).ok());
  ASSERT_TRUE(w->WriteRecord(".data/0.storage", Bytes(source)).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto check = [&](bool signed_) {
    auto r = ArchiveReader::OpenPath(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->Find("m/a.py")->method, 8);
    EXPECT_EQ((*r)->Find(".data/0.storage")->method, 0);
    EXPECT_EQ((*r)->Find(".data/0.storage")->data_offset % 64, 0u);
    // The manifest (one line per record) is text, deflated like any.
    EXPECT_EQ((*r)->Find(kManifestRecord)->method, 8);
    EXPECT_EQ((*r)->Find(kSignatureRecord) != nullptr, signed_);
    auto report = VerifyManifest(**r, {});
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(Str(*(*r)->Read("m/a.py")), source);
  };
  check(false);
  // Signing rewrites the archive: its deflated records stay deflated.
  const SecretKey key = NewKey();
  ASSERT_TRUE(SignArchive(path, key).ok());
  check(true);
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok());
  VerifyOptions trusted;
  trusted.trusted_keys = {key.public_key()};
  EXPECT_TRUE(VerifyManifest(**r, trusted).ok());
  EXPECT_TRUE(Unlink(path, "removing the test archive").ok());
}

}  // namespace
}  // namespace hermetic
