// Records the writer deflates (Compression::kDeflate): what is deflated and
// what stays stored, how both read back, and what a reader does with a
// deflated record whose bytes were changed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "archive_test_util.h"
#include "hermetic/archive.h"
#include "zip_format.h"

namespace hermetic {
namespace {

using ::testing::HasSubstr;
using namespace test;  // NOLINT: the shared archive test helpers

// Source-like text that deflate shrinks several times over.
std::string Source(int lines) {
  std::string s;
  for (int i = 0; i < lines; ++i) {
    s.append("def function_").append(std::to_string(i));
    s.append("(x):\n    return x * ").append(std::to_string(i % 7));
    s.append("\n\n");
  }
  return s;
}

std::string Noise(size_t n) {
  std::mt19937 gen(7);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(gen());
  return s;
}

struct Written {
  std::string name;
  std::string data;
  Compression compression;
};

std::vector<uint8_t> Write(const std::vector<Written>& records,
                           const WriterOptions& options) {
  std::vector<uint8_t> out;
  auto w = ArchiveWriter::OpenMemory(&out, options);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  for (const Written& r : records) {
    Status s = (*w)->WriteRecord(r.name, Bytes(r.data), r.compression);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  Status s = (*w)->Finish();
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

WriterOptions Level(int level) {
  WriterOptions options;
  options.deflate_level = level;
  return options;
}

TEST(ArchiveDeflateTest, DeflatedAndStoredRecordsReadBackEqual) {
  const std::vector<Written> records = {
      {"m/a.py", Source(200), Compression::kDeflate},
      {".data/0.storage", Source(200), Compression::kStored},
      {"m/b.py", Source(50), Compression::kDeflate},
      {"r/t.pkl", std::string(3000, 'p'), Compression::kDeflate},
  };
  std::vector<uint8_t> bytes = Write(records, Level(kDefaultDeflateLevel));
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const Written& w : records) {
    const RecordInfo* info = (*r)->Find(w.name);
    ASSERT_NE(info, nullptr) << w.name;
    const bool deflated = w.compression == Compression::kDeflate;
    EXPECT_EQ(info->method, deflated ? 8 : 0) << w.name;
    EXPECT_EQ(info->size, w.data.size());
    if (deflated) {
      EXPECT_LT(info->compressed_size * 3, info->size) << w.name;
    }
    // The CRC is the uncompressed bytes', as zip wants.
    EXPECT_EQ(info->crc32, Crc32(0, Bytes(w.data)));
    EXPECT_EQ(Str(*(*r)->Read(w.name)), w.data) << w.name;
    std::string streamed;
    ASSERT_TRUE((*r)->Stream(w.name,
                             [&](std::span<const uint8_t> piece) {
                               streamed += Str(piece);
                               return Status::Ok();
                             })
                    .ok());
    EXPECT_EQ(streamed, w.data);
    // APPNOTE 4.4.3: deflate needs zip 2.0; torch writes 0 for stored.
    EXPECT_EQ(zip::Get16(bytes.data() + info->header_offset + 4),
              deflated ? 20 : 0);
  }
  EXPECT_TRUE((*r)->VerifyAll().ok());
}

TEST(ArchiveDeflateTest, StoredRecordsStayAlignedAndZeroCopy) {
  // Deflated records of odd sizes before each storage move it off any
  // boundary unless the writer pads it.
  std::vector<Written> records;
  for (int i = 0; i < 5; ++i) {
    records.push_back({"m/s" + std::to_string(i) + ".py", Source(13 + 7 * i),
                       Compression::kDeflate});
    records.push_back({".data/" + std::to_string(i) + ".storage",
                       std::string(100 + i, static_cast<char>('a' + i)),
                       Compression::kStored});
  }
  std::vector<uint8_t> bytes = Write(records, Level(12));
  TempDir dir;
  const std::string path = dir.path() + "/p.pt";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto map = (*r)->MapRecords(".data/");
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  for (int i = 0; i < 5; ++i) {
    const std::string name = ".data/" + std::to_string(i) + ".storage";
    const RecordInfo* info = (*r)->Find(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->method, 0);
    EXPECT_EQ(info->data_offset % 64, 0u) << name;
    EXPECT_EQ((*r)->Find("m/s" + std::to_string(i) + ".py")->method, 8);
    auto view = (*map)->View(name);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    EXPECT_EQ(Str(*view), std::string(100 + i, static_cast<char>('a' + i)));
    EXPECT_TRUE((*r)->View(name).ok());
    EXPECT_EQ((*r)->View("m/s" + std::to_string(i) + ".py").status().code(),
              StatusCode::kUnsupported);
  }
}

TEST(ArchiveDeflateTest, StoresWhatDeflateWouldNotHelp) {
  WriterOptions options = Level(kDefaultDeflateLevel);
  options.max_deflate_size = 4000;
  std::vector<uint8_t> bytes = Write(
      {
          {"noise.bin", Noise(5000), Compression::kDeflate},  // incompressible
          {"tiny.txt", "ab", Compression::kDeflate},          // grows
          {"empty.txt", "", Compression::kDeflate},
          {"big.py", Source(200), Compression::kDeflate},  // past the limit
          {"small.py", Source(20), Compression::kDeflate},
      },
      options);
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Find("noise.bin")->method, 0);
  EXPECT_EQ((*r)->Find("tiny.txt")->method, 0);
  EXPECT_EQ((*r)->Find("empty.txt")->method, 0);
  EXPECT_GT((*r)->Find("big.py")->size, options.max_deflate_size);
  EXPECT_EQ((*r)->Find("big.py")->method, 0);
  EXPECT_EQ((*r)->Find("small.py")->method, 8);
  EXPECT_EQ(Str(*(*r)->Read("noise.bin")), Noise(5000));
  EXPECT_TRUE((*r)->VerifyAll().ok());
}

TEST(ArchiveDeflateTest, LevelZeroWritesTheStoredArchiveByteForByte) {
  const std::vector<Written> asked = {
      {"m/a.py", Source(100), Compression::kDeflate},
      {"m/b.txt", Source(10), Compression::kStored},
  };
  EXPECT_EQ(Write(asked, Level(0)),
            WriteToBuffer({{"m/a.py", Source(100)}, {"m/b.txt", Source(10)}}));
}

TEST(ArchiveDeflateTest, SameRecordsAndLevelGiveTheSameBytes) {
  const std::vector<Written> records = {
      {"m/a.py", Source(300), Compression::kDeflate},
      {".data/0.storage", Noise(777), Compression::kStored},
      {"m/b.py", Source(40), Compression::kDeflate},
  };
  const std::vector<uint8_t> first = Write(records, Level(6));
  EXPECT_EQ(Write(records, Level(6)), first);
  const std::vector<uint8_t> fastest = Write(records, Level(1));
  EXPECT_EQ(Write(records, Level(1)), fastest);
  // The serialization id folds names and uncompressed CRCs only, so it does
  // not depend on how the records are kept.
  auto a = Open(first);
  auto b = Open(WriteToBuffer({{"m/a.py", Source(300)},
                               {".data/0.storage", Noise(777)},
                               {"m/b.py", Source(40)}}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*(*a)->Read(".data/serialization_id"),
            *(*b)->Read(".data/serialization_id"));
}

TEST(ArchiveDeflateTest, RefusesLevelsLibdeflateDoesNotHave) {
  std::vector<uint8_t> out;
  for (int level : {-1, 13}) {
    auto w = ArchiveWriter::OpenMemory(&out, Level(level));
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(w.status().message(), HasSubstr("deflate_level"));
  }
}

TEST(ArchiveDeflateTest, DeflatedRecordWithAWrongCrcIsRefusedOnRead) {
  // Without CRCs the writer records 0 for every record, which its deflated
  // bytes then contradict.
  WriterOptions options = Level(kDefaultDeflateLevel);
  options.compute_crc32 = false;
  std::vector<uint8_t> bytes =
      Write({{"m/a.py", Source(100), Compression::kDeflate}}, options);
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ((*r)->Find("m/a.py")->method, 8);
  for (const Status& s :
       {(*r)->Read("m/a.py").status(), (*r)->Verify("m/a.py")}) {
    EXPECT_EQ(s.code(), StatusCode::kCorruptArchive) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("m/a.py"));
    EXPECT_THAT(s.message(), HasSubstr("CRC"));
  }
  auto unchecked = Open(bytes, {.verify_reads = false});
  ASSERT_TRUE(unchecked.ok());
  EXPECT_EQ(Str(*(*unchecked)->Read("m/a.py")), Source(100));
}

TEST(ArchiveDeflateTest, ChangedDeflatedBytesAreRefusedNamingTheRecord) {
  const std::string text = Source(100);
  const std::vector<uint8_t> bytes =
      Write({{"m/a.py", text, Compression::kDeflate}}, Level(6));
  auto clean = Open(bytes);
  ASSERT_TRUE(clean.ok());
  const RecordInfo info = *(*clean)->Find("m/a.py");
  ASSERT_EQ(info.method, 8);
  // Every byte but the last (whose spare bits may be unused) changes what
  // inflates, or breaks the stream: never different bytes accepted.
  for (uint64_t i = 0; i + 1 < info.compressed_size; ++i) {
    std::vector<uint8_t> bad = bytes;
    bad[info.data_offset + i] ^= 0x5A;
    auto r = Open(bad);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto read = (*r)->Read("m/a.py");
    if (read.ok()) {
      EXPECT_EQ(Str(*read), text) << "byte " << i;
      continue;
    }
    EXPECT_EQ(read.status().code(), StatusCode::kCorruptArchive)
        << "byte " << i << ": " << read.status().ToString();
    EXPECT_THAT(read.status().message(), HasSubstr("record m/a.py"));
  }
}

}  // namespace
}  // namespace hermetic
