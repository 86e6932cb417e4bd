// Helpers shared by the archive tests: in-memory writers, a hand-built zip
// for layouts the writer never produces, and byte patching.
#ifndef HERMETIC_SRC_ARCHIVE_ARCHIVE_TEST_UTIL_H_
#define HERMETIC_SRC_ARCHIVE_ARCHIVE_TEST_UTIL_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libdeflate.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hermetic/archive.h"
#include "zip_format.h"

namespace hermetic::test {

using ::testing::HasSubstr;

inline std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string Str(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

using Records = std::vector<std::pair<std::string, std::string>>;

inline std::vector<uint8_t> WriteToBuffer(const Records& records,
                                          const WriterOptions& options = {}) {
  std::vector<uint8_t> out;
  auto w = ArchiveWriter::OpenMemory(&out, options);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  for (const auto& [name, data] : records) {
    EXPECT_TRUE((*w)->WriteRecord(name, Bytes(data)).ok());
  }
  EXPECT_TRUE((*w)->Finish().ok());
  return out;
}

// A reader over a private copy of `bytes` (so a temporary may be passed).
inline Result<std::unique_ptr<ArchiveReader>> Open(
    const std::vector<uint8_t>& bytes, const ReaderOptions& options = {}) {
  auto copy = std::make_shared<const std::vector<uint8_t>>(bytes);
  return ArchiveReader::OpenBuffer(*copy, copy, "test.pt", options);
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "hermetic-archive-XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::vector<std::string> List() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Builds zips by hand, independent of ArchiveWriter, so that reader tests
// can express any (broken) layout: local headers carry the sizes, no data
// descriptors, classic end record only. A declared size of 4 GiB or more
// gets zip64 blocks (local and central) holding both sizes.
struct RawEntry {
  std::string name;  // full name, prefix included
  std::string data;  // bytes as stored
  uint16_t method = 0;
  uint64_t size = 0;  // declared uncompressed size
  bool size_set = false;
  std::optional<uint32_t> crc =
      std::nullopt;  // default: of `data` if stored, else 0
  uint16_t flags = 0;
  std::string local_extra = {};    // appended after any zip64 block
  std::string central_extra = {};  // likewise
};

inline std::vector<uint8_t> BuildZip(const std::vector<RawEntry>& entries) {
  std::string out, cd;
  for (const RawEntry& e : entries) {
    const uint32_t crc = e.crc           ? *e.crc
                         : e.method == 0 ? Crc32(0, Bytes(e.data))
                                         : 0;
    const uint64_t size = e.size_set ? e.size : e.data.size();
    const bool zip64 = size >= zip::kZip64Marker32;
    std::string z64;
    if (zip64) {
      zip::Put16(z64, zip::kZip64ExtraId);
      zip::Put16(z64, 16);
      zip::Put64(z64, size);
      zip::Put64(z64, e.data.size());
    }
    const uint32_t size32 =
        zip64 ? zip::kZip64Marker32 : static_cast<uint32_t>(size);
    const uint32_t comp32 =
        zip64 ? zip::kZip64Marker32 : static_cast<uint32_t>(e.data.size());
    const std::string local_extra = z64 + e.local_extra;
    const std::string central_extra = z64 + e.central_extra;
    const uint64_t offset = out.size();
    zip::Put32(out, zip::kLocalHeaderSig);
    zip::Put16(out, 20);
    zip::Put16(out, e.flags);
    zip::Put16(out, e.method);
    zip::Put32(out, 0);
    zip::Put32(out, crc);
    zip::Put32(out, comp32);
    zip::Put32(out, size32);
    zip::Put16(out, static_cast<uint16_t>(e.name.size()));
    zip::Put16(out, static_cast<uint16_t>(local_extra.size()));
    out += e.name;
    out += local_extra;
    out += e.data;
    zip::Put32(cd, zip::kCentralHeaderSig);
    zip::Put16(cd, 20);
    zip::Put16(cd, 20);
    zip::Put16(cd, e.flags);
    zip::Put16(cd, e.method);
    zip::Put32(cd, 0);
    zip::Put32(cd, crc);
    zip::Put32(cd, comp32);
    zip::Put32(cd, size32);
    zip::Put16(cd, static_cast<uint16_t>(e.name.size()));
    zip::Put16(cd, static_cast<uint16_t>(central_extra.size()));
    zip::Put16(cd, 0);  // comment
    zip::Put32(cd, 0);  // disk, internal attributes
    zip::Put32(cd, 0);  // external attributes
    zip::Put32(cd, static_cast<uint32_t>(offset));
    cd += e.name;
    cd += central_extra;
  }
  const uint64_t cd_offset = out.size();
  out += cd;
  zip::Put32(out, zip::kEndSig);
  zip::Put32(out, 0);
  zip::Put16(out, static_cast<uint16_t>(entries.size()));
  zip::Put16(out, static_cast<uint16_t>(entries.size()));
  zip::Put32(out, static_cast<uint32_t>(cd.size()));
  zip::Put32(out, static_cast<uint32_t>(cd_offset));
  zip::Put16(out, 0);
  return std::vector<uint8_t>(out.begin(), out.end());
}

inline std::string Deflate(const std::string& data) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(6);
  std::string out(libdeflate_deflate_compress_bound(c, data.size()), '\0');
  size_t n = libdeflate_deflate_compress(c, data.data(), data.size(),
                                         out.data(), out.size());
  libdeflate_free_compressor(c);
  out.resize(n);
  return out;
}

// Written by hermetic: stored records, data descriptors, zip64 end record.
inline std::vector<uint8_t> WriterArchive() {
  return WriteToBuffer(
      {{"a.txt", "hello world"}, {"b/c", std::string(300, 'q')}});
}

// Built by hand: a deflated and a stored record, sizes in the local headers,
// classic end record only.
inline std::vector<uint8_t> HandArchive() {
  const std::string text(2000, 't');
  return BuildZip(
      {{"p/t", Deflate(text), 8, text.size(), true, Crc32(0, Bytes(text))},
       {"p/u", "stored bytes"}});
}

// Expects `bytes` to be rejected as corrupt with a message naming the
// archive and containing `what` (the record and the reason).
inline void ExpectCorrupt(const std::vector<uint8_t>& bytes,
                          std::string_view what,
                          const ReaderOptions& options = {}) {
  auto r = Open(bytes, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruptArchive)
      << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("test.pt"));
  EXPECT_THAT(r.status().message(), HasSubstr(std::string(what)));
}

inline uint64_t FindBytes(const std::vector<uint8_t>& hay,
                          std::string_view needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end());
  EXPECT_NE(it, hay.end()) << needle;
  return static_cast<uint64_t>(it - hay.begin());
}

// Writes `width` bytes of `v` little-endian at `at`.
inline void PatchN(std::vector<uint8_t>& b, uint64_t at, int width,
                   uint64_t v) {
  for (int i = 0; i < width; ++i)
    b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void Patch16(std::vector<uint8_t>& b, uint64_t at, uint16_t v) {
  PatchN(b, at, 2, v);
}
inline void Patch32(std::vector<uint8_t>& b, uint64_t at, uint32_t v) {
  PatchN(b, at, 4, v);
}
inline void Patch64(std::vector<uint8_t>& b, uint64_t at, uint64_t v) {
  PatchN(b, at, 8, v);
}

}  // namespace hermetic::test

#endif  // HERMETIC_SRC_ARCHIVE_ARCHIVE_TEST_UTIL_H_
