// ArchiveWriter: torch's PyTorchStreamWriter layout (docs/format.md), written
// through a small output buffer so that headers and descriptors do not cost a
// system call each while large record data goes straight to the target.
#include <libdeflate.h>

#include <bit>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/posix_file.h"
#include "serialization_id.h"
#include "zip_format.h"

namespace hermetic {
namespace {

using zip::Put16;
using zip::Put32;
using zip::Put64;

constexpr size_t kBufferSize = size_t{1} << 20;

// Temporaries are named ".<target name>.hermetic-tmp-XXXXXX" and flock()ed
// by their writer for as long as it writes. The kernel drops the lock when
// the writer dies, however it dies, so one whose lock can be taken belongs
// to no live writer: unlike a recorded pid, this cannot be fooled by reuse.
constexpr std::string_view kTempMarker = ".hermetic-tmp-";
constexpr size_t kTempSuffixSize = 6;  // mkostemp's XXXXXX
// Keeps the temporary's name within NAME_MAX (255) for any target name.
constexpr size_t kMaxTempStem = 200;

bool IsTempName(std::string_view name) {
  if (name.size() < 2 + kTempMarker.size() + kTempSuffixSize ||
      name[0] != '.') {
    return false;
  }
  std::string_view tail =
      name.substr(name.size() - kTempMarker.size() - kTempSuffixSize);
  if (!tail.starts_with(kTempMarker)) return false;
  for (char c : tail.substr(kTempMarker.size())) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Whether `named` (a stat of a name, not following links) is still the
// file open as `fd`.
bool StillNamed(const Fd& fd, const Result<FileInfo>& named) {
  Result<FileInfo> held = StatOpen(fd, {});
  return held.ok() && held->links > 0 && named.ok() && held->SameFile(*named);
}

// Removes the temporaries in `dir` left by dead writers: regular files with
// the temporary pattern whose lock can be taken. Best effort; nothing else
// is opened or touched.
void RemoveStaleTemporaries(const std::string& dir) {
  Result<Fd> dir_fd = Fd::Open(dir, O_RDONLY | O_DIRECTORY, {});
  if (!dir_fd.ok()) return;
  Result<std::vector<std::string>> names = ListDirectory(*dir_fd, {});
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    if (!IsTempName(name)) continue;
    Result<FileInfo> st = StatAt(*dir_fd, name, {});
    if (!st.ok() || st->kind != FileKind::kRegular) continue;
    Result<Fd> fd =
        Fd::OpenAt(*dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, {});
    if (!fd.ok()) continue;
    // Holding the lock, the file cannot be a live writer's; the name is
    // checked again since it may have been replaced since the stat.
    Result<bool> locked = TryLockExclusive(*fd, {});
    if (locked.ok() && *locked && StillNamed(*fd, StatAt(*dir_fd, name, {}))) {
      (void)UnlinkAt(*dir_fd, name, {});
    }
  }
}

// The file target: a temporary sibling, locked while written, renamed over
// the target by Commit().
class TempFileSink : public ByteSink {
 public:
  static Result<std::unique_ptr<TempFileSink>> Create(const std::string& path) {
    std::string dir = ".";
    size_t slash = path.find_last_of('/');
    if (slash != std::string::npos)
      dir = slash == 0 ? "/" : path.substr(0, slash);
    Result<FileInfo> parent = Stat(dir, {});
    if (!parent.ok() || parent->kind != FileKind::kDirectory) {
      return Status::NotFound("Parent directory " + dir + " does not exist.");
    }
    RemoveStaleTemporaries(dir);
    std::string prefix = dir == "." ? "" : dir == "/" ? "/" : dir + "/";
    std::string base =
        path.substr(slash == std::string::npos ? 0 : slash + 1, kMaxTempStem);
    // A cleaner in another process may take a fresh temporary before its
    // lock is: it then removes it, and another name is tried.
    for (int attempt = 0; attempt < 16; ++attempt) {
      std::string temp = prefix + "." + base + std::string(kTempMarker) +
                         std::string(kTempSuffixSize, 'X');
      HERMETIC_ASSIGN_OR_RETURN(
          Fd fd, CreateTempFile(
                     &temp, "cannot create a temporary file beside " + path));
      // Where flock is unsupported no cleaner can take the lock either, so
      // the temporary is safe unlocked.
      Result<bool> locked = TryLockExclusive(fd, {});
      const bool lost =
          locked.ok() && (!*locked || !StillNamed(fd, LinkStat(temp, {})));
      if (lost) continue;
      // mkostemp creates 0600; give the archive the mode an ordinary create
      // would, or keep the mode of the file being replaced.
      mode_t mode = 0666 & ~CurrentUmask();
      Result<FileInfo> replaced = Stat(path, {});
      if (replaced.ok() && replaced->kind != FileKind::kMissing) {
        mode = replaced->permissions;
      }
      (void)ChangeMode(fd, mode, {});
      return std::unique_ptr<TempFileSink>(
          new TempFileSink(path, temp, std::move(fd)));
    }
    return Status::IOError("cannot keep a temporary file beside " + path +
                           ": removed by another process each time");
  }

  ~TempFileSink() override { Discard(); }

  Status Write(std::span<const uint8_t> bytes) override {
    return WriteFull(fd_, bytes, "writing " + path_);
  }

  Status Commit() {
    // The lock must outlive the rename, or a cleaner could remove the
    // temporary in between: a duplicate descriptor holds it (flock locks
    // belong to the open file) while closing the first reports write errors.
    const std::string closing = "closing " + path_;
    Result<Fd> holder = fd_.Duplicate(closing);
    if (!holder.ok()) {
      Discard();
      return holder.status();
    }
    Fd written = std::exchange(fd_, std::move(*holder));
    Status s = written.Close(closing);
    if (s.ok()) {
      s = Rename(temp_, path_, "renaming the temporary file to " + path_);
    }
    if (!s.ok()) {
      Discard();
      return s;
    }
    temp_.clear();
    fd_ = Fd();
    return Status::Ok();
  }

  // Unlinks before closing, while the lock still marks the file as ours.
  void Discard() {
    if (!temp_.empty()) (void)Unlink(temp_, {});
    temp_.clear();
    fd_ = Fd();
  }

 private:
  TempFileSink(std::string path, std::string temp, Fd fd)
      : path_(std::move(path)), temp_(std::move(temp)), fd_(std::move(fd)) {}

  static mode_t CurrentUmask() {
    // umask() can only be read by setting it, which races with other threads;
    // /proc reports it without side effects.
    mode_t mask = 022;
    Result<std::string> status = ReadFile("/proc/self/status", {});
    if (!status.ok()) return mask;
    const size_t at = status->find("\nUmask:");
    if (at != std::string::npos) {
      mask = static_cast<mode_t>(
          std::strtoul(status->c_str() + at + 7, nullptr, 8));
    }
    return mask;
  }

  std::string path_;
  std::string temp_;
  Fd fd_;
};

struct Entry {
  std::string full_name;
  uint64_t header_offset;
  uint64_t size;             // uncompressed
  uint64_t compressed_size;  // as written
  uint32_t crc;
  uint16_t flags;
  uint16_t method;
};

// The zip "version needed to extract": torch writes 0 for its stored
// records; deflate needs 2.0 (APPNOTE 4.4.3).
uint16_t VersionNeeded(uint16_t method) {
  return method == zip::kMethodDeflated ? 20 : 0;
}

struct CompressorDeleter {
  void operator()(libdeflate_compressor* c) const {
    libdeflate_free_compressor(c);
  }
};

class WriterImpl : public ArchiveWriter {
 public:
  WriterImpl(std::string archive_name, std::unique_ptr<ByteSink> sink,
             TempFileSink* file, const WriterOptions& options)
      : name_(std::move(archive_name)),
        sink_(std::move(sink)),
        file_(file),
        options_(options) {
    buffer_.reserve(kBufferSize);
  }

  ~WriterImpl() override { Abort(); }

  const std::string& archive_name() const override { return name_; }

  using ArchiveWriter::WriteRecord;
  Status WriteRecord(std::string_view name, std::span<const uint8_t> data,
                     Compression compression) override {
    HERMETIC_RETURN_IF_ERROR(CheckOpen());
    std::optional<std::span<const uint8_t>> deflated;
    if (compression == Compression::kDeflate) {
      HERMETIC_ASSIGN_OR_RETURN(deflated, Deflate(name, data));
    }
    if (!deflated) {
      HERMETIC_RETURN_IF_ERROR(
          Begin(name, data.size(), data.size(), zip::kMethodStored));
      HERMETIC_RETURN_IF_ERROR(Append(data));
      return EndRecord();
    }
    HERMETIC_RETURN_IF_ERROR(
        Begin(name, data.size(), deflated->size(), zip::kMethodDeflated));
    if (options_.compute_crc32) current_.crc = Crc32(0, data);
    current_.size = data.size();
    current_.compressed_size = deflated->size();
    HERMETIC_RETURN_IF_ERROR(Emit(*deflated));
    if (scratch_size_ > kBufferSize) {  // not kept for the next record
      scratch_.reset();
      scratch_size_ = 0;
    }
    return EndRecord();
  }

  Status BeginRecord(std::string_view name) override {
    // The final size is unknown, so the local header cannot announce a
    // zip64 size; the central directory and descriptor still carry it.
    return Begin(name, 0, 0, zip::kMethodStored);
  }

  Status Append(std::span<const uint8_t> piece) override {
    HERMETIC_RETURN_IF_ERROR(CheckOpen());
    if (!open_) {
      return Status::FailedPrecondition("archive " + name_ +
                                        ": Append() without BeginRecord()");
    }
    if (options_.compute_crc32) current_.crc = Crc32(current_.crc, piece);
    current_.size += piece.size();
    current_.compressed_size += piece.size();
    return Emit(piece);
  }

  Status EndRecord() override {
    HERMETIC_RETURN_IF_ERROR(CheckOpen());
    if (!open_) {
      return Status::FailedPrecondition("archive " + name_ +
                                        ": EndRecord() without BeginRecord()");
    }
    open_ = false;
    if (current_.size == 0) {
      // torch writes an empty record without a data descriptor (flag bit 3
      // clear). Nothing was emitted since its header, so the header is still
      // the tail of the output buffer and can be patched in place.
      const uint64_t header_length = offset_ - current_.header_offset;
      uint8_t* flags = buffer_.data() + buffer_.size() - header_length + 6;
      flags[0] = static_cast<uint8_t>(zip::kEmptyRecordFlags);
      flags[1] = static_cast<uint8_t>(zip::kEmptyRecordFlags >> 8);
      current_.flags = zip::kEmptyRecordFlags;
      CloseEntry();
      return Status::Ok();
    }
    bool zip64 = current_.size >= zip::kZip64Marker32 ||
                 current_.header_offset >= zip::kZip64Marker32;
    std::string d;
    Put32(d, zip::kDataDescriptorSig);
    Put32(d, current_.crc);
    if (zip64) {
      Put64(d, current_.compressed_size);
      Put64(d, current_.size);
    } else {
      Put32(d, static_cast<uint32_t>(current_.compressed_size));
      Put32(d, static_cast<uint32_t>(current_.size));
    }
    CloseEntry();
    return Emit(d);
  }

  bool HasRecord(std::string_view name) const override {
    return names_.contains(std::string(name));
  }

  std::vector<std::string> RecordNames() const override {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) out.emplace_back(RecordName(e));
    return out;
  }

  std::string SerializationId() const override { return id_.Text(); }

  Status Finish() override {
    HERMETIC_RETURN_IF_ERROR(CheckOpen());
    if (open_) {
      return Status::FailedPrecondition("archive " + name_ +
                                        ": Finish() with a record still open");
    }
    Status s = WriteTail();
    if (s.ok()) s = Flush();
    if (s.ok()) s = sink_->Flush();
    if (s.ok() && file_ != nullptr) s = file_->Commit();
    if (!s.ok()) {
      Fail();
      return s;
    }
    finished_ = true;
    return s;
  }

  void Abort() override {
    if (finished_ || failed_) return;
    Fail();
  }

  bool finished() const override { return finished_; }

 private:
  Status CheckOpen() const {
    if (finished_) {
      return Status::FailedPrecondition("archive " + name_ + " is finished");
    }
    if (failed_) {
      return Status::FailedPrecondition("archive " + name_ +
                                        " was aborted after an error");
    }
    return Status::Ok();
  }

  void Fail() {
    failed_ = true;
    if (file_ != nullptr) file_->Discard();
  }

  // Any failed write leaves the output unusable, so later calls report it
  // instead of producing a torn archive.
  Status Guard(Status s) {
    if (!s.ok()) Fail();
    return s;
  }

  std::string_view RecordName(const Entry& e) const {
    return std::string_view(e.full_name).substr(name_.size() + 1);
  }

  void CloseEntry() {
    id_.Add(RecordName(current_), current_.size, current_.crc);
    entries_.push_back(std::move(current_));
  }

  // The deflated bytes of `data` (valid until the next call), or nullopt when
  // the record is to be stored: deflate is off, the record is empty or past
  // max_deflate_size, or it does not shrink.
  Result<std::optional<std::span<const uint8_t>>> Deflate(
      std::string_view name, std::span<const uint8_t> data) {
    if (options_.deflate_level == 0 || data.empty() ||
        data.size() > options_.max_deflate_size) {
      return std::optional<std::span<const uint8_t>>();
    }
    auto out_of_memory = [&] {
      return Status::ResourceExhausted("archive " + name_ + ", record " +
                                       EscapeName(name) +
                                       ": out of memory to deflate it");
    };
    if (compressor_ == nullptr) {
      compressor_.reset(libdeflate_alloc_compressor(options_.deflate_level));
      if (compressor_ == nullptr) return out_of_memory();
    }
    // One byte less than the record: output that does not fit is not worth
    // keeping, and libdeflate then reports 0.
    const size_t room = data.size() - 1;
    if (room > scratch_size_) {
      scratch_.reset(new (std::nothrow) uint8_t[room]);
      scratch_size_ = scratch_ == nullptr ? 0 : room;
      if (scratch_ == nullptr) return out_of_memory();
    }
    const size_t n = libdeflate_deflate_compress(
        compressor_.get(), data.data(), data.size(), scratch_.get(), room);
    if (n == 0) return std::optional<std::span<const uint8_t>>();
    return std::optional<std::span<const uint8_t>>(
        std::span<const uint8_t>(scratch_.get(), n));
  }

  Status Begin(std::string_view name, uint64_t known_size,
               uint64_t known_compressed_size, uint16_t method) {
    HERMETIC_RETURN_IF_ERROR(CheckOpen());
    if (open_) {
      return Status::FailedPrecondition("archive " + name_ + ": record " +
                                        current_.full_name + " is still open");
    }
    if (Status s = CheckRecordName(name); !s.ok()) {
      return Status::InvalidArgument("archive " + name_ + ": " + s.message());
    }
    std::string full = name_ + "/" + std::string(name);
    if (full.size() > 0xFFFF) {
      return Status::InvalidArgument(
          "archive " + name_ + ": record name too long: " + std::string(name));
    }
    if (!names_.insert(std::string(name)).second) {
      return Status::InvalidArgument("archive " + name_ +
                                     ": duplicate record " + std::string(name));
    }
    zip::LocalLayout l = zip::ComputeLocalLayout(
        offset_, full.size(), known_size, options_.alignment);
    std::string h;
    h.reserve(zip::kLocalHeaderSize + full.size() + l.extra_length);
    Put32(h, zip::kLocalHeaderSig);
    Put16(h, VersionNeeded(method));
    Put16(h, zip::kWriterFlags);
    Put16(h, method);
    Put32(h, 0);  // time, date
    Put32(h, 0);  // crc
    Put32(h, 0);  // compressed size
    Put32(h, 0);  // uncompressed size
    Put16(h, static_cast<uint16_t>(full.size()));
    Put16(h, l.extra_length);
    h += full;
    if (l.zip64()) {
      Put16(h, zip::kZip64ExtraId);
      Put16(h, l.zip64_extra_payload);
      if (l.size_zip64) {
        Put64(h, known_size);
        Put64(h, known_compressed_size);
      }
      if (l.offset_zip64) Put64(h, offset_);
    }
    Put16(h, zip::kPaddingExtraId);
    Put16(h, l.padding);
    h.append(l.padding, static_cast<char>(zip::kPaddingByte));
    current_ =
        Entry{std::move(full), offset_, 0, 0, 0, zip::kWriterFlags, method};
    open_ = true;
    return Emit(h);
  }

  Status Emit(std::string_view bytes) {
    return Emit({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }

  Status Emit(std::span<const uint8_t> bytes) {
    offset_ += bytes.size();
    if (buffer_.size() + bytes.size() <= kBufferSize) {
      buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
      return Status::Ok();
    }
    HERMETIC_RETURN_IF_ERROR(Flush());
    if (bytes.size() >= kBufferSize) return Guard(sink_->Write(bytes));
    buffer_.assign(bytes.begin(), bytes.end());
    return Status::Ok();
  }

  Status Flush() {
    if (buffer_.empty()) return Status::Ok();
    Status s = sink_->Write(buffer_);
    buffer_.clear();
    return Guard(s);
  }

  Status WriteTail() {
    HERMETIC_RETURN_IF_ERROR(WriteFrameworkRecords(*this, options_.version));
    const uint64_t cd_offset = offset_;
    std::string cd;
    for (const Entry& e : entries_) {
      const bool big_size = e.size >= zip::kZip64Marker32;
      const bool big_offset = e.header_offset >= zip::kZip64Marker32;
      const uint16_t extra =
          (big_size || big_offset)
              ? static_cast<uint16_t>(4 + (big_size ? 16 : 0) +
                                      (big_offset ? 8 : 0))
              : 0;
      // A deflated record is smaller than its uncompressed size, so both
      // sizes overflow together or it is the uncompressed one; both then go
      // to the zip64 block, as for a stored record.
      auto size32 = [&](uint64_t size) {
        return big_size ? zip::kZip64Marker32 : static_cast<uint32_t>(size);
      };
      Put32(cd, zip::kCentralHeaderSig);
      Put16(cd, 0);  // made by
      Put16(cd, VersionNeeded(e.method));
      Put16(cd, e.flags);
      Put16(cd, e.method);
      Put32(cd, 0);  // time, date
      Put32(cd, e.crc);
      Put32(cd, size32(e.compressed_size));
      Put32(cd, size32(e.size));
      Put16(cd, static_cast<uint16_t>(e.full_name.size()));
      Put16(cd, extra);
      Put16(cd, 0);  // comment
      Put16(cd, 0);  // disk
      Put16(cd, 0);  // internal attributes
      Put32(cd, 0);  // external attributes
      Put32(cd, big_offset ? zip::kZip64Marker32
                           : static_cast<uint32_t>(e.header_offset));
      cd += e.full_name;
      if (extra != 0) {
        Put16(cd, zip::kZip64ExtraId);
        Put16(cd, static_cast<uint16_t>(extra - 4));
        if (big_size) {
          Put64(cd, e.size);
          Put64(cd, e.compressed_size);
        }
        if (big_offset) Put64(cd, e.header_offset);
      }
      if (cd.size() >= kBufferSize) {
        HERMETIC_RETURN_IF_ERROR(Emit(cd));
        cd.clear();
      }
    }
    HERMETIC_RETURN_IF_ERROR(Emit(cd));
    const uint64_t cd_size = offset_ - cd_offset;
    const uint64_t zip64_end_offset = offset_;
    const uint64_t count = entries_.size();
    std::string end;
    Put32(end, zip::kZip64EndSig);
    Put64(end, zip::kZip64EndSize - 12);
    Put16(end, zip::kZip64MadeBy);
    Put16(end, zip::kZip64Needed);
    Put32(end, 0);  // this disk
    Put32(end, 0);  // central directory disk
    Put64(end, count);
    Put64(end, count);
    Put64(end, cd_size);
    Put64(end, cd_offset);
    Put32(end, zip::kZip64LocatorSig);
    Put32(end, 0);
    Put64(end, zip64_end_offset);
    Put32(end, 1);  // total disks
    const uint16_t count16 = count >= zip::kZip64Marker16
                                 ? zip::kZip64Marker16
                                 : static_cast<uint16_t>(count);
    Put32(end, zip::kEndSig);
    Put16(end, 0);
    Put16(end, 0);
    Put16(end, count16);
    Put16(end, count16);
    Put32(end, cd_size >= zip::kZip64Marker32 ? zip::kZip64Marker32
                                              : static_cast<uint32_t>(cd_size));
    Put32(end, cd_offset >= zip::kZip64Marker32
                   ? zip::kZip64Marker32
                   : static_cast<uint32_t>(cd_offset));
    Put16(end, 0);  // comment
    return Emit(end);
  }

  std::string name_;
  std::unique_ptr<ByteSink> sink_;
  TempFileSink* file_;  // sink_ when writing a file, else null
  WriterOptions options_;
  std::vector<uint8_t> buffer_;
  uint64_t offset_ = 0;
  std::vector<Entry> entries_;
  std::unordered_set<std::string> names_;
  SerializationIdHasher id_;
  std::unique_ptr<libdeflate_compressor, CompressorDeleter> compressor_;
  std::unique_ptr<uint8_t[]> scratch_;  // Deflate's output
  size_t scratch_size_ = 0;
  Entry current_;
  bool open_ = false;
  bool finished_ = false;
  bool failed_ = false;
};

Status CheckOptions(const WriterOptions& options) {
  if (options.alignment == 0 || options.alignment > 0x8000) {
    return Status::InvalidArgument("alignment must be in [1, 32768], got " +
                                   std::to_string(options.alignment));
  }
  if (options.deflate_level < 0 || options.deflate_level > 12) {
    return Status::InvalidArgument("deflate_level must be in [0, 12], got " +
                                   std::to_string(options.deflate_level));
  }
  return Status::Ok();
}

Status WriteText(ArchiveWriter& writer, std::string_view name,
                 std::string_view text) {
  return writer.WriteRecord(
      name, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

}  // namespace

Status WriteFrameworkRecords(ArchiveWriter& writer, uint32_t version) {
  if (!writer.HasRecord(".data/version") && !writer.HasRecord("version")) {
    HERMETIC_RETURN_IF_ERROR(
        WriteText(writer, version >= 6 ? ".data/version" : "version",
                  std::to_string(version) + "\n"));
  }
  if (!writer.HasRecord(kByteorderRecord)) {
    HERMETIC_RETURN_IF_ERROR(WriteText(
        writer, kByteorderRecord,
        std::endian::native == std::endian::little ? "little" : "big"));
  }
  if (!writer.HasRecord(kSerializationIdRecord)) {
    HERMETIC_RETURN_IF_ERROR(
        WriteText(writer, kSerializationIdRecord, writer.SerializationId()));
  }
  return Status::Ok();
}

Result<std::unique_ptr<ArchiveWriter>> ArchiveWriter::OpenFile(
    const std::string& path, const WriterOptions& options) {
  HERMETIC_RETURN_IF_ERROR(CheckOptions(options));
  size_t sep = path.find_last_of("/\\");
  std::string base = sep == std::string::npos ? path : path.substr(sep + 1);
  std::string stem = base.substr(0, base.rfind('.'));
  if (stem.empty())
    return Status::InvalidArgument("invalid file name: " + base);
  HERMETIC_ASSIGN_OR_RETURN(std::unique_ptr<TempFileSink> file,
                            TempFileSink::Create(path));
  TempFileSink* raw = file.get();
  return std::unique_ptr<ArchiveWriter>(
      new WriterImpl(std::move(stem), std::move(file), raw, options));
}

Result<std::unique_ptr<ArchiveWriter>> ArchiveWriter::OpenSink(
    std::unique_ptr<ByteSink> sink, const WriterOptions& options) {
  HERMETIC_RETURN_IF_ERROR(CheckOptions(options));
  if (sink == nullptr) return Status::InvalidArgument("null ByteSink");
  return std::unique_ptr<ArchiveWriter>(
      new WriterImpl("archive", std::move(sink), nullptr, options));
}

Result<std::unique_ptr<ArchiveWriter>> ArchiveWriter::OpenMemory(
    std::vector<uint8_t>* out, const WriterOptions& options) {
  if (out == nullptr) return Status::InvalidArgument("null output buffer");
  class MemorySink : public ByteSink {
   public:
    explicit MemorySink(std::vector<uint8_t>* bytes) : bytes_(bytes) {}
    Status Write(std::span<const uint8_t> piece) override {
      bytes_->insert(bytes_->end(), piece.begin(), piece.end());
      return Status::Ok();
    }

   private:
    std::vector<uint8_t>* bytes_;
  };
  return OpenSink(std::make_unique<MemorySink>(out), options);
}

}  // namespace hermetic
