// The hostile-archive catalogue of the zip reader, by family: every header
// field lying (ZipFieldLies), truncation and deleted bytes (ZipTruncation),
// bombs (ZipBomb), layouts two mainstream readers would read differently
// (ZipDifferential), names (ZipNames) and files changing under an open
// reader (FileChangesUnderReader).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "archive_test_util.h"
#include "hermetic/archive.h"
#include "zip_format.h"

namespace hermetic {
namespace {

using namespace test;  // NOLINT: the shared archive test helpers
using ::testing::HasSubstr;
using ::testing::Not;

// ------------------------------------------------------------ base archives

// Offsets of the structures of an archive the reader accepts.
struct Layout {
  uint64_t local0 = 0, local1 = 0;  // first two local headers
  uint64_t descriptor0 = 0;         // 0 if the first record has none
  uint64_t cd0 = 0, cd1 = 0;        // first two central entries
  uint64_t eocd = 0;
  uint64_t locator = 0, zip64_end = 0;  // 0 without zip64 end record
};

Layout LayoutOf(const std::vector<uint8_t>& bytes) {
  Layout l;
  auto r = Open(bytes);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  const RecordInfo& first = (*r)->records()[0];
  l.local1 = (*r)->records()[1].header_offset;
  if (zip::Get16(&bytes[6]) & zip::kFlagDataDescriptor) {
    l.descriptor0 = first.data_offset + first.compressed_size;
  }
  l.eocd = bytes.size() - zip::kEndSize;
  if (zip::Get32(&bytes[l.eocd - 20]) == zip::kZip64LocatorSig) {
    l.locator = l.eocd - 20;
    l.zip64_end = l.locator - 56;
  }
  l.cd0 = zip::Get32(&bytes[l.eocd + 16]);
  l.cd1 = l.cd0 + 46 + zip::Get16(&bytes[l.cd0 + 28]) +
          zip::Get16(&bytes[l.cd0 + 30]) + zip::Get16(&bytes[l.cd0 + 32]);
  return l;
}

// A lying archive must be refused (Corrupt, or Unsupported for a feature we
// do not implement) at open or when the record is read, or read back as the
// original: never accepted with different contents. Records are read
// without CRC checks, so that the structure checks alone must catch every
// lie about where a record's bytes are.
void ExpectRefusedOrIdentical(const std::vector<uint8_t>& original,
                              const std::vector<uint8_t>& lying,
                              const std::string& what) {
  auto r = Open(lying, {.verify_reads = false});
  if (!r.ok()) {
    EXPECT_TRUE(r.status().code() == StatusCode::kCorruptArchive ||
                r.status().code() == StatusCode::kUnsupported)
        << what << ": " << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr("test.pt")) << what;
    return;
  }
  auto o = Open(original);
  ASSERT_TRUE(o.ok());
  ASSERT_EQ((*r)->records().size(), (*o)->records().size()) << what;
  for (const RecordInfo& info : (*o)->records()) {
    ASSERT_NE((*r)->Find(info.name), nullptr) << what << ": " << info.name;
    auto want = (*o)->Read(info.name);
    auto got = (*r)->Read(info.name);
    if (got.ok()) {
      EXPECT_EQ(Str(*got), Str(*want)) << what << ": " << info.name;
    } else {
      EXPECT_EQ(got.status().code(), StatusCode::kCorruptArchive)
          << what << ": " << got.status().ToString();
    }
  }
}

// ------------------------------------------------------------ ZipFieldLies

enum class Base { kWriter, kHand };

struct Field {
  const char* name;
  Base base;
  uint64_t Layout::*anchor;
  uint64_t offset;  // from the anchor
  int width;
};

void PrintTo(const Field& f, std::ostream* os) { *os << f.name; }

// Every field of every structure of both base archives.
const Field kFields[] = {
#define LOCAL(base, anchor, tag)                                    \
  {tag " local signature", base, &Layout::anchor, 0, 4},            \
      {tag " local version", base, &Layout::anchor, 4, 2},          \
      {tag " local flags", base, &Layout::anchor, 6, 2},            \
      {tag " local method", base, &Layout::anchor, 8, 2},           \
      {tag " local time", base, &Layout::anchor, 10, 2},            \
      {tag " local date", base, &Layout::anchor, 12, 2},            \
      {tag " local crc", base, &Layout::anchor, 14, 4},             \
      {tag " local compressed size", base, &Layout::anchor, 18, 4}, \
      {tag " local size", base, &Layout::anchor, 22, 4},            \
      {tag " local name length", base, &Layout::anchor, 26, 2},     \
      {tag " local extra length", base, &Layout::anchor, 28, 2}, {  \
    tag " local name byte", base, &Layout::anchor, 30, 1            \
  }
#define CENTRAL(base, anchor, tag)                                        \
  {tag " central signature", base, &Layout::anchor, 0, 4},                \
      {tag " central made by", base, &Layout::anchor, 4, 2},              \
      {tag " central version", base, &Layout::anchor, 6, 2},              \
      {tag " central flags", base, &Layout::anchor, 8, 2},                \
      {tag " central method", base, &Layout::anchor, 10, 2},              \
      {tag " central time", base, &Layout::anchor, 12, 2},                \
      {tag " central date", base, &Layout::anchor, 14, 2},                \
      {tag " central crc", base, &Layout::anchor, 16, 4},                 \
      {tag " central compressed size", base, &Layout::anchor, 20, 4},     \
      {tag " central size", base, &Layout::anchor, 24, 4},                \
      {tag " central name length", base, &Layout::anchor, 28, 2},         \
      {tag " central extra length", base, &Layout::anchor, 30, 2},        \
      {tag " central comment length", base, &Layout::anchor, 32, 2},      \
      {tag " central disk", base, &Layout::anchor, 34, 2},                \
      {tag " central internal attributes", base, &Layout::anchor, 36, 2}, \
      {tag " central external attributes", base, &Layout::anchor, 38, 4}, \
      {tag " central header offset", base, &Layout::anchor, 42, 4}, {     \
    tag " central name byte", base, &Layout::anchor, 46, 1                \
  }
#define EOCD(base, tag)                                            \
  {tag " end signature", base, &Layout::eocd, 0, 4},               \
      {tag " end disk", base, &Layout::eocd, 4, 2},                \
      {tag " end directory disk", base, &Layout::eocd, 6, 2},      \
      {tag " end entries on disk", base, &Layout::eocd, 8, 2},     \
      {tag " end entries", base, &Layout::eocd, 10, 2},            \
      {tag " end directory size", base, &Layout::eocd, 12, 4},     \
      {tag " end directory offset", base, &Layout::eocd, 16, 4}, { \
    tag " end comment length", base, &Layout::eocd, 20, 2          \
  }
    LOCAL(Base::kWriter, local0, "writer first"),
    LOCAL(Base::kWriter, local1, "writer second"),
    {"writer first FB id", Base::kWriter, &Layout::local0, 30 + 13, 2},
    {"writer first FB length", Base::kWriter, &Layout::local0, 30 + 15, 2},
    {"writer descriptor signature", Base::kWriter, &Layout::descriptor0, 0, 4},
    {"writer descriptor crc", Base::kWriter, &Layout::descriptor0, 4, 4},
    {"writer descriptor compressed size", Base::kWriter, &Layout::descriptor0,
     8, 4},
    {"writer descriptor size", Base::kWriter, &Layout::descriptor0, 12, 4},
    CENTRAL(Base::kWriter, cd0, "writer first"),
    CENTRAL(Base::kWriter, cd1, "writer second"),
    EOCD(Base::kWriter, "writer"),
    {"zip64 end signature", Base::kWriter, &Layout::zip64_end, 0, 4},
    {"zip64 end record size", Base::kWriter, &Layout::zip64_end, 4, 8},
    {"zip64 end made by", Base::kWriter, &Layout::zip64_end, 12, 2},
    {"zip64 end version", Base::kWriter, &Layout::zip64_end, 14, 2},
    {"zip64 end disk", Base::kWriter, &Layout::zip64_end, 16, 4},
    {"zip64 end directory disk", Base::kWriter, &Layout::zip64_end, 20, 4},
    {"zip64 end entries on disk", Base::kWriter, &Layout::zip64_end, 24, 8},
    {"zip64 end entries", Base::kWriter, &Layout::zip64_end, 32, 8},
    {"zip64 end directory size", Base::kWriter, &Layout::zip64_end, 40, 8},
    {"zip64 end directory offset", Base::kWriter, &Layout::zip64_end, 48, 8},
    {"locator signature", Base::kWriter, &Layout::locator, 0, 4},
    {"locator disk", Base::kWriter, &Layout::locator, 4, 4},
    {"locator zip64 end offset", Base::kWriter, &Layout::locator, 8, 8},
    {"locator total disks", Base::kWriter, &Layout::locator, 16, 4},
    LOCAL(Base::kHand, local0, "deflated"),
    LOCAL(Base::kHand, local1, "stored"),
    CENTRAL(Base::kHand, cd0, "deflated"),
    CENTRAL(Base::kHand, cd1, "stored"),
    EOCD(Base::kHand, "hand"),
#undef LOCAL
#undef CENTRAL
#undef EOCD
};

class ZipFieldLies : public ::testing::TestWithParam<Field> {};

TEST_P(ZipFieldLies, AreRefusedOrHarmless) {
  const Field& f = GetParam();
  const std::vector<uint8_t> original =
      f.base == Base::kWriter ? WriterArchive() : HandArchive();
  const Layout layout = LayoutOf(original);
  const uint64_t at = layout.*f.anchor + f.offset;
  if (f.anchor != &Layout::local0) {
    ASSERT_NE(layout.*f.anchor, 0u) << "the base archive lacks it";
  }
  ASSERT_LE(at + f.width, original.size());
  uint64_t v = 0;
  for (int i = 0; i < f.width; ++i) v |= uint64_t{original[at + i]} << (8 * i);
  const uint64_t all =
      f.width == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * f.width)) - 1;
  const uint64_t top = uint64_t{0x80} << (8 * (f.width - 1));
  for (uint64_t lie :
       {v + 1, v - 1, uint64_t{0}, all, v ^ top, v ^ 1, v + 0x10000}) {
    lie &= all;
    if (lie == v) continue;
    std::vector<uint8_t> bytes = original;
    PatchN(bytes, at, f.width, lie);
    ExpectRefusedOrIdentical(original, bytes,
                             std::string(f.name) + " = " + std::to_string(lie));
  }
}

INSTANTIATE_TEST_SUITE_P(EveryField, ZipFieldLies, ::testing::ValuesIn(kFields),
                         [](const ::testing::TestParamInfo<Field>& param) {
                           std::string n = param.param.name;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return n;
                         });

// ------------------------------------------------------------ ZipTruncation

TEST(ZipTruncation, EveryPrefixIsRefused) {
  for (const auto& full : {WriterArchive(), HandArchive()}) {
    for (size_t n = 0; n < full.size(); ++n) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + n);
      cut.shrink_to_fit();  // so that ASan catches any read past the end
      auto r = Open(cut);
      ASSERT_FALSE(r.ok()) << n;
      EXPECT_EQ(r.status().code(), StatusCode::kCorruptArchive) << n;
    }
  }
}

TEST(ZipTruncation, EverySuffixIsRefused) {
  for (const auto& full : {WriterArchive(), HandArchive()}) {
    for (size_t n = 1; n < full.size(); ++n) {
      std::vector<uint8_t> cut(full.begin() + n, full.end());
      EXPECT_FALSE(Open(cut).ok()) << n;
    }
  }
}

TEST(ZipTruncation, DeletingAnyOneByteIsRefusedOrHarmless) {
  for (const auto& full : {WriterArchive(), HandArchive()}) {
    for (size_t n = 0; n < full.size(); ++n) {
      std::vector<uint8_t> cut = full;
      cut.erase(cut.begin() + n);
      ExpectRefusedOrIdentical(full, cut, "byte " + std::to_string(n));
    }
  }
}

// ---------------------------------------------------------------- ZipBomb

// A raw deflate stream of `mib` MiB of zeros, about 1 KiB per MiB: one
// sync-flushed block repeated (its matches only reach back over zeros),
// then an empty final block.
std::string ZeroBomb(uint64_t mib) {
  std::vector<uint8_t> zeros(1 << 20, 0);
  std::string block(1 << 16, '\0');
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
            Z_OK);
  z.next_in = zeros.data();
  z.avail_in = static_cast<uInt>(zeros.size());
  z.next_out = reinterpret_cast<Bytef*>(block.data());
  z.avail_out = static_cast<uInt>(block.size());
  EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
  block.resize(block.size() - z.avail_out);
  deflateEnd(&z);
  std::string out;
  out.reserve(block.size() * mib + 2);
  for (uint64_t i = 0; i < mib; ++i) out += block;
  out += std::string("\x03\x00", 2);
  return out;
}

uint32_t ZeroCrc(uint64_t mib) {
  std::vector<uint8_t> zeros(1 << 20, 0);
  const uLong one = crc32(0, zeros.data(), static_cast<uInt>(zeros.size()));
  uLong crc = 0;
  for (uint64_t i = 0; i < mib; ++i) crc = crc32_combine(crc, one, 1 << 20);
  return static_cast<uint32_t>(crc);
}

// Runs `body` in a child process and returns its exit code; the child
// reports (on stderr) and fails when its resident set grew by more than
// `max_growth` bytes over the run.
int InChild(uint64_t max_growth, const std::function<bool()>& body) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    const bool ok = body();
    getrusage(RUSAGE_SELF, &after);
    const uint64_t growth =
        static_cast<uint64_t>(after.ru_maxrss - before.ru_maxrss) * 1024;
    std::fprintf(stderr, "child: body %s, peak RSS grew by %llu KiB\n",
                 ok ? "ok" : "FAILED",
                 static_cast<unsigned long long>(growth >> 10));
    _exit(!ok ? 1 : growth > max_growth ? 2 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

constexpr uint64_t kBombMiB = 3 * 1024 + 1;  // a little over 3 GiB

std::vector<uint8_t> BombArchive(uint64_t declared) {
  return BuildZip(
      {{"p/zeros", ZeroBomb(kBombMiB), 8, declared, true, ZeroCrc(kBombMiB)},
       {"p/small", "small"}});
}

// Streams and verifies a record of `mib` MiB of zeros (about 1 KiB per MiB
// in the archive) in a child whose peak RSS may grow by 64 MiB at most.
void ExpectBombStreamsInBoundedMemory(uint64_t mib) {
  const std::vector<uint8_t> bytes =
      BuildZip({{"p/zeros", ZeroBomb(mib), 8, mib << 20, true, ZeroCrc(mib)}});
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(InChild(64 << 20,
                    [&] {
                      uint64_t total = 0, largest = 0;
                      Status s = (*r)->Stream(
                          "zeros", [&](std::span<const uint8_t> piece) {
                            total += piece.size();
                            largest = std::max<uint64_t>(largest, piece.size());
                            return Status::Ok();
                          });
                      return s.ok() && total == mib << 20 &&
                             largest <= kMaxStreamPiece;
                    }),
            0);
  EXPECT_EQ(InChild(64 << 20, [&] { return (*r)->VerifyAll().ok(); }), 0);
}

TEST(ZipBomb, QuarterGiBRecordStreamsAndVerifiesInBoundedMemory) {
  ExpectBombStreamsInBoundedMemory(256);
}

// About 15 s (inflating 3 GiB twice): run with HERMETIC_SLOW=1.
TEST(ZipBomb, SlowThreeGiBRecordStreamsAndVerifiesInBoundedMemory) {
  if (std::getenv("HERMETIC_SLOW") == nullptr) {
    GTEST_SKIP() << "slow; set HERMETIC_SLOW=1";
  }
  ExpectBombStreamsInBoundedMemory(kBombMiB);
}

TEST(ZipBomb, ThreeGiBRecordIsRefusedByReadWithANamedError) {
  auto r = Open(BombArchive(kBombMiB << 20));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (Status s : {(*r)->Read("zeros").status(),
                   (*r)->ReadInto("zeros", std::span<uint8_t>(
                                               static_cast<uint8_t*>(nullptr),
                                               kBombMiB << 20))}) {
    EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("archive test.pt, record zeros"));
    EXPECT_THAT(s.message(), HasSubstr("max_inflated_size"));
  }
  EXPECT_TRUE((*r)->Read("small").ok());
}

TEST(ZipBomb, RecordInflatingPastItsDeclaredSizeStopsThere) {
  // Declares 1 MiB, really 3 GiB: refused after 1 MiB, not after 3 GiB.
  auto r = Open(BombArchive(1 << 20));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto start = std::chrono::steady_clock::now();
  for (Status s : {(*r)->Read("zeros").status(), (*r)->Verify("zeros"),
                   (*r)->VerifyAll()}) {
    EXPECT_EQ(s.code(), StatusCode::kCorruptArchive);
    EXPECT_THAT(s.message(),
                HasSubstr("record zeros: inflates past its declared size"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// Raw deflate of `data` at level 0 (stored blocks): as long as the data.
std::string StoredDeflate(const std::string& data) {
  std::string out(data.size() + data.size() / 1000 + 64, '\0');
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 0, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(ZipBomb, SixteenGiBDeclaredIsRefusedWithoutAllocatingIt) {
  constexpr uint64_t k16G = uint64_t{16} << 30;
  // A few MiB of deflate cannot be 16 GiB: refused at open.
  ExpectCorrupt(BuildZip({{"p/big", ZeroBomb(16), 8, k16G, true}}),
                "declared size 17179869184 is impossible");
  // 17 MiB of deflate could be: refused by Read before inflating, and with
  // the limit raised, inflated into memory that grows only with the 17 MiB
  // really there.
  std::string data(17 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  const std::vector<uint8_t> bytes =
      BuildZip({{"p/big", StoredDeflate(data), 8, k16G, true}});
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Status s = (*r)->Read("big").status();
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("archive test.pt, record big"));
  auto raised = Open(bytes, {.max_inflated_size = uint64_t{1} << 40});
  ASSERT_TRUE(raised.ok());
  EXPECT_EQ(InChild(256 << 20,
                    [&] {
                      Status t = (*raised)->Read("big").status();
                      return t.code() == StatusCode::kCorruptArchive &&
                             t.message().find(
                                 "inflates to 17825792 bytes, "
                                 "declared 17179869184") != std::string::npos;
                    }),
            0);
}

TEST(ZipBomb, DeflateStreamMustFillItsCompressedSizeExactly) {
  const std::string text(1000, 'x');
  std::string trailing = Deflate(text) + "junk";
  auto r = Open(BuildZip(
      {{"p/t", trailing, 8, text.size(), true, Crc32(0, Bytes(text))}}));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(
      (*r)->Read("t").status().message(),
      HasSubstr("deflate data ends 4 bytes before its compressed size"));
  std::string cut = Deflate(text);
  cut.resize(cut.size() - 2);
  auto c = Open(
      BuildZip({{"p/t", cut, 8, text.size(), true, Crc32(0, Bytes(text))}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->Verify("t").code(), StatusCode::kCorruptArchive);
  auto g = Open(BuildZip({{"p/t", std::string(64, '\xff'), 8, 10, true}}));
  ASSERT_TRUE(g.ok());
  EXPECT_THAT((*g)->Read("t").status().message(),
              HasSubstr("invalid deflate data"));
}

TEST(ZipBomb, StreamDeliversStoredAndDeflatedRecordsInBoundedPieces) {
  std::string big(3 * kMaxStreamPiece + 5, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i % 251);
  const std::vector<uint8_t> bytes = BuildZip(
      {{"p/s", big},
       {"p/d", Deflate(big), 8, big.size(), true, Crc32(0, Bytes(big))}});
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const char* name : {"s", "d"}) {
    std::string got;
    Status s = (*r)->Stream(name, [&](std::span<const uint8_t> piece) {
      EXPECT_LE(piece.size(), kMaxStreamPiece);
      got += Str(piece);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(got, big) << name;
  }
  // A consumer's error stops the stream and is returned as it is.
  int calls = 0;
  Status stop = (*r)->Stream("s", [&](std::span<const uint8_t>) {
    ++calls;
    return Status::IOError("disk full");
  });
  EXPECT_EQ(stop.message(), "disk full");
  EXPECT_EQ(calls, 1);
}

// ------------------------------------------------------------ ZipDifferential

// Inserts `junk` at `at` in a classic (non-zip64) archive and moves every
// offset behind it, so that only the unowned bytes are wrong.
std::vector<uint8_t> InsertUnowned(std::vector<uint8_t> bytes, uint64_t at,
                                   const std::string& junk) {
  const uint64_t eocd = bytes.size() - zip::kEndSize;
  uint64_t cd = zip::Get32(&bytes[eocd + 16]);
  const uint64_t count = zip::Get16(&bytes[eocd + 10]);
  for (uint64_t i = 0, p = cd; i < count; ++i) {
    const uint32_t off = zip::Get32(&bytes[p + 42]);
    if (off >= at)
      Patch32(bytes, p + 42, static_cast<uint32_t>(off + junk.size()));
    p += 46 + zip::Get16(&bytes[p + 28]) + zip::Get16(&bytes[p + 30]) +
         zip::Get16(&bytes[p + 32]);
  }
  if (cd >= at)
    Patch32(bytes, eocd + 16, static_cast<uint32_t>(cd + junk.size()));
  bytes.insert(bytes.begin() + at, junk.begin(), junk.end());
  return bytes;
}

std::vector<uint8_t> WithComment(std::vector<uint8_t> bytes,
                                 const std::string& comment,
                                 uint16_t declared) {
  Patch16(bytes, bytes.size() - 2, declared);
  bytes.insert(bytes.end(), comment.begin(), comment.end());
  return bytes;
}

std::string FakeEnd(uint16_t comment_length) {
  std::string e;
  zip::Put32(e, zip::kEndSig);
  zip::Put32(e, 0);
  zip::Put16(e, 1);
  zip::Put16(e, 1);
  zip::Put32(e, 50);
  zip::Put32(e, 0);
  zip::Put16(e, comment_length);
  return e;
}

TEST(ZipDifferential, CommentHidingASecondEndRecordIsRefused) {
  // The archive: zipfile and miniz take the last signature (the
  // fake one, whose comment runs past the end of the file).
  const std::string fake = FakeEnd(1000);
  ExpectCorrupt(WithComment(WriterArchive(), fake, fake.size()),
                "comment (1000 bytes) does not end at the end of the file");
  ExpectCorrupt(WithComment(HandArchive(), "xx" + fake + "yy", fake.size() + 4),
                "comment (1000 bytes) does not end at the end of the file");
  // A fake whose comment does reach the end: the last one is taken, and
  // readers that take the first fitting one would differ.
  ExpectCorrupt(WithComment(HandArchive(), FakeEnd(0), 22),
                "two end-of-central-directory records");
  // A fake whose comment does not: the last signature is the end record.
  ExpectCorrupt(WithComment(HandArchive(), FakeEnd(3), 22),
                "does not end at the end of the file");
  // A plain comment is fine.
  EXPECT_TRUE(Open(WithComment(WriterArchive(), "made by hand", 12)).ok());
}

TEST(ZipDifferential, EndSignatureBytesInsideRecordsAreData) {
  // A zip stored as a record (torch.save output saved with save_binary)
  // holds an end record whose comment does not reach our end of file.
  const std::vector<uint8_t> inner = HandArchive();
  const std::string nested(inner.begin(), inner.end());
  auto r =
      Open(BuildZip({{"p/nested.zip", nested}, {"p/b", "data PK\x05\x06"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Str(*(*r)->Read("nested.zip")), nested);
  // A record whose CRC-32 spells the signature puts it in the directory.
  RawEntry e{"p/a", "x", 0, 1, true, zip::kEndSig};
  auto crc = Open(BuildZip({e}), {.verify_reads = false});
  ASSERT_TRUE(crc.ok()) << crc.status().ToString();
}

TEST(ZipDifferential, EmptyArchivesAreRefused) {
  // torch's reader refuses them (no top-level folder).
  ExpectCorrupt(BuildZip({}), "no records");
}

TEST(ZipDifferential, FileEntriesWithTheDosDirectoryAttributeAreRefused) {
  std::vector<uint8_t> bytes = HandArchive();
  Patch32(bytes, LayoutOf(bytes).cd1 + 38, 0x10);
  ExpectCorrupt(bytes, "record p/u: a file entry with the MS-DOS directory");
}

TEST(ZipDifferential, EntriesNeedingALaterZipVersionAreUnsupported) {
  std::vector<uint8_t> bytes = HandArchive();
  Patch16(bytes, LayoutOf(bytes).cd1 + 6, 64);  // zipfile stops at 63
  EXPECT_EQ(Open(bytes).status().code(), StatusCode::kUnsupported);
  Patch16(bytes, LayoutOf(HandArchive()).cd1 + 6, 63);
  EXPECT_TRUE(Open(bytes).ok());
}

TEST(ZipDifferential, FullNamesTorchWouldCutAreRefused) {
  // torch's reader cuts names at 511 bytes (miniz's 512-byte buffer).
  EXPECT_TRUE(Open(BuildZip({{"p/" + std::string(509, 'n'), "1"}})).ok());
  ExpectCorrupt(BuildZip({{"p/" + std::string(510, 'n'), "1"}}),
                "record name longer than 511 bytes");
}

TEST(ZipDifferential, CommentMustEndAtTheEndOfTheFile) {
  ExpectCorrupt(WithComment(WriterArchive(), "abc", 2),
                "does not end at the end of the file (3 bytes follow");
  ExpectCorrupt(WithComment(WriterArchive(), "abc", 4),
                "does not end at the end of the file");
  std::vector<uint8_t> trailing = HandArchive();
  trailing.push_back(0);
  ExpectCorrupt(trailing, "does not end at the end of the file");
}

TEST(ZipDifferential, EntryCountMustConsumeTheCentralDirectoryExactly) {
  // The archive: the end records say 0 over a directory holding 3.
  std::vector<uint8_t> bytes = WriterArchive();
  const Layout l = LayoutOf(bytes);
  for (uint64_t at : {l.eocd + 8, l.eocd + 10}) Patch16(bytes, at, 0);
  for (uint64_t at : {l.zip64_end + 24, l.zip64_end + 32})
    Patch64(bytes, at, 0);
  ExpectCorrupt(bytes, "beyond the 0 entries the end record declares");
  std::vector<uint8_t> hand = HandArchive();
  const Layout h = LayoutOf(hand);
  for (uint64_t at : {h.eocd + 8, h.eocd + 10}) Patch16(hand, at, 1);
  ExpectCorrupt(hand, "beyond the 1 entries the end record declares");
}

TEST(ZipDifferential, BytesNoRecordOwnsAreRefused) {
  const std::vector<uint8_t> hand = HandArchive();
  const Layout l = LayoutOf(hand);
  // Prepended (a self-extracting stub): zipfile shifts every offset.
  ExpectCorrupt(InsertUnowned(hand, 0, "#!/bin/sh\n"),
                "10 bytes at offset 0 before its local header belong to no "
                "record");
  ExpectCorrupt(InsertUnowned(hand, l.local1, "hidden"),
                "record p/u: 6 bytes at offset");
  ExpectCorrupt(InsertUnowned(hand, l.cd0, "hidden"), "6 bytes at offset");
  // A whole hidden local header between two records.
  std::vector<uint8_t> other = BuildZip({{"p/evil", "evil"}});
  ExpectCorrupt(InsertUnowned(hand, l.local1,
                              std::string(other.begin(), other.begin() + 40)),
                "belong to no record");
}

TEST(ZipDifferential, Zip64EndRecordMustSitAtTheLocatorAndAgree) {
  const std::vector<uint8_t> base = WriterArchive();
  const Layout l = LayoutOf(base);
  std::vector<uint8_t> moved = base;
  Patch64(moved, l.locator + 8, l.zip64_end - 8);
  ExpectCorrupt(moved, "zip64 end record out of range");
  std::vector<uint8_t> count = base;
  Patch16(count, l.eocd + 8, 2);
  Patch16(count, l.eocd + 10, 2);
  ExpectCorrupt(count, "disagree on the entry count");
  std::vector<uint8_t> saturated = base;  // saturated fields defer: fine
  Patch16(saturated, l.eocd + 8, 0xFFFF);
  Patch16(saturated, l.eocd + 10, 0xFFFF);
  Patch32(saturated, l.eocd + 12, 0xFFFFFFFF);
  Patch32(saturated, l.eocd + 16, 0xFFFFFFFF);
  ExpectRefusedOrIdentical(base, saturated, "saturated");
  EXPECT_TRUE(Open(saturated).ok());
  std::vector<uint8_t> extensible = base;
  Patch64(extensible, l.zip64_end + 4, 52);
  ExpectCorrupt(extensible, "extensible data is not accepted");
  std::vector<uint8_t> disks = base;
  Patch32(disks, l.locator + 16, 2);
  EXPECT_EQ(Open(disks).status().code(), StatusCode::kUnsupported);
}

TEST(ZipDifferential, LocalHeaderMustAgreeWithTheCentralEntry) {
  const std::vector<uint8_t> hand = HandArchive();
  const Layout l = LayoutOf(hand);
  std::vector<uint8_t> method = hand;
  Patch16(method, l.local1 + 8, 8);
  ExpectCorrupt(method, "disagree on the compression method");
  std::vector<uint8_t> flags = hand;
  Patch16(flags, l.local1 + 6, zip::kFlagDataDescriptor);
  ExpectCorrupt(flags, "local header flags 0x0008 disagree");
  std::vector<uint8_t> utf8 = hand;
  Patch16(utf8, l.cd1 + 8, 0x0800);
  ExpectCorrupt(utf8, "local header flags 0x0000 disagree");
  std::vector<uint8_t> crc = hand;
  Patch32(crc, l.local1 + 14, 1234);
  ExpectCorrupt(crc, "record p/u: local header sizes (12, 12) or CRC disagree");
}

TEST(ZipDifferential, DataDescriptorMustMatchTheCentralEntry) {
  const std::vector<uint8_t> base = WriterArchive();
  const Layout l = LayoutOf(base);
  for (uint64_t field : {4, 8, 12}) {
    std::vector<uint8_t> bytes = base;
    Patch32(bytes, l.descriptor0 + field, 77);
    ExpectCorrupt(bytes, "record archive/a.txt: data descriptor disagrees");
  }
  std::vector<uint8_t> sig = base;
  Patch32(sig, l.descriptor0, 0x12345678);
  ExpectCorrupt(sig, "bad data descriptor signature");
}

std::string Block(uint16_t id, const std::string& payload) {
  std::string b;
  zip::Put16(b, id);
  zip::Put16(b, static_cast<uint16_t>(payload.size()));
  return b + payload;
}

TEST(ZipDifferential, MalformedOrDuplicateExtraFieldsAreRefused) {
  const std::string z64 = Block(1, std::string(16, '\0'));
  struct Case {
    std::string local, central, what;
  } cases[] = {
      {"", z64 + z64, "two extra blocks with id 0x0001"},
      {Block(0x4246, "ZZ") + Block(0x4246, ""), "",
       "two extra blocks with id 0x4246"},
      {"", Block(0x5455, "abc").substr(0, 6), "runs past the extra field"},
      {Block(0x5455, "abc") + "x", "", "extra field ends with 1 stray bytes"},
      {"",
       Block(0x7075,
             "\x01\x00\x00\x00\x00"
             "p/other"),
       "Info-ZIP Unicode path"},
  };
  for (const Case& c : cases) {
    RawEntry e{"p/a", "abc"};
    e.local_extra = c.local;
    e.central_extra = c.central;
    ExpectCorrupt(BuildZip({e}), c.what);
  }
  // A zip64 block too short for the saturated fields it must supply.
  RawEntry e{"p/a", "abc"};
  e.central_extra = Block(1, std::string(8, '\0'));
  std::vector<uint8_t> bytes = BuildZip({e});
  const uint64_t cd = FindBytes(bytes, "PK\x01\x02");
  Patch32(bytes, cd + 20, zip::kZip64Marker32);
  Patch32(bytes, cd + 24, zip::kZip64Marker32);
  ExpectCorrupt(bytes, "zip64 extra field is too short");
}

TEST(ZipDifferential, DirectoryEntriesMustBeEmpty) {
  EXPECT_TRUE(Open(BuildZip({{"p/d/", ""}, {"p/d/a", "1"}})).ok());
  ExpectCorrupt(BuildZip({{"p/d/", "hidden"}, {"p/d/a", "1"}}),
                "record p/d/: directory entry has data");
  ExpectCorrupt(BuildZip({{"p/a", "1"}, {"p/../", ""}}),
                "unsafe directory name");
}

TEST(ZipDifferential, NamesDifferingOnlyInCaseAreRefused) {
  // torch's reader (miniz) finds either for both names.
  ExpectCorrupt(BuildZip({{"p/Model.py", "1"}, {"p/model.py", "2"}}),
                "record p/Model.py: differs from record model.py only in "
                "letter case");
}

TEST(ZipDifferential, EntriesOnThisDiskMustEqualTheTotal) {
  std::vector<uint8_t> hand = HandArchive();
  Patch16(hand, LayoutOf(hand).eocd + 8, 1);
  ExpectCorrupt(hand, "end record counts 1 entries on this disk but 2");
}

TEST(ZipDifferential, EncryptedAndPatchedEntriesAreUnsupported) {
  for (uint16_t flag : {0x0001, 0x0040, 0x2000, 0x0020}) {
    RawEntry e{"p/a", "abc"};
    e.flags = flag;
    auto r = Open(BuildZip({e}));
    ASSERT_FALSE(r.ok()) << flag;
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << flag;
  }
}

// ---------------------------------------------------------------- ZipNames

TEST(ZipNames, EscapeNameMakesEveryByteVisibleAndIsInjective) {
  const std::pair<std::string, std::string> cases[] = {
      {"plain/name.py", "plain/name.py"},
      {std::string("a\0b", 3), "a\\x00b"},
      {"\x1b[31mred", "\\x1b[31mred"},
      {"line\nbreak\r", "line\\x0abreak\\x0d"},
      {"back\\slash", "back\\\\slash"},
      {"\\x41", "\\\\x41"},
      {"bad\xff\xfe", "bad\\xff\\xfe"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"\xc2\x9b"
       "c1",
       "\\xc2\\x9bc1"},  // C1 control (CSI)
      {"\xe2\x80\xae"
       "txt.exe",
       "\\xe2\\x80\\xaetxt.exe"},           // RLO
      {"\xc0\xaf", "\\xc0\\xaf"},           // overlong '/'
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},  // surrogate
      {"\x7f", "\\x7f"},
  };
  for (const auto& [raw, escaped] : cases) {
    EXPECT_EQ(EscapeName(raw), escaped) << escaped;
    EXPECT_EQ(UnescapeName(escaped), raw) << escaped;
  }
}

TEST(ZipNames, UnescapeNameRefusesWhatEscapeNameNeverWrites) {
  for (std::string_view text : {"lone\\", "a\\q", "\\x4", "\\xZZ", "\\xAB",
                                "\\x41", "\n\x01", "caf\\xc3\\xa9"}) {
    EXPECT_EQ(UnescapeName(text), std::nullopt) << text;
  }
}

TEST(ZipNames, InvalidUtf8IsRefusedAndNamedEscaped) {
  RawEntry e{"p/bad\xff.py", "1"};
  e.flags = 0x0800;
  ExpectCorrupt(BuildZip({{"p/a", "0"}, e}),
                "record p/bad\\xff.py: name is not valid UTF-8");
}

TEST(ZipNames, NonAsciiNamesNeedTheUtf8Flag) {
  RawEntry e{"p/caf\xc3\xa9.py", "1"};
  ExpectCorrupt(BuildZip({e}), "non-ASCII name without the UTF-8 flag");
  e.flags = 0x0800;
  auto r = Open(BuildZip({e}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE((*r)->Find("caf\xc3\xa9.py"), nullptr);
}

TEST(ZipNames, ErrorMessagesShowTheWholeNameEscaped) {
  auto nul = Open(BuildZip({{"p/a", "1"}, {std::string("p/x\0tail", 8), "2"}}));
  ASSERT_FALSE(nul.ok());
  EXPECT_THAT(nul.status().message(), HasSubstr("record p/x\\x00tail"));
  auto esc = Open(BuildZip({{"p/a", "1"}, {"p/\x1b]0;pwned\x07/..", "2"}}));
  ASSERT_FALSE(esc.ok());
  EXPECT_THAT(esc.status().message(), HasSubstr("p/\\x1b]0;pwned\\x07/.."));
  EXPECT_THAT(esc.status().message(), Not(HasSubstr("\x1b")));
  auto ok = Open(BuildZip({{"p/a", "1"}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_THAT((*ok)->Read("\x1b[2J").status().message(),
              HasSubstr("has no record \\x1b[2J"));
}

TEST(ZipNames, PackageFolderWithAnInvalidUtf8NameIsRefused) {
  TempDir dir;
  const std::string root = dir.path() + "/pkg";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  std::ofstream(root + "/ok.py") << "1";
  std::ofstream(root + "/bad\xff.py") << "2";
  auto r = ArchiveReader::OpenPath(root);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruptArchive);
  EXPECT_THAT(r.status().message(), HasSubstr("package folder " + root));
  EXPECT_THAT(r.status().message(), HasSubstr("bad\\xff.py"));
}

// ------------------------------------------------- FileChangesUnderReader

std::string WriteArchiveFile(const TempDir& dir, const Records& records) {
  const std::string path = dir.path() + "/a.pt";
  std::vector<uint8_t> bytes = WriteToBuffer(records);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(FileChangesUnderReader, ShrunkFileGivesANamedErrorNotSigbus) {
  TempDir dir;
  const std::string big(4 << 20, 'b');
  const std::string path = WriteArchiveFile(
      dir, {{"first", "small"}, {"big", big}, {"last", "end"}});
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(truncate(path.c_str(), 1 << 20), 0);
  auto expect_shrank = [&](const Status& s, const std::string& record) {
    EXPECT_EQ(s.code(), StatusCode::kIOError) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("archive " + path + ", record " +
                                       record + ": file shrank"));
  };
  expect_shrank((*r)->VerifyAll(), "big");
  expect_shrank((*r)->Verify("big"), "big");
  expect_shrank((*r)->Verify("last"), "last");
  expect_shrank((*r)->Read("big").status(), "big");
  expect_shrank(
      (*r)->Stream("last",
                   [](std::span<const uint8_t>) { return Status::Ok(); }),
      "last");
  std::string out(3, '\0');
  expect_shrank((*r)->ReadInto("last", {reinterpret_cast<uint8_t*>(out.data()),
                                        out.size()}),
                "last");
  // What is still there reads as before.
  EXPECT_EQ(Str(*(*r)->Read("first")), "small");
}

TEST(FileChangesUnderReader, ChangedBytesFailTheCrcOnRead) {
  TempDir dir;
  const std::string path = WriteArchiveFile(dir, {{"code.py", "print(1)"}});
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok());
  const RecordInfo* info = (*r)->Find("code.py");
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "PRINT", 5, static_cast<off_t>(info->data_offset)), 5);
  close(fd);
  Status s = (*r)->Read("code.py").status();
  EXPECT_EQ(s.code(), StatusCode::kCorruptArchive);
  EXPECT_THAT(s.message(), HasSubstr("record code.py: CRC-32 mismatch"));
}

TEST(FileChangesUnderReader, FileEmptiedBeforeTheFirstReadIsAnError) {
  TempDir dir;
  const std::string path = WriteArchiveFile(dir, {{"x", "data"}});
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(truncate(path.c_str(), 0), 0);
  EXPECT_EQ((*r)->VerifyAll().code(), StatusCode::kIOError);
  EXPECT_EQ((*r)->Read("x").status().code(), StatusCode::kIOError);
}

TEST(FileChangesUnderReader, FolderFileGrownSinceTheScanIsNotCut) {
  TempDir dir;
  const std::string root = dir.path() + "/pkg";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  std::ofstream(root + "/f.py") << "12345";
  auto r = ArchiveReader::OpenPath(root);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::ofstream(root + "/f.py") << "1234567890";
  std::string out(5, '\0');
  Status s = (*r)->ReadInto(
      "f.py", {reinterpret_cast<uint8_t*>(out.data()), out.size()});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("package folder " + root + ", record f.py"));
  std::string streamed;
  EXPECT_TRUE((*r)->Stream("f.py",
                           [&](std::span<const uint8_t> piece) {
                             streamed += Str(piece);
                             return Status::Ok();
                           })
                  .ok());
  EXPECT_EQ(streamed, "1234567890");
}

}  // namespace
}  // namespace hermetic
