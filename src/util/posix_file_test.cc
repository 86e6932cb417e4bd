#include "hermetic/posix_file.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace hermetic {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class PosixFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "posix_file_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    ASSERT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void WriteFile(const std::string& name, std::string_view content) {
    Result<Fd> fd = Fd::Open(Path(name), O_WRONLY | O_CREAT | O_TRUNC,
                             "creating " + name, 0644);
    ASSERT_TRUE(fd.ok()) << fd.status().message();
    ASSERT_TRUE(WriteFull(*fd, Bytes(content), "writing").ok());
    ASSERT_TRUE(fd->Close("closing").ok());
  }

  std::string dir_;
};

TEST(PosixErrorTest, NamesContextAndErrnoText) {
  Status s = PosixError("cannot open /x/y.pt", ENOENT);
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_EQ(s.message(),
            std::string("cannot open /x/y.pt: ") + std::strerror(ENOENT));
  EXPECT_EQ(ErrnoText(EACCES), std::strerror(EACCES));
}

TEST_F(PosixFileTest, OpenFailureCarriesTheCallersContext) {
  Result<Fd> fd = Fd::Open(Path("missing"), O_RDONLY, "cannot open missing");
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), StatusCode::kIOError);
  EXPECT_EQ(fd.status().message(),
            std::string("cannot open missing: ") + std::strerror(ENOENT));
}

TEST_F(PosixFileTest, DescriptorsAreCloseOnExecAndClosedByTheOwner) {
  WriteFile("f", "x");
  int raw = -1;
  {
    Result<Fd> fd = Fd::Open(Path("f"), O_RDONLY, "open");
    ASSERT_TRUE(fd.ok());
    raw = fd->get();
    EXPECT_TRUE(fcntl(raw, F_GETFD) & FD_CLOEXEC);
    Fd moved = std::move(*fd);
    EXPECT_FALSE(fd->valid());
    EXPECT_EQ(moved.get(), raw);
  }
  EXPECT_EQ(fcntl(raw, F_GETFD), -1);  // closed with its last owner
  EXPECT_EQ(errno, EBADF);
}

TEST_F(PosixFileTest, CloseReportsErrorsAndEmptiesTheFd) {
  Fd bogus(1 << 20);  // no such descriptor
  Status s = bogus.Close("closing bogus");
  EXPECT_EQ(s.message(), std::string("closing bogus: ") + std::strerror(EBADF));
  EXPECT_FALSE(bogus.valid());
}

TEST_F(PosixFileTest, StatTellsKindsAndMissingIsNoError) {
  WriteFile("f", "hello");
  ASSERT_EQ(symlink("f", Path("link").c_str()), 0);
  Result<FileInfo> missing = Stat(Path("nope"), "stat");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->kind, FileKind::kMissing);
  Result<FileInfo> file = Stat(Path("link"), "stat");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->kind, FileKind::kRegular);
  EXPECT_EQ(file->size, 5u);
  Result<FileInfo> link = LinkStat(Path("link"), "lstat");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->kind, FileKind::kSymlink);
  Result<Fd> dir = Fd::Open(dir_, O_RDONLY | O_DIRECTORY, "open dir");
  ASSERT_TRUE(dir.ok());
  Result<FileInfo> at = StatAt(*dir, "link", "fstatat");
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->kind, FileKind::kSymlink);
  Result<FileInfo> self = StatOpen(*dir, "fstat");
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(self->kind, FileKind::kDirectory);
  EXPECT_TRUE(file->SameFile(*Stat(Path("f"), "stat")));
  EXPECT_FALSE(file->SameFile(*self));
  // A path through a file is an error, not a missing file.
  Result<FileInfo> through = Stat(Path("f") + "/x", "stat through");
  ASSERT_FALSE(through.ok());
  EXPECT_EQ(through.status().message(),
            std::string("stat through: ") + std::strerror(ENOTDIR));
}

TEST_F(PosixFileTest, ListDirectorySkipsDotEntries) {
  WriteFile("a", "");
  WriteFile("b", "");
  ASSERT_TRUE(MakeDirectory(Path("sub"), 0755, "mkdir").ok());
  // An existing name is not an error.
  ASSERT_TRUE(MakeDirectory(Path("sub"), 0755, "mkdir").ok());
  ASSERT_TRUE(MakeDirectory(Path("a"), 0755, "mkdir").ok());
  Result<std::vector<std::string>> names = ListDirectory(dir_, "list");
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "sub"}));
  Result<Fd> dir = Fd::Open(dir_, O_RDONLY | O_DIRECTORY, "open");
  ASSERT_TRUE(dir.ok());
  Result<std::vector<std::string>> again = ListDirectory(*dir, "list");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 3u);
  EXPECT_TRUE(dir->valid());  // still usable after listing
  Result<std::vector<std::string>> none = ListDirectory(Path("zz"), "list zz");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            std::string("list zz: ") + std::strerror(ENOENT));
}

TEST_F(PosixFileTest, RenameAndUnlinkRelativeToADirectory) {
  WriteFile("a", "1");
  Result<Fd> dir = Fd::Open(dir_, O_RDONLY | O_DIRECTORY, "open");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(RenameAt(*dir, "a", "b", "rename").ok());
  EXPECT_EQ(Stat(Path("a"), "")->kind, FileKind::kMissing);
  EXPECT_EQ(Stat(Path("b"), "")->kind, FileKind::kRegular);
  ASSERT_TRUE(Rename(Path("b"), Path("c"), "rename").ok());
  ASSERT_TRUE(UnlinkAt(*dir, "c", "unlink").ok());
  Status gone = Unlink(Path("c"), "unlink c");
  EXPECT_EQ(gone.message(), std::string("unlink c: ") + std::strerror(ENOENT));
}

TEST_F(PosixFileTest, RemoveDirectoryRemovesOnlyEmptyDirectories) {
  ASSERT_TRUE(MakeDirectory(Path("d"), 0755, "mkdir").ok());
  ASSERT_TRUE(MakeDirectory(Path("d/e"), 0755, "mkdir").ok());
  Result<Fd> dir = Fd::Open(dir_, O_RDONLY | O_DIRECTORY, "open");
  ASSERT_TRUE(dir.ok());
  Status full = RemoveDirectoryAt(*dir, "d", "rmdir d");
  EXPECT_EQ(full.code(), StatusCode::kIOError);
  EXPECT_EQ(full.message(),
            std::string("rmdir d: ") + std::strerror(ENOTEMPTY));
  ASSERT_TRUE(RemoveDirectory(Path("d/e"), "rmdir").ok());
  ASSERT_TRUE(RemoveDirectoryAt(*dir, "d", "rmdir").ok());
  EXPECT_EQ(Stat(Path("d"), "")->kind, FileKind::kMissing);
  WriteFile("f", "1");
  EXPECT_FALSE(RemoveDirectory(Path("f"), "rmdir f").ok());
  EXPECT_EQ(Stat(Path("f"), "")->kind, FileKind::kRegular);
}

TEST_F(PosixFileTest, TempFilesAreNewAndNamed) {
  std::string templ = Path("t-XXXXXX");
  Result<Fd> t = CreateTempFile(&templ, "mkostemp");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(templ.find("XXXXXX"), std::string::npos);
  EXPECT_EQ(Stat(templ, "")->permissions, 0600u);

  Result<Fd> dir = Fd::Open(dir_, O_RDONLY | O_DIRECTORY, "open");
  ASSERT_TRUE(dir.ok());
  std::string first, second;
  Result<Fd> a = CreateTempFileAt(*dir, ".x-", 0600, &first, "create");
  Result<Fd> b = CreateTempFileAt(*dir, ".x-", 0600, &second, "create");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(first, second);
  EXPECT_EQ(first.rfind(".x-" + std::to_string(getpid()) + "-", 0), 0u);
  EXPECT_EQ(Stat(Path(second), "")->kind, FileKind::kRegular);
}

TEST_F(PosixFileTest, LockIsExclusiveBetweenOpenFiles) {
  WriteFile("lock", "");
  Result<Fd> one = Fd::Open(Path("lock"), O_RDONLY, "open");
  Result<Fd> two = Fd::Open(Path("lock"), O_RDONLY, "open");
  ASSERT_TRUE(one.ok() && two.ok());
  Result<bool> first = TryLockExclusive(*one, "lock");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  Result<bool> taken = TryLockExclusive(*two, "lock");
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(*taken);
  // A duplicate shares the open file, and so the lock.
  Result<Fd> dup = one->Duplicate("dup");
  ASSERT_TRUE(dup.ok());
  *one = Fd();
  EXPECT_FALSE(*TryLockExclusive(*two, "lock"));
  *dup = Fd();
  EXPECT_TRUE(*TryLockExclusive(*two, "lock"));
}

TEST_F(PosixFileTest, ReadFullyAtStopsOnlyAtTheEnd) {
  WriteFile("f", "0123456789");
  Result<Fd> fd = Fd::Open(Path("f"), O_RDONLY, "open");
  ASSERT_TRUE(fd.ok());
  std::vector<uint8_t> buf(20, 0);
  Result<size_t> all = ReadFullyAt(*fd, 0, buf, "pread");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 10u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 10), "0123456789");
  Result<size_t> mid = ReadFullyAt(*fd, 5, std::span(buf).first(3), "pread");
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(*mid, 3u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 3), "567");
  EXPECT_EQ(*ReadFullyAt(*fd, 50, buf, "pread"), 0u);
  Result<size_t> bad = ReadFullyAt(Fd(), 0, buf, "pread nothing");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            std::string("pread nothing: ") + std::strerror(EBADF));
}

TEST_F(PosixFileTest, ReadFileReadsToTheEndEvenWhereSizeIsZero) {
  WriteFile("f", std::string(10000, 'q') + "end");
  Result<std::string> content = ReadFile(Path("f"), "read");
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(content->size(), 10003u);
  EXPECT_TRUE(content->ends_with("end"));
  Result<std::string> status = ReadFile("/proc/self/status", "read");
  ASSERT_TRUE(status.ok());
  EXPECT_NE(status->find("\nUmask:"), std::string::npos);
}

TEST_F(PosixFileTest, MappingIsPrivateAndOutlivesItsFd) {
  WriteFile("f", "abcdef");
  std::shared_ptr<FileMapping> map;
  {
    Result<Fd> fd = Fd::Open(Path("f"), O_RDONLY, "open");
    ASSERT_TRUE(fd.ok());
    Result<std::shared_ptr<FileMapping>> m =
        FileMapping::MapPrivate(*fd, 0, 6, "map");
    ASSERT_TRUE(m.ok()) << m.status().message();
    map = *m;
  }
  std::span<uint8_t> bytes = map->bytes();
  ASSERT_EQ(bytes.size(), 6u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "abcdef");
  bytes[0] = 'Z';  // copy-on-write: the file keeps its byte
  EXPECT_EQ(*ReadFile(Path("f"), "read"), "abcdef");

  Result<Fd> fd = Fd::Open(Path("f"), O_RDONLY, "open");
  ASSERT_TRUE(fd.ok());
  Result<std::shared_ptr<FileMapping>> empty =
      FileMapping::MapPrivate(*fd, 0, 0, "map");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)->bytes().empty());
  // An offset that is not a page multiple is refused by the kernel.
  Result<std::shared_ptr<FileMapping>> odd =
      FileMapping::MapPrivate(*fd, 1, 4, "cannot map f");
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().message(),
            std::string("cannot map f: ") + std::strerror(EINVAL));
  EXPECT_EQ(PageSize() % 4096, 0u);
}

std::atomic<int> interrupts{0};
void CountInterrupt(int) { interrupts.fetch_add(1); }

// A blocking write into a full pipe, hit by signals without SA_RESTART,
// returns early: EINTR when nothing went out, a short count otherwise.
// WriteFull must deliver every byte, in order, regardless.
TEST(WriteFullTest, RetriesInterruptedAndShortWrites) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  Fd read_end(fds[0]), write_end(fds[1]);
  struct sigaction action {
  }, old{};
  action.sa_handler = CountInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: write(2) returns early
  ASSERT_EQ(sigaction(SIGUSR1, &action, &old), 0);

  std::string data(4 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  std::string received;
  std::atomic<bool> done{false};
  const pthread_t writer = pthread_self();
  std::thread pester([&] {
    while (!done.load()) {
      pthread_kill(writer, SIGUSR1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::thread reader([&] {
    std::vector<uint8_t> chunk(1000);  // slow, small reads keep the pipe full
    for (;;) {
      Result<size_t> n = ReadSome(read_end, chunk, "read");
      if (!n.ok() || *n == 0) break;
      received.append(chunk.begin(), chunk.begin() + *n);
      if (received.size() % 100000 < 1000) {
        std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
    }
  });
  Status s = WriteFull(write_end, Bytes(data), "writing pipe");
  done = true;
  pester.join();
  write_end = Fd();  // the reader sees the end of the pipe
  reader.join();
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_GT(interrupts.load(), 0);
  EXPECT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data);
}

TEST(WriteFullTest, ReportsTheErrorWithContext) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  Fd read_end(fds[0]), write_end(fds[1]);
  read_end = Fd();  // no reader: EPIPE (SIGPIPE ignored for the test)
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old), 0);
  Status s = WriteFull(write_end, Bytes("x"), "writing pipe");
  sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_EQ(s.message(), std::string("writing pipe: ") + std::strerror(EPIPE));
}

TEST(RunProgramTest, FeedsTheInputAndReportsHowItEnded) {
  // The child reads all of its input and checks it: a large input must
  // arrive whole, through the temporary file rather than a pipe.
  const std::string input(1 << 20, 'x');
  Result<ProgramExit> ok = RunProgram(
      {"sh", "-c", "test \"$(wc -c)\" -eq 1048576"}, input, "running sh");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_FALSE(ok->not_found);
  EXPECT_EQ(ok->status, 0);

  Result<ProgramExit> failed = RunProgram({"sh", "-c", "exit 3"}, "", "sh");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->status, 3);

  // Exiting without reading its input does not hurt the caller.
  Result<ProgramExit> killed =
      RunProgram({"sh", "-c", "kill -9 $$"}, input, "sh");
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(killed->status, 128 + SIGKILL);
}

TEST(RunProgramTest, AMissingProgramIsAValueNotAnError) {
  Result<ProgramExit> missing =
      RunProgram({"hermetic-no-such-program-x"}, "input", "running it");
  ASSERT_TRUE(missing.ok()) << missing.status().message();
  EXPECT_TRUE(missing->not_found);
}

TEST(IsTerminalTest, APipeIsNotATerminal) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  Fd read_end(fds[0]), write_end(fds[1]);
  EXPECT_FALSE(IsTerminal(read_end.get()));
  EXPECT_FALSE(IsTerminal(write_end.get()));
}

}  // namespace
}  // namespace hermetic
