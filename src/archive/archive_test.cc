#include "hermetic/archive.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "archive_test_util.h"
#include "zip_format.h"

namespace hermetic {
namespace {

using ::testing::HasSubstr;
using namespace test;  // NOLINT: the shared archive test helpers

// ---------------------------------------------------------------- writer

TEST(ArchiveWriterTest, LayoutMatchesTorchConventions) {
  std::vector<uint8_t> bytes =
      WriteToBuffer({{"a.txt", "hello"}, {"b/c", "xyz"}});
  EXPECT_EQ(zip::Get32(bytes.data()), zip::kLocalHeaderSig);
  EXPECT_EQ(zip::Get16(bytes.data() + 6), 0x0808);
  EXPECT_EQ(zip::Get32(bytes.data() + 14), 0u);  // CRC deferred
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->prefix(), "archive");
  std::vector<std::string> names;
  for (const RecordInfo& info : (*r)->records()) names.push_back(info.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"a.txt", "b/c", ".data/version",
                                      "byteorder", ".data/serialization_id"}));
  for (const RecordInfo& info : (*r)->records()) {
    EXPECT_EQ(info.data_offset % 64, 0u) << info.name;
    EXPECT_EQ(info.method, 0);
  }
  EXPECT_EQ(Str(*(*r)->Read(".data/version")), "6\n");
  EXPECT_EQ(Str(*(*r)->Read("byteorder")),
            std::endian::native == std::endian::little ? "little" : "big");
  EXPECT_EQ(Str(*(*r)->Read("b/c")), "xyz");
  EXPECT_EQ((*r)->records()[0].crc32, Crc32(0, Bytes("hello")));
  EXPECT_TRUE((*r)->VerifyAll().ok());
}

TEST(ArchiveWriterTest, EmptyRecordsHaveNoDataDescriptor) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"e", ""}, {"f", "1"}});
  EXPECT_EQ(zip::Get16(bytes.data() + 6), zip::kEmptyRecordFlags);
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RecordInfo* e = (*r)->Find("e");
  const RecordInfo* f = (*r)->Find("f");
  ASSERT_TRUE(e != nullptr && f != nullptr);
  // The next header follows the (aligned, empty) data directly.
  EXPECT_EQ(f->header_offset, e->data_offset);
  EXPECT_EQ(zip::Get16(bytes.data() + f->header_offset + 6), zip::kWriterFlags);
}

TEST(ArchiveReaderTest, RefusesSpecialFiles) {
  TempDir dir;
  const std::string fifo = dir.path() + "/pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto r = ArchiveReader::OpenPath(fifo);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ArchiveReader::OpenPath(dir.path() + "/absent").status().code(),
            StatusCode::kNotFound);
}

TEST(ArchiveWriterTest, EndsWithZip64EndRecordLocatorAndClassicEnd) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"x", "1"}});
  const size_t n = bytes.size();
  EXPECT_EQ(zip::Get32(&bytes[n - 22]), zip::kEndSig);
  EXPECT_EQ(zip::Get32(&bytes[n - 42]), zip::kZip64LocatorSig);
  EXPECT_EQ(zip::Get32(&bytes[n - 98]), zip::kZip64EndSig);
  EXPECT_EQ(zip::Get16(&bytes[n - 98 + 12]), 0x031E);
}

TEST(ArchiveWriterTest, KeepsExplicitFrameworkRecords) {
  // As torch's writer: a framework record the caller wrote is kept where it
  // is, and only the missing ones are appended.
  std::vector<uint8_t> bytes = WriteToBuffer(
      {{".data/version", "3\n"}, {"byteorder", "big"}, {"x", "1"}});
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)->records().size(), 4u);
  EXPECT_EQ((*r)->records()[3].name, ".data/serialization_id");
  EXPECT_EQ(Str(*(*r)->Read(".data/version")), "3\n");
  EXPECT_EQ(Str(*(*r)->Read("byteorder")), "big");

  bytes = WriteToBuffer({{".data/serialization_id", "mine"}, {"x", "1"}});
  r = Open(bytes);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)->records().size(), 4u);
  EXPECT_EQ((*r)->records()[3].name, "byteorder");
  EXPECT_EQ(Str(*(*r)->Read(".data/serialization_id")), "mine");
}

TEST(ArchiveWriterTest, SerializationIdIsTheIdOfTheRecordsBeforeIt) {
  Records recs = {{"a", "1"}, {"b/c.py", "print(1)\n"}, {"empty", ""}};
  std::vector<uint8_t> out;
  auto w = ArchiveWriter::OpenMemory(&out);
  ASSERT_TRUE(w.ok());
  for (const auto& [name, data] : recs) {
    ASSERT_TRUE((*w)->WriteRecord(name, Bytes(data)).ok());
  }
  ASSERT_TRUE((*w)->WriteRecord(".data/version", Bytes("6\n")).ok());
  ASSERT_TRUE((*w)->WriteRecord("byteorder", Bytes("little")).ok());
  const std::string id = (*w)->SerializationId();
  ASSERT_TRUE((*w)->Finish().ok());
  auto r = Open(out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Str(*(*r)->Read(".data/serialization_id")), id);
  EXPECT_EQ(id.size(), 40u);
  // Content decides it: other bytes change the CRC half, other names both.
  EXPECT_EQ(out, WriteToBuffer(recs));
  auto id_of = [](const Records& records) {
    auto reader = Open(WriteToBuffer(records));
    return Str(*(*reader)->Read(".data/serialization_id"));
  };
  Records other_bytes = recs;
  other_bytes[0].second = "2";
  EXPECT_EQ(id_of(other_bytes).substr(0, 20), id.substr(0, 20));
  EXPECT_NE(id_of(other_bytes).substr(20), id.substr(20));
  Records other_name = recs;
  other_name[0].first = "z";
  EXPECT_NE(id_of(other_name).substr(0, 20), id.substr(0, 20));
  EXPECT_EQ(id_of(other_name).substr(20), id.substr(20));
}

TEST(ArchiveWriterTest, IsDeterministicAndStreamingMatchesWholeRecords) {
  Records recs = {{"a", std::string(1000, 'a')}, {"b/c.py", "print(1)\n"}};
  std::vector<uint8_t> first = WriteToBuffer(recs);
  EXPECT_EQ(first, WriteToBuffer(recs));

  std::vector<uint8_t> streamed;
  auto w = ArchiveWriter::OpenMemory(&streamed);
  ASSERT_TRUE(w.ok());
  for (const auto& [name, data] : recs) {
    ASSERT_TRUE((*w)->BeginRecord(name).ok());
    for (size_t i = 0; i < data.size(); i += 7) {
      ASSERT_TRUE(
          (*w)->Append(Bytes(std::string_view(data).substr(i, 7))).ok());
    }
    ASSERT_TRUE((*w)->EndRecord().ok());
  }
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_EQ(first, streamed);
}

TEST(ArchiveWriterTest, LargeWritesPassThroughIntact) {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  std::vector<uint8_t> bytes = WriteToBuffer({{"small", "s"}, {"big", big}});
  auto r = Open(bytes, {.verify_views = true});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Str(*(*r)->Read("big")), big);
  EXPECT_EQ((*r)->Find("big")->data_offset % 64, 0u);
}

TEST(ArchiveWriterTest, RejectsBadNamesAndDuplicates) {
  std::vector<uint8_t> out;
  auto w = ArchiveWriter::OpenMemory(&out);
  ASSERT_TRUE(w.ok());
  for (std::string_view bad : std::vector<std::string_view>{
           "", "../x", "a/../b", "/abs", "a\\b", std::string_view("a\0b", 3),
           "a//b", "./a"}) {
    Status s = (*w)->WriteRecord(bad, Bytes("1"));
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
  }
  ASSERT_TRUE((*w)->WriteRecord("ok", Bytes("1")).ok());
  Status dup = (*w)->WriteRecord("ok", Bytes("2"));
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(dup.message(), HasSubstr("duplicate record ok"));
  EXPECT_EQ((*w)->RecordNames(), std::vector<std::string>{"ok"});
}

TEST(RecordNameTest, CheckRecordNameIsTheWritersRule) {
  EXPECT_TRUE(CheckRecordName("a/b.py").ok());
  EXPECT_TRUE(CheckRecordName(".data/version").ok());
  const std::map<std::string, std::string> reasons = {
      {"", "empty name"},
      {"/abs", "absolute path"},
      {std::string("a\0b", 3), "NUL in name"},
      {"a\\b", "backslash in name"},
      {"a//b", "empty path component"},
      {"a/", "empty path component"},
      {"a/../b", "'..' component"},
      {"./a", "'.' component"},
  };
  std::vector<uint8_t> out;
  auto w = ArchiveWriter::OpenMemory(&out);
  ASSERT_TRUE(w.ok());
  for (const auto& [name, reason] : reasons) {
    Status s = CheckRecordName(name);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(s.message(), "invalid record name '" + name + "': " + reason);
    // The writer refuses the same names with the same words, archive named.
    Status w_s = (*w)->WriteRecord(name, Bytes("1"));
    EXPECT_EQ(w_s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(w_s.message(), "archive archive: " + s.message());
  }
}

TEST(ArchiveWriterTest, EnforcesRecordState) {
  std::vector<uint8_t> out;
  auto w = ArchiveWriter::OpenMemory(&out);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Append(Bytes("x")).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*w)->BeginRecord("a").ok());
  EXPECT_EQ((*w)->BeginRecord("b").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*w)->Finish().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*w)->EndRecord().ok());
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_TRUE((*w)->finished());
  EXPECT_EQ((*w)->WriteRecord("c", Bytes("x")).code(),
            StatusCode::kFailedPrecondition);
}

TEST(ArchiveWriterTest, NamesTheFolderAfterTheFileStem) {
  TempDir dir;
  for (auto [file, stem] : {std::pair{"model.pt", "model"},
                            {"c.tar.gz", "c.tar"},
                            {"noext", "noext"},
                            {"x.", "x"}}) {
    auto w = ArchiveWriter::OpenFile(dir.path() + "/" + file);
    ASSERT_TRUE(w.ok()) << file;
    EXPECT_EQ((*w)->archive_name(), stem);
    (*w)->Abort();
  }
  auto hidden = ArchiveWriter::OpenFile(dir.path() + "/.hidden");
  ASSERT_FALSE(hidden.ok());
  EXPECT_EQ(hidden.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(hidden.status().message(), "invalid file name: .hidden");
  auto missing = ArchiveWriter::OpenFile(dir.path() + "/missingdir/a.pt");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr("missingdir does not exist"));
  EXPECT_TRUE(dir.List().empty());
}

TEST(ArchiveWriterTest, FileTargetIsReplacedOnlyByFinish) {
  TempDir dir;
  const std::string path = dir.path() + "/model.pt";
  { std::ofstream(path) << "old"; }
  {
    auto w = ArchiveWriter::OpenFile(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WriteRecord("a", Bytes("new")).ok());
    EXPECT_EQ(dir.List().size(), 2u);  // target and its temporary sibling
    EXPECT_EQ(ReadFile(path), "old");
    (*w)->Abort();
    EXPECT_EQ(dir.List(), std::vector<std::string>{"model.pt"});
  }
  {
    auto w = ArchiveWriter::OpenFile(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WriteRecord("a", Bytes("new")).ok());
  }  // destroyed unfinished
  EXPECT_EQ(dir.List(), std::vector<std::string>{"model.pt"});
  EXPECT_EQ(ReadFile(path), "old");

  auto w = ArchiveWriter::OpenFile(path);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WriteRecord("a", Bytes("new")).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_EQ(dir.List(), std::vector<std::string>{"model.pt"});
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->prefix(), "model");
  EXPECT_EQ(Str(*(*r)->Read("a")), "new");
}

TEST(ZipLayoutTest, Zip64BlocksAndPaddingFollowTorch) {
  zip::LocalLayout small = zip::ComputeLocalLayout(0, 19, 24, 64);
  EXPECT_FALSE(small.zip64());
  EXPECT_EQ(small.padding, 11);  // the spec's worked example
  EXPECT_EQ(small.data_offset, 64u);

  zip::LocalLayout big = zip::ComputeLocalLayout(0, 10, uint64_t{5} << 30, 64);
  EXPECT_TRUE(big.size_zip64 && !big.offset_zip64);
  EXPECT_EQ(big.zip64_extra_payload, 16);
  EXPECT_EQ(big.data_offset % 64, 0u);
  EXPECT_EQ(big.extra_length, 4 + 16 + 4 + big.padding);

  zip::LocalLayout far = zip::ComputeLocalLayout(0xFFFFFFFF, 10, 5, 64);
  EXPECT_TRUE(far.offset_zip64 && !far.size_zip64);
  EXPECT_EQ(far.zip64_extra_payload, 8);
  EXPECT_EQ(far.descriptor_size(), 24u);
  EXPECT_EQ(far.data_offset % 64, 0u);
  EXPECT_EQ(far.data_offset - 0xFFFFFFFF, 30u + 10 + 4 + 12 + far.padding);
}

// Writes a >4 GiB archive as a sparse file (zero data is skipped with lseek,
// CRC disabled) so the zip64 offset path is exercised end to end in
// milliseconds.
class SparseFileSink : public ByteSink {
 public:
  explicit SparseFileSink(int fd) : fd_(fd) {}
  ~SparseFileSink() override { close(fd_); }
  Status Write(std::span<const uint8_t> bytes) override {
    const bool zeros = bytes.size() >= (1 << 20) &&
                       std::all_of(bytes.begin(), bytes.begin() + 64,
                                   [](uint8_t b) { return b == 0; });
    if (zeros) {
      lseek(fd_, static_cast<off_t>(bytes.size()), SEEK_CUR);
      return Status::Ok();
    }
    if (write(fd_, bytes.data(), bytes.size()) !=
        static_cast<ssize_t>(bytes.size())) {
      return Status::IOError("short write");
    }
    return Status::Ok();
  }
  Status Flush() override {
    off_t end = lseek(fd_, 0, SEEK_CUR);
    return ftruncate(fd_, end) == 0 ? Status::Ok() : Status::IOError("trunc");
  }

 private:
  int fd_;
};

TEST(ArchiveWriterTest, Zip64RecordsPastFourGiBRoundTrip) {
  TempDir dir;
  const std::string path = dir.path() + "/big.zip";
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  auto w = ArchiveWriter::OpenSink(std::make_unique<SparseFileSink>(fd),
                                   {.compute_crc32 = false});
  ASSERT_TRUE(w.ok());
  std::vector<uint8_t> zeros(64 << 20, 0);
  ASSERT_TRUE((*w)->BeginRecord("huge").ok());
  for (int i = 0; i < 65; ++i) ASSERT_TRUE((*w)->Append(zeros).ok());
  ASSERT_TRUE((*w)->EndRecord().ok());
  ASSERT_TRUE((*w)->WriteRecord("after", Bytes("tail")).ok());
  ASSERT_TRUE((*w)->Finish().ok());

  // Written without CRCs, so read without checking them.
  auto r = ArchiveReader::OpenPath(path, {.verify_reads = false});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RecordInfo* huge = (*r)->Find("huge");
  ASSERT_NE(huge, nullptr);
  EXPECT_EQ(huge->size, uint64_t{65} << 26);
  const RecordInfo* after = (*r)->Find("after");
  ASSERT_NE(after, nullptr);
  EXPECT_GT(after->header_offset, 0xFFFFFFFFu);
  EXPECT_EQ(after->data_offset % 64, 0u);
  EXPECT_EQ(Str(*(*r)->Read("after")), "tail");
}

TEST(ArchiveWriterTest, DeflatedRecordPastFourGiBUsesZip64OffsetAndSizes) {
  TempDir dir;
  const std::string path = dir.path() + "/big.zip";
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  WriterOptions options{.compute_crc32 = false};
  options.deflate_level = kDefaultDeflateLevel;
  auto w =
      ArchiveWriter::OpenSink(std::make_unique<SparseFileSink>(fd), options);
  ASSERT_TRUE(w.ok());
  std::vector<uint8_t> zeros(64 << 20, 0);
  ASSERT_TRUE((*w)->BeginRecord("huge").ok());
  for (int i = 0; i < 65; ++i) ASSERT_TRUE((*w)->Append(zeros).ok());
  ASSERT_TRUE((*w)->EndRecord().ok());
  const std::string text(100000, 't');
  ASSERT_TRUE(
      (*w)->WriteRecord("after.txt", Bytes(text), Compression::kDeflate).ok());
  ASSERT_TRUE((*w)->Finish().ok());

  auto r = ArchiveReader::OpenPath(path, {.verify_reads = false});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RecordInfo* after = (*r)->Find("after.txt");
  ASSERT_NE(after, nullptr);
  EXPECT_GT(after->header_offset, 0xFFFFFFFFu);
  EXPECT_EQ(after->method, 8);
  EXPECT_EQ(after->size, text.size());
  EXPECT_LT(after->compressed_size, 1000u);
  EXPECT_EQ(Str(*(*r)->Read("after.txt")), text);
}

// ---------------------------------------------------------------- reader

// tests/data/torch213_package.pt: written by torch 2.13's PackageExporter
// (save_source_string("m", ...), save_pickle of a 4-float tensor, save_text).
TEST(ArchiveReaderTest, ReadsATorchPackageArchive) {
  auto r = ArchiveReader::OpenPath(std::string(HERMETIC_TESTDATA_DIR) +
                                   "/torch213_package.pt");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->prefix(), "torch_package");
  std::vector<std::string> names;
  for (const RecordInfo& info : (*r)->records()) {
    names.push_back(info.name);
    EXPECT_EQ(info.data_offset % 64, 0u) << info.name;
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{".data/0.storage", "r/t.pkl", "r/n.txt",
                                      "m.py", ".data/extern_modules",
                                      ".data/python_version", ".data/version",
                                      "byteorder", ".data/serialization_id"}));
  EXPECT_EQ(Str(*(*r)->Read("m.py")), "A = 1\n");
  EXPECT_EQ(Str(*(*r)->Read(".data/version")), "6\n");
  EXPECT_EQ((*r)->Find(".data/0.storage")->size, 16u);
  EXPECT_TRUE((*r)->VerifyAll().ok());
}

TEST(ArchiveReaderTest, ReadsDeflatedRecords) {
  std::string text(5000, 'q');
  RawEntry e{"p/t.txt",   Deflate(text), 8,
             text.size(), true,          Crc32(0, Bytes(text))};
  std::vector<uint8_t> bytes = BuildZip({e});
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Str(*(*r)->Read("t.txt")), text);
  EXPECT_EQ((*r)->View("t.txt").status().code(), StatusCode::kUnsupported);
}

TEST(ArchiveReaderTest, ViewsOfABufferArePrivateCopies) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"a", "abc"}});
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok());
  auto v = (*r)->View("a");
  ASSERT_TRUE(v.ok());
  (*v)[0] = 'X';
  EXPECT_EQ(Str(*(*r)->Read("a")), "abc");
}

TEST(ArchiveReaderTest, MappedViewsAreCopyOnWrite) {
  TempDir dir;
  const std::string path = dir.path() + "/m.pt";
  auto w = ArchiveWriter::OpenFile(path);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WriteRecord("a", Bytes("abc")).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  const std::string before = ReadFile(path);
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok());
  auto v = (*r)->View("a");
  ASSERT_TRUE(v.ok());
  (*v)[0] = 'X';
  EXPECT_EQ(Str(*v), "Xbc");
  EXPECT_EQ(ReadFile(path), before);
}

// Two maps of one reader: a write through the first is seen by neither the
// second, nor the reader's views, nor the file; a name outside the prefix
// is NotFound.
void ExpectPrivateMaps(ArchiveReader& reader) {
  auto first = reader.MapRecords(".data/");
  auto second = reader.MapRecords(".data/");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  auto a = (*first)->View(".data/0.storage");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Str(*a), "abc");
  (*a)[0] = 'X';
  EXPECT_EQ(Str(*(*first)->View(".data/0.storage")), "Xbc");
  EXPECT_EQ(Str(*(*second)->View(".data/0.storage")), "abc");
  EXPECT_EQ(Str(*reader.View(".data/0.storage")), "abc");
  auto big = (*second)->View(".data/1.storage");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(Str(*big), std::string(10000, 'z'));
  EXPECT_EQ(Str(*(*second)->View(".data/empty")), "");
  EXPECT_EQ((*first)->View("code.py").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*first)->View(".data/nope").status().code(),
            StatusCode::kNotFound);
}

const Records kMapRecords = {{".data/0.storage", "abc"},
                             {"code.py", "x = 1\n"},
                             {".data/1.storage", std::string(10000, 'z')},
                             {".data/empty", ""}};

TEST(ArchiveReaderTest, RecordMapsOfAFileArePrivateAndOutliveTheReader) {
  TempDir dir;
  const std::string path = dir.path() + "/m.pt";
  auto w = ArchiveWriter::OpenFile(path);
  ASSERT_TRUE(w.ok());
  for (const auto& [name, data] : kMapRecords) {
    ASSERT_TRUE((*w)->WriteRecord(name, Bytes(data)).ok());
  }
  ASSERT_TRUE((*w)->Finish().ok());
  const std::string before = ReadFile(path);
  auto r = ArchiveReader::OpenPath(path);
  ASSERT_TRUE(r.ok());
  ExpectPrivateMaps(**r);
  EXPECT_EQ(ReadFile(path), before);

  auto one = (*r)->MapRecords(".data/1.storage");
  ASSERT_TRUE(one.ok());
  r->reset();
  auto big = (*one)->View(".data/1.storage");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(Str(*big), std::string(10000, 'z'));
  std::span<uint8_t> memory = (*one)->memory();
  EXPECT_GE(big->data(), memory.data());
  EXPECT_LE(big->data() + big->size(), memory.data() + memory.size());
  EXPECT_EQ((*one)->View(".data/0.storage").status().code(),
            StatusCode::kNotFound);
}

TEST(ArchiveReaderTest, RecordMapsOfABufferArePrivateCopies) {
  std::vector<uint8_t> bytes = WriteToBuffer(kMapRecords);
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok());
  ExpectPrivateMaps(**r);
  EXPECT_TRUE((*(*r)->MapRecords(""))->memory().empty());
}

TEST(ArchiveReaderTest, RecordMapsOfAFolderArePrivate) {
  TempDir dir;
  const std::string root = dir.path() + "/pkg";
  std::filesystem::create_directories(root + "/.data");
  for (const auto& [name, data] : kMapRecords) {
    std::ofstream(root + "/" + name, std::ios::binary) << data;
  }
  auto r = ArchiveReader::OpenPath(root);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectPrivateMaps(**r);
  EXPECT_EQ(ReadFile(root + "/.data/0.storage"), "abc");
}

TEST(ArchiveReaderTest, RecordMapsCheckCrcAndRefuseCompressedRecords) {
  std::vector<uint8_t> bytes =
      WriteToBuffer({{"good", "aaaa"}, {"bad", "bbbb"}});
  bytes[FindBytes(bytes, "bbbb")] = 'X';
  auto r = Open(bytes, {.verify_views = true});
  ASSERT_TRUE(r.ok());
  auto map = (*r)->MapRecords("");
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(Str(*(*map)->View("good")), "aaaa");
  Status s = (*map)->View("bad").status();
  EXPECT_EQ(s.code(), StatusCode::kCorruptArchive);
  EXPECT_THAT(s.message(), HasSubstr("test.pt, record bad: CRC-32 mismatch"));

  std::string text(5000, 'q');
  std::vector<uint8_t> zip =
      BuildZip({RawEntry{"p/t.txt", Deflate(text), 8, text.size(), true}});
  auto deflated = Open(zip);
  ASSERT_TRUE(deflated.ok());
  auto deflated_map = (*deflated)->MapRecords("");
  ASSERT_TRUE(deflated_map.ok());
  EXPECT_EQ((*deflated_map)->View("t.txt").status().code(),
            StatusCode::kUnsupported);
}

TEST(ArchiveReaderTest, ReadsAnUnzippedFolder) {
  TempDir dir;
  const std::string root = dir.path() + "/pkg";
  std::filesystem::create_directories(root + "/.data");
  std::filesystem::create_directories(root + "/a/b");
  { std::ofstream(root + "/.data/version") << "6\n"; }
  { std::ofstream(root + "/a/b/c.py") << "x = 1\n"; }
  auto r = ArchiveReader::OpenPath(root);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)->is_directory());
  EXPECT_EQ((*r)->prefix(), "pkg");
  ASSERT_EQ((*r)->records().size(), 2u);
  EXPECT_EQ((*r)->records()[0].name, ".data/version");
  EXPECT_EQ((*r)->records()[1].name, "a/b/c.py");
  EXPECT_EQ(Str(*(*r)->Read("a/b/c.py")), "x = 1\n");
  EXPECT_EQ(Str(*(*r)->View(".data/version")), "6\n");
  EXPECT_EQ((*r)->Read("nope").status().code(), StatusCode::kNotFound);
}

TEST(ArchiveReaderTest, VerifyNamesTheDamagedRecord) {
  std::vector<uint8_t> bytes =
      WriteToBuffer({{"good", "aaaa"}, {"bad", "bbbb"}});
  bytes[FindBytes(bytes, "bbbb")] = 'X';
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)->Verify("good").ok());
  Status s = (*r)->VerifyAll();
  EXPECT_EQ(s.code(), StatusCode::kCorruptArchive);
  EXPECT_THAT(s.message(), HasSubstr("test.pt, record bad: CRC-32 mismatch"));
  auto checked = Open(bytes, {.verify_views = true});
  ASSERT_TRUE(checked.ok());
  EXPECT_EQ((*checked)->Read("bad").status().code(),
            StatusCode::kCorruptArchive);
}

TEST(ArchiveReaderCorruptTest, Truncated) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"a", "abc"}});
  bytes.resize(bytes.size() - 5);
  ExpectCorrupt(bytes, "end of central directory is truncated");
  ExpectCorrupt({'P', 'K'}, "too short");
  std::vector<uint8_t> cut = WriteToBuffer({{"a", "abc"}});
  cut.erase(cut.begin(), cut.begin() + 80);  // loses the first local header
  ExpectCorrupt(cut, "zip64 end record out of range");
}

TEST(ArchiveReaderCorruptTest, WrongLocalSignature) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"a", "abc"}});
  bytes[0] = 'Q';
  ExpectCorrupt(bytes, "record archive/a: bad local header signature");
}

TEST(ArchiveReaderCorruptTest, WrongCentralSignature) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"a", "abc"}});
  Patch32(bytes, FindBytes(bytes, "PK\x01\x02"), 0x12345678);
  ExpectCorrupt(bytes, "bad signature");
}

TEST(ArchiveReaderCorruptTest, WrongZip64EndSignature) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"a", "abc"}});
  Patch32(bytes, FindBytes(bytes, "PK\x06\x06"), 0x12345678);
  ExpectCorrupt(bytes, "bad zip64 end record signature");
}

TEST(ArchiveReaderCorruptTest, CentralDirectoryOutOfRange) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"a", "abc"}});
  const uint64_t z = FindBytes(bytes, "PK\x06\x06");
  Patch32(bytes, z + 48, 0x7FFFFFF0);  // CD offset
  ExpectCorrupt(bytes, "the end record and the zip64 end record disagree");
  Patch32(bytes, bytes.size() - 6, 0x7FFFFFF0);  // and in the end record
  ExpectCorrupt(bytes, "lies outside the archive");
}

TEST(ArchiveReaderCorruptTest, OverlappingRecords) {
  std::vector<RawEntry> e = {{"p/a", "aaaa"}, {"p/b", "bbbb"}};
  std::vector<uint8_t> bytes = BuildZip(e);
  // Declared sizes of 40 stretch a over b's local header.
  const uint64_t cd = FindBytes(bytes, "PK\x01\x02");
  Patch32(bytes, cd + 20, 40);
  Patch32(bytes, cd + 24, 40);
  Patch32(bytes, 18, 40);
  Patch32(bytes, 22, 40);
  ExpectCorrupt(bytes, "record p/b: overlaps record p/a");
}

TEST(ArchiveReaderCorruptTest, LocalSizesDisagreeWithCentralDirectory) {
  std::vector<uint8_t> bytes = BuildZip({{"p/a", "aaaa"}});
  Patch32(bytes, 22, 3);
  ExpectCorrupt(bytes, "record p/a: local header sizes (4, 3) or CRC disagree");
}

TEST(ArchiveReaderCorruptTest, LocalNameDisagreesWithCentralDirectory) {
  std::vector<uint8_t> bytes = BuildZip({{"p/a", "aaaa"}});
  bytes[30 + 2] = 'z';
  ExpectCorrupt(bytes, "record p/a: local header names it 'p/z'");
}

TEST(ArchiveReaderCorruptTest, DeclaredSizeBeyondTheFile) {
  std::vector<uint8_t> bytes = WriteToBuffer({{"a", "abc"}});
  const uint64_t cd = FindBytes(bytes, "PK\x01\x02");
  Patch32(bytes, cd + 20, 0x7FFFFFFF);
  Patch32(bytes, cd + 24, 0x7FFFFFFF);
  ExpectCorrupt(bytes, "record archive/a: declared size 2147483647 runs past");
}

TEST(ArchiveReaderCorruptTest, DeflateExpandsPastDeclaredSize) {
  std::string text(5000, 'q');
  std::vector<uint8_t> bytes = BuildZip({{"p/t", Deflate(text), 8, 100, true}});
  auto r = Open(bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Status s = (*r)->Read("t").status();
  EXPECT_EQ(s.code(), StatusCode::kCorruptArchive);
  EXPECT_THAT(s.message(), HasSubstr("test.pt, record t: inflates past"));
}

TEST(ArchiveReaderCorruptTest, DeflatedSizeThatCannotBeReal) {
  std::vector<uint8_t> bytes =
      BuildZip({{"p/t", Deflate("abc"), 8, uint64_t{1} << 31, true}});
  ExpectCorrupt(bytes, "record p/t: declared size 2147483648 is impossible");
}

TEST(ArchiveReaderCorruptTest, DuplicateNames) {
  ExpectCorrupt(BuildZip({{"p/a", "1"}, {"p/a", "2"}}),
                "record p/a: duplicate record name");
}

TEST(ArchiveReaderCorruptTest, DotDotComponent) {
  ExpectCorrupt(BuildZip({{"p/a", "1"}, {"p/../evil", "2"}}),
                "record p/../evil: unsafe record name ('..' component)");
}

TEST(ArchiveReaderCorruptTest, AbsolutePath) {
  ExpectCorrupt(BuildZip({{"/etc/passwd", "1"}}),
                "record /etc/passwd: file in archive is not in a subdirectory");
  ExpectCorrupt(BuildZip({{"p/a", "1"}, {"p//etc/passwd", "2"}}),
                "record p//etc/passwd: unsafe record name (absolute path)");
}

TEST(ArchiveReaderCorruptTest, Backslash) {
  ExpectCorrupt(BuildZip({{"p/a", "1"}, {"p/..\\evil", "2"}}),
                "unsafe record name (backslash in name)");
}

TEST(ArchiveReaderCorruptTest, Nul) {
  ExpectCorrupt(BuildZip({{"p/a", "1"}, {std::string("p/a\0b", 5), "2"}}),
                "unsafe record name (NUL in name)");
}

TEST(ArchiveReaderCorruptTest, SecondTopLevelFolder) {
  ExpectCorrupt(
      BuildZip({{"p/a", "1"}, {"q/b", "2"}}),
      "record q/b: file in archive is not in the top-level folder p/");
}

TEST(ArchiveReaderCorruptTest, TooManyRecords) {
  std::vector<uint8_t> bytes =
      BuildZip({{"p/a", "1"}, {"p/b", "2"}, {"p/c", "3"}});
  ExpectCorrupt(bytes, "too many records: 3 (limit 2)", {.max_records = 2});
  EXPECT_TRUE(Open(bytes, {.max_records = 3}).ok());
}

TEST(ArchiveReaderCorruptTest, NameLongerThanTheLimit) {
  ExpectCorrupt(BuildZip({{"p/" + std::string(100, 'n'), "1"}}),
                "record name longer than 50 bytes", {.max_name_length = 50});
}

TEST(ArchiveReaderCorruptTest, EveryTruncationIsRejectedWithoutOverreading) {
  // Run under ASan: any read past the shortened buffer would abort.
  std::vector<uint8_t> full = WriteToBuffer({{"a", "abc"}, {"b/c", "de"}});
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + n);
    cut.shrink_to_fit();
    auto r = Open(cut);
    EXPECT_FALSE(r.ok()) << n;
  }
}

}  // namespace
}  // namespace hermetic
