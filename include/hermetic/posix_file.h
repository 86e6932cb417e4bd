// The file layer: every system call hermetic makes on files, directories and
// mappings goes through here (as leveldb's env), so that retry loops, close-
// on-exec and error texts exist once. Public because the CLI, which sees only
// include/, uses it too.
//
// Contract:
//  - No exceptions. Every fallible call returns Status or Result; an OS error
//    is IOError "<context>: <strerror(errno)>" (PosixError), `context` being
//    the caller's words for what failed on which file (e.g. "cannot open
//    /x/y.pt"), given as the last argument. Callers that ignore an error may
//    pass an empty context. Nothing else is guessed from errno: the few
//    outcomes callers decide on (a missing path, a name taken, a lock held
//    elsewhere) are values, not error codes.
//  - Every descriptor is opened with O_CLOEXEC. Reads and writes retry on
//    EINTR and continue after short transfers; a read stops early only at
//    the end of the file (the count says so).
//  - Thread safety: the functions keep no state of their own (but
//    CreateTempFileAt's counter, which is atomic). An Fd or FileMapping may
//    be used from several threads for calls that do not change it: get(),
//    ReadFullyAt (pread, which leaves the file offset alone), bytes().
//    ReadSome and WriteFull move the descriptor's file offset, so
//    concurrent ones on one descriptor interleave; moving, closing or
//    reassigning an Fd needs the caller's lock.
//  - Lifetime: an Fd closes its descriptor when destroyed (errors ignored;
//    Close() reports them). A FileMapping unmaps when the last shared_ptr to
//    it goes; its bytes stay valid until then, whatever happens to the Fd or
//    the path it was made from (a file that shrinks meanwhile makes touching
//    the lost pages raise SIGBUS, as any mapping).
//  - Depends on nothing but the standard library, POSIX and status.h.
#ifndef HERMETIC_POSIX_FILE_H_
#define HERMETIC_POSIX_FILE_H_

#include <fcntl.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/status.h"

namespace hermetic {

// strerror(err), safe to call from several threads.
std::string ErrnoText(int err);
// IOError "<context>: <ErrnoText(err)>".
Status PosixError(std::string_view context, int err);

inline constexpr int kStdoutFd = 1;

// An owned file descriptor (-1 when empty). Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& other) noexcept;
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  // open(2) / openat(2) with `flags` | O_CLOEXEC.
  static Result<Fd> Open(const std::string& path, int flags,
                         std::string_view context, mode_t mode = 0);
  static Result<Fd> OpenAt(const Fd& dir, const std::string& name, int flags,
                           std::string_view context, mode_t mode = 0);

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  // Closes now, reporting close(2)'s error (a write-back failure on some
  // file systems); the Fd is empty afterwards either way.
  Status Close(std::string_view context);
  // A second descriptor of the same open file (F_DUPFD_CLOEXEC), which
  // shares its flock() lock.
  Result<Fd> Duplicate(std::string_view context) const;

 private:
  int fd_ = -1;
};

enum class FileKind { kMissing, kRegular, kDirectory, kSymlink, kOther };

struct FileInfo {
  FileKind kind = FileKind::kMissing;
  uint64_t size = 0;
  mode_t permissions = 0;  // st_mode & 07777
  uint64_t links = 0;
  dev_t device = 0;
  ino_t inode = 0;
  // Whether both describe the same file (device and inode).
  bool SameFile(const FileInfo& other) const {
    return kind != FileKind::kMissing && device == other.device &&
           inode == other.inode;
  }
};

// stat(2), following symbolic links. A path that does not exist (ENOENT) is
// kind kMissing, not an error.
Result<FileInfo> Stat(const std::string& path, std::string_view context);
// lstat(2): a symbolic link is kSymlink. ENOENT is kMissing.
Result<FileInfo> LinkStat(const std::string& path, std::string_view context);
// fstatat(2) of `name` in `dir` without following a link. ENOENT is kMissing.
Result<FileInfo> StatAt(const Fd& dir, const std::string& name,
                        std::string_view context);
// fstat(2) of an open file.
Result<FileInfo> StatOpen(const Fd& fd, std::string_view context);

// The names in a directory except "." and "..", in readdir order.
Result<std::vector<std::string>> ListDirectory(const std::string& path,
                                               std::string_view context);
Result<std::vector<std::string>> ListDirectory(const Fd& dir,
                                               std::string_view context);

// mkdir(2) / mkdirat(2); an existing entry of that name, of any kind, is not
// an error (opening it as a directory tells what it is).
Status MakeDirectory(const std::string& path, mode_t mode,
                     std::string_view context);
Status MakeDirectoryAt(const Fd& dir, const std::string& name, mode_t mode,
                       std::string_view context);

Status Rename(const std::string& from, const std::string& to,
              std::string_view context);
Status RenameAt(const Fd& dir, const std::string& from, const std::string& to,
                std::string_view context);
Status Unlink(const std::string& path, std::string_view context);
Status UnlinkAt(const Fd& dir, const std::string& name,
                std::string_view context);
// rmdir(2) / unlinkat(AT_REMOVEDIR): only an empty directory goes.
Status RemoveDirectory(const std::string& path, std::string_view context);
Status RemoveDirectoryAt(const Fd& dir, const std::string& name,
                         std::string_view context);

// mkostemp(3): `path_template` ends in "XXXXXX", replaced by the name made;
// the file is new, mode 0600, open read-write.
Result<Fd> CreateTempFile(std::string* path_template, std::string_view context);
// A new file "<prefix><pid>-<n>" in `dir` for writing, mode `mode`, made with
// O_EXCL | O_NOFOLLOW (a taken name, even a link, is skipped for the next
// n); `name` receives the name made.
Result<Fd> CreateTempFileAt(const Fd& dir, std::string_view prefix, mode_t mode,
                            std::string* name, std::string_view context);

// flock(LOCK_EX | LOCK_NB): true when taken, false when another open file
// holds it; other failures (e.g. a file system without flock) are errors.
Result<bool> TryLockExclusive(const Fd& fd, std::string_view context);
Status ChangeMode(const Fd& fd, mode_t mode, std::string_view context);

// read(2) into `out` once it returns data: the count, 0 at the end of file.
Result<size_t> ReadSome(const Fd& fd, std::span<uint8_t> out,
                        std::string_view context);
// pread(2) until `out` is full or the file ends: the count, less than
// out.size() only at the end of the file.
Result<size_t> ReadFullyAt(const Fd& fd, uint64_t offset,
                           std::span<uint8_t> out, std::string_view context);
// The whole file, read to its end (so /proc files, which report size 0,
// read whole too).
Result<std::string> ReadFile(const std::string& path, std::string_view context);
// write(2) until every byte is out.
Status WriteFull(int fd, std::span<const uint8_t> bytes,
                 std::string_view context);
inline Status WriteFull(const Fd& fd, std::span<const uint8_t> bytes,
                        std::string_view context) {
  return WriteFull(fd.get(), bytes, context);
}

uint64_t PageSize();

// isatty(3): whether `fd` is a terminal (progress lines are drawn only there).
bool IsTerminal(int fd);

// How a program run by RunProgram ended.
struct ProgramExit {
  bool not_found = false;  // argv[0] is not on PATH: nothing ran
  int status = 0;          // its exit status, or 128 + the signal that ended it
};
// Runs `argv[0]`, looked up on PATH as a shell would (posix_spawnp), with
// arguments argv[1...], `input` as its standard input, and this process's
// standard output and error; waits for it to end. The input goes through
// an unlinked temporary file (under $TMPDIR, else /tmp) rather than a
// pipe, so a program that exits early cannot kill the caller with SIGPIPE
// and no reader thread is needed.
Result<ProgramExit> RunProgram(const std::vector<std::string>& argv,
                               std::string_view input,
                               std::string_view context);

// A private (MAP_PRIVATE) mapping of part of a file, readable and writable:
// writes are copy-on-write and never reach the file, so a caller may scribble
// on a view of a file opened read-only.
class FileMapping {
 public:
  // `offset` must be a multiple of PageSize(). An empty `size` maps nothing
  // and gives an empty span.
  static Result<std::shared_ptr<FileMapping>> MapPrivate(
      const Fd& fd, uint64_t offset, uint64_t size, std::string_view context);
  ~FileMapping();
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;

  std::span<uint8_t> bytes() const { return {data_, size_}; }

 private:
  FileMapping(uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint8_t* data_;
  uint64_t size_;
};

}  // namespace hermetic

#endif  // HERMETIC_POSIX_FILE_H_
