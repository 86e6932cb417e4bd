// ArchiveReader::OpenSource: the reader over a RandomAccessSource accepts
// and refuses exactly what the buffer reader does (same parser, other
// bytes source), fetches only the directory, the local headers and the
// records asked for, and turns a source that changes into named errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "archive_test_util.h"
#include "hermetic/archive.h"

namespace hermetic {
namespace {

using namespace test;  // NOLINT: the shared archive test helpers
using ::testing::HasSubstr;

// Bytes in memory behind the source interface, counting what is fetched;
// tests may cut or change them while a reader is open.
class MemorySource : public RandomAccessSource {
 public:
  // `batches`: whether ReadRanges fills its ranges (one round trip) or
  // fails them all (the reader must then read each alone).
  explicit MemorySource(std::vector<uint8_t> bytes, bool batches = true)
      : bytes_(std::move(bytes)), size_(bytes_.size()), batches_(batches) {}

  uint64_t Size() const override { return size_; }
  Result<size_t> ReadAt(uint64_t offset, std::span<uint8_t> out) override {
    if (!error_.ok()) return error_;
    ++calls_;
    if (offset >= bytes_.size()) return size_t{0};
    const size_t n = std::min<uint64_t>(out.size(), bytes_.size() - offset);
    std::memcpy(out.data(), bytes_.data() + offset, n);
    fetched_ += n;
    return n;
  }

  std::vector<size_t> ReadRanges(
      std::span<const uint64_t> offsets,
      std::span<const std::span<uint8_t>> out) override {
    ++calls_;
    std::vector<size_t> got(out.size(), 0);
    for (size_t i = 0; batches_ && error_.ok() && i < out.size(); ++i) {
      if (offsets[i] >= bytes_.size()) continue;
      got[i] = std::min<uint64_t>(out[i].size(), bytes_.size() - offsets[i]);
      std::memcpy(out[i].data(), bytes_.data() + offsets[i], got[i]);
      fetched_ += got[i];
    }
    return got;
  }

  std::vector<uint8_t>& bytes() { return bytes_; }
  uint64_t fetched() const { return fetched_; }
  // Round trips: ReadAt and ReadRanges calls.
  uint64_t calls() const { return calls_; }
  void Fail(Status error) { error_ = std::move(error); }

 private:
  std::vector<uint8_t> bytes_;
  uint64_t size_;
  uint64_t fetched_ = 0;
  uint64_t calls_ = 0;
  bool batches_;
  Status error_ = Status::Ok();
};

Result<std::unique_ptr<ArchiveReader>> OpenThrough(
    std::shared_ptr<MemorySource> source, const ReaderOptions& options = {}) {
  return ArchiveReader::OpenSource(std::move(source), "test.pt", options);
}

// What a reader makes of an archive: the open's or each record's error, or
// every record's bytes by Read, View and a RecordMap.
std::string Outcome(Result<std::unique_ptr<ArchiveReader>> opened) {
  if (!opened.ok()) return "open: " + opened.status().ToString();
  ArchiveReader& r = **opened;
  std::string out;
  auto map = r.MapRecords("");
  if (!map.ok()) return "map: " + map.status().ToString();
  for (const RecordInfo& info : r.records()) {
    out += info.name + ": ";
    auto read = r.Read(info.name);
    out += read.ok() ? Str(*read) : read.status().ToString();
    auto view = r.View(info.name);
    out += " | ";
    out += view.ok() ? Str(*view) : view.status().ToString();
    auto mapped = (*map)->View(info.name);
    out += " | ";
    out += mapped.ok() ? Str(*mapped) : mapped.status().ToString();
    out += "\n";
  }
  return out;
}

void ExpectSameOutcome(const std::vector<uint8_t>& bytes,
                       const std::string& what) {
  // CRCs are left to the structure checks on both sides, like the hostile
  // catalogue does, so that every structural verdict is compared.
  const ReaderOptions options{.verify_reads = false};
  const std::string buffered = Outcome(Open(bytes, options));
  for (bool batches : {true, false}) {
    EXPECT_EQ(Outcome(OpenThrough(
                  std::make_shared<MemorySource>(bytes, batches), options)),
              buffered)
        << what << (batches ? "" : ", every prefetched range failing");
  }
}

std::vector<std::vector<uint8_t>> Bases() {
  return {WriterArchive(), HandArchive(),
          WriteToBuffer({{"x", std::string(70, 'x')}, {"y/z", "zz"}})};
}

TEST(SourceReader, AgreesWithTheBufferReaderOnEveryPrefix) {
  for (const std::vector<uint8_t>& base : Bases()) {
    for (size_t n = 0; n <= base.size(); ++n) {
      ExpectSameOutcome({base.begin(), base.begin() + n},
                        "prefix of " + std::to_string(n) + " bytes");
    }
  }
}

TEST(SourceReader, AgreesWithTheBufferReaderOnEveryFlippedByte) {
  for (const std::vector<uint8_t>& base : Bases()) {
    for (size_t i = 0; i < base.size(); ++i) {
      for (uint8_t flip : {uint8_t{0xFF}, uint8_t{0x01}}) {
        std::vector<uint8_t> lying = base;
        lying[i] ^= flip;
        ExpectSameOutcome(
            lying, "byte " + std::to_string(i) + " ^ " + std::to_string(flip));
      }
    }
  }
}

TEST(SourceReader, AgreesWithTheBufferReaderOnEveryDeletedByte) {
  for (const std::vector<uint8_t>& base : Bases()) {
    for (size_t i = 0; i < base.size(); ++i) {
      std::vector<uint8_t> cut = base;
      cut.erase(cut.begin() + static_cast<std::ptrdiff_t>(i));
      ExpectSameOutcome(cut, "byte " + std::to_string(i) + " deleted");
    }
  }
}

// Eight 1 MiB records and a small one.
std::vector<uint8_t> BigArchive() {
  Records records;
  for (int i = 0; i < 8; ++i) {
    records.push_back(
        {".data/" + std::to_string(i) + ".storage",
         std::string(size_t{1} << 20, static_cast<char>('a' + i))});
  }
  records.push_back({"small.txt", "a small record"});
  return WriteToBuffer(records);
}

TEST(SourceReader, FetchesOnlyTheDirectoryHeadersAndTheRecordsRead) {
  auto source = std::make_shared<MemorySource>(BigArchive());
  auto r = OpenThrough(source);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The end records' 64 KiB window with the central directory in it, then
  // every local header in one batch.
  const uint64_t at_open = source->fetched();
  EXPECT_LT(at_open, uint64_t{80} << 10);
  EXPECT_EQ(source->calls(), 2u);
  auto small = (*r)->Read("small.txt");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(Str(*small), "a small record");
  EXPECT_EQ(source->fetched() - at_open, small->size());

  // A storage is fetched whole, in one read, on its first view only.
  auto map = (*r)->MapRecords(".data/");
  ASSERT_TRUE(map.ok());
  const uint64_t before = source->fetched();
  const uint64_t calls = source->calls();
  auto view = (*map)->View(".data/3.storage");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->size(), size_t{1} << 20);
  EXPECT_EQ((*view)[12345], 'd');
  EXPECT_EQ(source->fetched() - before, size_t{1} << 20);
  EXPECT_EQ(source->calls() - calls, 1u);
  ASSERT_TRUE((*map)->View(".data/3.storage").ok());
  EXPECT_EQ(source->calls() - calls, 1u);
  // Views are private copies: writing one changes nothing else.
  (*view)[0] = 'Z';
  auto again = (*r)->Read(".data/3.storage");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0], 'd');
}

TEST(SourceReader, WithoutBatchesReadsEachHeaderAlone) {
  auto source = std::make_shared<MemorySource>(BigArchive(), /*batches=*/false);
  auto r = OpenThrough(source);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The tail, the failed batch, then a read per header (far apart).
  EXPECT_LE(source->calls(), 2 + 2 * (*r)->records().size());
  EXPECT_GT(source->calls(), (*r)->records().size());
}

TEST(SourceReader, MapOutlivesItsReader) {
  auto source = std::make_shared<MemorySource>(BigArchive());
  std::unique_ptr<RecordMap> map;
  {
    auto r = OpenThrough(source);
    ASSERT_TRUE(r.ok());
    auto m = (*r)->MapRecords(".data/");
    ASSERT_TRUE(m.ok());
    map = std::move(*m);
  }
  auto view = map->View(".data/7.storage");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ((*view)[0], 'h');
}

TEST(SourceReader, SourceThatShrankGivesANamedIOError) {
  auto source = std::make_shared<MemorySource>(BigArchive());
  auto r = OpenThrough(source);
  ASSERT_TRUE(r.ok());
  const RecordInfo* info = (*r)->Find(".data/5.storage");
  ASSERT_NE(info, nullptr);
  source->bytes().resize(info->data_offset + 10);
  auto read = (*r)->Read(".data/5.storage");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kIOError);
  EXPECT_THAT(read.status().message(), HasSubstr("archive test.pt"));
  EXPECT_THAT(read.status().message(), HasSubstr(".data/5.storage"));
  EXPECT_THAT(read.status().message(), HasSubstr("shrank"));
  auto map = (*r)->MapRecords(".data/");
  ASSERT_TRUE(map.ok());
  auto view = (*map)->View(".data/5.storage");
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.status().code(), StatusCode::kIOError);
}

TEST(SourceReader, ChangedBytesFailTheCrcOfReadsAndViews) {
  auto source = std::make_shared<MemorySource>(BigArchive());
  // verify_views is off: a source's views are copies, checked as reads.
  auto r = OpenThrough(source);
  ASSERT_TRUE(r.ok());
  const RecordInfo* info = (*r)->Find(".data/2.storage");
  ASSERT_NE(info, nullptr);
  source->bytes()[info->data_offset + 100] ^= 1;
  auto map = (*r)->MapRecords(".data/");
  ASSERT_TRUE(map.ok());
  for (const Status& s : {(*r)->Read(".data/2.storage").status(),
                          (*r)->View(".data/2.storage").status(),
                          (*map)->View(".data/2.storage").status()}) {
    EXPECT_EQ(s.code(), StatusCode::kCorruptArchive) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("CRC-32 mismatch"));
    EXPECT_THAT(s.message(), HasSubstr(".data/2.storage"));
  }
}

TEST(SourceReader, SourceErrorsReachTheCaller) {
  auto source = std::make_shared<MemorySource>(BigArchive());
  auto r = OpenThrough(source);
  ASSERT_TRUE(r.ok());
  source->Fail(Status::IOError("archive test.pt: connection reset"));
  auto read = (*r)->Read("small.txt");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kIOError);
  EXPECT_THAT(read.status().message(), HasSubstr("connection reset"));
  auto failing = std::make_shared<MemorySource>(BigArchive());
  failing->Fail(Status::IOError("archive test.pt: connection refused"));
  auto opened = OpenThrough(failing);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("connection refused"));
}

}  // namespace
}  // namespace hermetic
