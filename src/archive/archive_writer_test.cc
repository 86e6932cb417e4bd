// File targets: how temporaries are named and locked, and how the next
// export to a folder removes those of dead writers only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <string>

#include "hermetic/archive.h"

namespace hermetic {
namespace {

class WriterFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "hermetic-writer-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  void Touch(const std::string& name, const std::string& text = "x") const {
    std::ofstream(Path(name)) << text;
  }

  std::set<std::string> Entries() const {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      out.insert(e.path().filename().string());
    }
    return out;
  }

  // Opens a writer on `name` and finishes it with one record.
  void Export(const std::string& name) const {
    Result<std::unique_ptr<ArchiveWriter>> w =
        ArchiveWriter::OpenFile(Path(name));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->WriteRecord("r", {}).ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }

  std::string dir_;
};

bool Locked(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool locked = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return locked;
}

TEST(MemoryWriter, AppendsAnArchiveToTheBuffer) {
  std::vector<uint8_t> memory = {'x'};  // appended to, not replaced
  Result<std::unique_ptr<ArchiveWriter>> w = ArchiveWriter::OpenMemory(&memory);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const uint8_t data[] = {'h', 'i'};
  ASSERT_TRUE((*w)->WriteRecord("r", data).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  ASSERT_EQ(memory.front(), 'x');
  std::vector<uint8_t> archive(memory.begin() + 1, memory.end());
  auto r = ArchiveReader::OpenBuffer(archive, nullptr, "memory");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->prefix(), "archive");
  auto read = (*r)->Read("r");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, std::vector<uint8_t>(data, data + 2));
  EXPECT_EQ(ArchiveWriter::OpenMemory(nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(WriterFolder, TemporaryIsNamedAndLockedWhileWriting) {
  Result<std::unique_ptr<ArchiveWriter>> w =
      ArchiveWriter::OpenFile(Path("model.pt"));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::set<std::string> during = Entries();
  ASSERT_EQ(during.size(), 1u);
  const std::string temp = *during.begin();
  EXPECT_TRUE(std::regex_match(
      temp, std::regex(R"(\.model\.pt\.hermetic-tmp-[A-Za-z0-9]{6})")))
      << temp;
  EXPECT_TRUE(Locked(Path(temp)));
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_EQ(Entries(), std::set<std::string>{"model.pt"});
}

TEST_F(WriterFolder, AbortLeavesNothing) {
  Result<std::unique_ptr<ArchiveWriter>> w =
      ArchiveWriter::OpenFile(Path("model.pt"));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WriteRecord("r", {}).ok());
  (*w)->Abort();
  EXPECT_TRUE(Entries().empty());
}

TEST_F(WriterFolder, LongTargetNamesStillGetATemporary) {
  const std::string name(250, 'n');
  Export(name);
  EXPECT_EQ(Entries(), std::set<std::string>{name});
}

TEST_F(WriterFolder, NextExportRemovesStaleTemporaries) {
  // Left by writers killed midway: nothing holds their lock.
  Touch(".model.pt.hermetic-tmp-Ab12Cd", std::string(4096, 'z'));
  Touch(".other.pt.hermetic-tmp-000000");
  Export("new.pt");
  EXPECT_EQ(Entries(), std::set<std::string>{"new.pt"});
}

TEST_F(WriterFolder, LockedTemporaryIsKept) {
  const std::string live = ".model.pt.hermetic-tmp-Live01";
  Touch(live);
  int fd = open(Path(live).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  Export("new.pt");
  EXPECT_EQ(Entries(), (std::set<std::string>{live, "new.pt"}));
  close(fd);
  Export("new.pt");
  EXPECT_EQ(Entries(), std::set<std::string>{"new.pt"});
}

TEST_F(WriterFolder, ConcurrentWriterKeepsItsTemporary) {
  Result<std::unique_ptr<ArchiveWriter>> first =
      ArchiveWriter::OpenFile(Path("a.pt"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->WriteRecord("r", {}).ok());
  Export("b.pt");
  ASSERT_TRUE((*first)->Finish().ok());
  EXPECT_EQ(Entries(), (std::set<std::string>{"a.pt", "b.pt"}));
}

TEST_F(WriterFolder, UnrelatedFilesAreUntouched) {
  const std::set<std::string> unrelated = {
      ".model.pt.tmp-Ab12Cd",               // another tool's (or older) name
      "model.pt.hermetic-tmp-Ab12Cd",       // no leading dot
      ".model.pt.hermetic-tmp-Ab12",        // suffix too short
      ".model.pt.hermetic-tmp-Ab12Cd.bak",  // something after the suffix
      ".model.pt.hermetic-tmp-Ab!2Cd",      // not mkostemp's alphabet
      "model.pt",
  };
  for (const std::string& name : unrelated) Touch(name);
  // Matching names that are not regular files.
  std::filesystem::create_directory(Path(".dir.hermetic-tmp-Ab12Cd"));
  std::filesystem::create_symlink(Path("model.pt"),
                                  Path(".link.hermetic-tmp-Ab12Cd"));
  ASSERT_EQ(mkfifo(Path(".fifo.hermetic-tmp-Ab12Cd").c_str(), 0600), 0);
  Export("new.pt");
  std::set<std::string> expected = unrelated;
  expected.insert({".dir.hermetic-tmp-Ab12Cd", ".link.hermetic-tmp-Ab12Cd",
                   ".fifo.hermetic-tmp-Ab12Cd", "new.pt"});
  EXPECT_EQ(Entries(), expected);
}

}  // namespace
}  // namespace hermetic
