#include "hermetic/posix_file.h"

#include <dirent.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

extern char** environ;

namespace hermetic {
namespace {

// strerror_r is the XSI (int) or the GNU (char*) variant depending on
// feature macros; overloads pick whichever this libc declares.
[[maybe_unused]] const char* StrerrorResult(int rc, const char* buf) {
  return rc == 0 ? buf : "Unknown error";
}
[[maybe_unused]] const char* StrerrorResult(const char* text,
                                            const char* /*buf*/) {
  return text;
}

Status LastError(std::string_view context) {
  return PosixError(context, errno);
}

FileInfo InfoOf(const struct stat& st) {
  FileInfo info;
  if (S_ISREG(st.st_mode)) {
    info.kind = FileKind::kRegular;
  } else if (S_ISDIR(st.st_mode)) {
    info.kind = FileKind::kDirectory;
  } else if (S_ISLNK(st.st_mode)) {
    info.kind = FileKind::kSymlink;
  } else {
    info.kind = FileKind::kOther;
  }
  info.size = static_cast<uint64_t>(st.st_size);
  info.permissions = st.st_mode & 07777;
  info.links = static_cast<uint64_t>(st.st_nlink);
  info.device = st.st_dev;
  info.inode = st.st_ino;
  return info;
}

// `rc` and errno of a stat call; ENOENT is a missing file, not an error.
Result<FileInfo> StatResult(int rc, const struct stat& st,
                            std::string_view context) {
  if (rc == 0) return InfoOf(st);
  if (errno == ENOENT) return FileInfo{};
  return LastError(context);
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// Errors of readdir itself are not distinguished from the end of the list
// (readdir reports them only through errno after a null).
Result<std::vector<std::string>> ReadEntries(
    std::unique_ptr<DIR, DirCloser> d) {
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d.get())) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  return names;
}

}  // namespace

std::string ErrnoText(int err) {
  char buf[256];
  return StrerrorResult(strerror_r(err, buf, sizeof buf), buf);
}

Status PosixError(std::string_view context, int err) {
  std::string message(context);
  message += ": ";
  message += ErrnoText(err);
  return Status::IOError(std::move(message));
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd::Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Result<Fd> Fd::Open(const std::string& path, int flags,
                    std::string_view context, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return LastError(context);
  return Fd(fd);
}

Result<Fd> Fd::OpenAt(const Fd& dir, const std::string& name, int flags,
                      std::string_view context, mode_t mode) {
  int fd = ::openat(dir.get(), name.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return LastError(context);
  return Fd(fd);
}

int Fd::release() { return std::exchange(fd_, -1); }

Status Fd::Close(std::string_view context) {
  if (::close(release()) != 0) return LastError(context);
  return Status::Ok();
}

Result<Fd> Fd::Duplicate(std::string_view context) const {
  int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return LastError(context);
  return Fd(fd);
}

Result<FileInfo> Stat(const std::string& path, std::string_view context) {
  struct stat st;
  const int rc = ::stat(path.c_str(), &st);
  return StatResult(rc, st, context);
}

Result<FileInfo> LinkStat(const std::string& path, std::string_view context) {
  struct stat st;
  const int rc = ::lstat(path.c_str(), &st);
  return StatResult(rc, st, context);
}

Result<FileInfo> StatAt(const Fd& dir, const std::string& name,
                        std::string_view context) {
  struct stat st;
  const int rc = ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  return StatResult(rc, st, context);
}

Result<FileInfo> StatOpen(const Fd& fd, std::string_view context) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return LastError(context);
  return InfoOf(st);
}

Result<std::vector<std::string>> ListDirectory(const std::string& path,
                                               std::string_view context) {
  std::unique_ptr<DIR, DirCloser> d(::opendir(path.c_str()));
  if (d == nullptr) return LastError(context);
  return ReadEntries(std::move(d));
}

Result<std::vector<std::string>> ListDirectory(const Fd& dir,
                                               std::string_view context) {
  // fdopendir takes the descriptor it is given: hand it a fresh one.
  HERMETIC_ASSIGN_OR_RETURN(
      Fd own, Fd::OpenAt(dir, ".", O_RDONLY | O_DIRECTORY, context));
  std::unique_ptr<DIR, DirCloser> d(::fdopendir(own.get()));
  if (d == nullptr) return LastError(context);
  (void)own.release();  // the DIR owns it now
  return ReadEntries(std::move(d));
}

Status MakeDirectory(const std::string& path, mode_t mode,
                     std::string_view context) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return LastError(context);
  }
  return Status::Ok();
}

Status MakeDirectoryAt(const Fd& dir, const std::string& name, mode_t mode,
                       std::string_view context) {
  if (::mkdirat(dir.get(), name.c_str(), mode) != 0 && errno != EEXIST) {
    return LastError(context);
  }
  return Status::Ok();
}

Status Rename(const std::string& from, const std::string& to,
              std::string_view context) {
  if (::rename(from.c_str(), to.c_str()) != 0) return LastError(context);
  return Status::Ok();
}

Status RenameAt(const Fd& dir, const std::string& from, const std::string& to,
                std::string_view context) {
  if (::renameat(dir.get(), from.c_str(), dir.get(), to.c_str()) != 0) {
    return LastError(context);
  }
  return Status::Ok();
}

Status Unlink(const std::string& path, std::string_view context) {
  if (::unlink(path.c_str()) != 0) return LastError(context);
  return Status::Ok();
}

Status UnlinkAt(const Fd& dir, const std::string& name,
                std::string_view context) {
  if (::unlinkat(dir.get(), name.c_str(), 0) != 0) return LastError(context);
  return Status::Ok();
}

Status RemoveDirectory(const std::string& path, std::string_view context) {
  if (::rmdir(path.c_str()) != 0) return LastError(context);
  return Status::Ok();
}

Status RemoveDirectoryAt(const Fd& dir, const std::string& name,
                         std::string_view context) {
  if (::unlinkat(dir.get(), name.c_str(), AT_REMOVEDIR) != 0) {
    return LastError(context);
  }
  return Status::Ok();
}

Result<Fd> CreateTempFile(std::string* path_template,
                          std::string_view context) {
  int fd = ::mkostemp(path_template->data(), O_CLOEXEC);
  if (fd < 0) return LastError(context);
  return Fd(fd);
}

Result<Fd> CreateTempFileAt(const Fd& dir, std::string_view prefix, mode_t mode,
                            std::string* name, std::string_view context) {
  // Shared by every call in the process, so names taken by earlier
  // temporaries (even renamed ones) are not tried again.
  static std::atomic<unsigned> counter{0};
  const std::string stem =
      std::string(prefix) + std::to_string(::getpid()) + "-";
  for (int attempt = 0;; ++attempt) {
    *name = stem + std::to_string(counter++);
    int fd =
        ::openat(dir.get(), name->c_str(),
                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) return Fd(fd);
    if (errno != EEXIST || attempt > 100) return LastError(context);
  }
}

Result<bool> TryLockExclusive(const Fd& fd, std::string_view context) {
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return true;
  if (errno == EWOULDBLOCK) return false;
  return LastError(context);
}

Status ChangeMode(const Fd& fd, mode_t mode, std::string_view context) {
  if (::fchmod(fd.get(), mode) != 0) return LastError(context);
  return Status::Ok();
}

Result<size_t> ReadSome(const Fd& fd, std::span<uint8_t> out,
                        std::string_view context) {
  for (;;) {
    ssize_t n = ::read(fd.get(), out.data(), out.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return LastError(context);
  }
}

Result<size_t> ReadFullyAt(const Fd& fd, uint64_t offset,
                           std::span<uint8_t> out, std::string_view context) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done,
                        static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return LastError(context);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Result<std::string> ReadFile(const std::string& path,
                             std::string_view context) {
  HERMETIC_ASSIGN_OR_RETURN(Fd fd, Fd::Open(path, O_RDONLY, context));
  std::string out;
  uint8_t chunk[4096];
  for (;;) {
    HERMETIC_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, chunk, context));
    if (n == 0) return out;
    out.append(reinterpret_cast<const char*>(chunk), n);
  }
}

Status WriteFull(int fd, std::span<const uint8_t> bytes,
                 std::string_view context) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    // write(2) returns 0 for a non-empty buffer only on odd devices; treat
    // it as the device refusing more rather than spinning.
    if (n <= 0) return PosixError(context, n < 0 ? errno : EIO);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Status::Ok();
}

uint64_t PageSize() { return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)); }

Result<std::shared_ptr<FileMapping>> FileMapping::MapPrivate(
    const Fd& fd, uint64_t offset, uint64_t size, std::string_view context) {
  if (size == 0) {
    return std::shared_ptr<FileMapping>(new FileMapping(nullptr, 0));
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.get(),
                   static_cast<off_t>(offset));
  if (p == MAP_FAILED) return LastError(context);
  return std::shared_ptr<FileMapping>(
      new FileMapping(static_cast<uint8_t*>(p), size));
}

FileMapping::~FileMapping() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

bool IsTerminal(int fd) { return ::isatty(fd) == 1; }

Result<ProgramExit> RunProgram(const std::vector<std::string>& argv,
                               std::string_view input,
                               std::string_view context) {
  if (argv.empty()) return Status::InvalidArgument("RunProgram: no program");
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") +
                     "/hermetic-input-XXXXXX";
  HERMETIC_ASSIGN_OR_RETURN(Fd writer, CreateTempFile(&path, context));
  // Opened again for reading so the child starts at offset 0; the name is
  // gone before anything can fail, so nothing is left behind.
  Result<Fd> reader = Fd::Open(path, O_RDONLY, context);
  HERMETIC_RETURN_IF_ERROR(Unlink(path, context));
  if (!reader.ok()) return reader.status();
  HERMETIC_RETURN_IF_ERROR(WriteFull(
      writer, {reinterpret_cast<const uint8_t*>(input.data()), input.size()},
      context));
  HERMETIC_RETURN_IF_ERROR(writer.Close(context));

  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  if (int rc = posix_spawn_file_actions_init(&actions); rc != 0) {
    return PosixError(context, rc);
  }
  int rc = posix_spawn_file_actions_adddup2(&actions, reader->get(), 0);
  pid_t pid = -1;
  if (rc == 0) {
    rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  }
  posix_spawn_file_actions_destroy(&actions);
  if (rc == ENOENT) return ProgramExit{.not_found = true};
  if (rc != 0) return PosixError(context, rc);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return LastError(context);
  }
  ProgramExit exit;
  exit.status =
      WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return exit;
}

}  // namespace hermetic
