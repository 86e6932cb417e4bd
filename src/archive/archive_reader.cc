// ArchiveReader over a zip (mapped file or caller's buffer) and over an
// unzipped package folder. The zip parser trusts nothing: every offset and
// length is checked against the buffer before it is dereferenced.
#include <dirent.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "archive/zip_format.h"
#include "hermetic/archive.h"

namespace hermetic {
namespace {

using zip::Get16;
using zip::Get32;
using zip::Get64;

// Deflate cannot expand input by more than about 1032:1; a declared size
// beyond this bound is a lie we refuse before allocating for it.
constexpr uint64_t kMaxDeflateRatio = 1032;

std::string ErrnoText(int err) { return std::strerror(err); }

// A read-only file mapped MAP_PRIVATE with write permission, so that callers
// may scribble on views (copy-on-write) without reaching the file.
class Mapping {
 public:
  // `offset` must be a multiple of the page size.
  static Result<std::shared_ptr<Mapping>> Map(const std::string& path, int fd,
                                              uint64_t size,
                                              uint64_t offset = 0) {
    if (size == 0) return std::make_shared<Mapping>(nullptr, 0);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
                   static_cast<off_t>(offset));
    if (p == MAP_FAILED) {
      return Status::IOError("cannot map " + path + ": " + ErrnoText(errno));
    }
    return std::make_shared<Mapping>(static_cast<uint8_t*>(p), size);
  }
  Mapping(uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  ~Mapping() {
    if (data_ != nullptr) munmap(data_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  std::span<uint8_t> span() const { return {data_, size_}; }

 private:
  uint8_t* data_;
  uint64_t size_;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Result<std::vector<uint8_t>> ReadWholeFile(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Status::IOError("cannot open " + path + ": " + ErrnoText(errno));
  }
  std::vector<uint8_t> out;
  uint8_t chunk[1 << 16];
  for (;;) {
    ssize_t n = read(fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Status::IOError("reading " + path + ": " + ErrnoText(errno));
    }
    if (n == 0) break;
    out.insert(out.end(), chunk, chunk + n);
  }
  return out;
}

Result<std::shared_ptr<Mapping>> MapFile(const std::string& path,
                                         uint64_t size) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Status::IOError("cannot open " + path + ": " + ErrnoText(errno));
  }
  return Mapping::Map(path, fd.get(), size);
}

// `where` names the archive ("archive x.pt").
Status CheckCrc(const std::string& where, const RecordInfo& r,
                std::span<const uint8_t> bytes) {
  uint32_t crc = Crc32(0, bytes);
  if (crc != r.crc32) {
    char buf[64];
    snprintf(buf, sizeof buf, "CRC-32 mismatch (stored %08x, computed %08x)",
             r.crc32, crc);
    return Status::Corrupt(where + ", record " + r.name + ": " + buf);
  }
  return Status::Ok();
}

// Records and their index, fixed once the reader is open; shared with the
// RecordMaps the reader makes, which may outlive it.
struct Catalog {
  std::vector<RecordInfo> records;
  std::map<std::string, size_t, std::less<>> index;

  const RecordInfo* Find(std::string_view name) const {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &records[it->second];
  }
};

// The name checks shared by every RecordMap; subclasses say where the bytes
// of one record come from.
class PrefixRecordMap : public RecordMap {
 public:
  // `where` names the archive in errors ("archive x.pt").
  PrefixRecordMap(std::shared_ptr<const Catalog> catalog, std::string prefix,
                  std::string where, bool verify_crc)
      : catalog_(std::move(catalog)),
        prefix_(std::move(prefix)),
        where_(std::move(where)),
        verify_crc_(verify_crc) {}

  Result<std::span<uint8_t>> View(std::string_view name) final {
    const RecordInfo* r = catalog_->Find(name);
    if (r == nullptr || !name.starts_with(prefix_)) {
      return Status::NotFound(where_ + ": record " + std::string(name) +
                              " is not among the records mapped for '" +
                              prefix_ + "'");
    }
    if (r->method != zip::kMethodStored) {
      return Status::Unsupported(where_ + ": record " + r->name +
                                 " is compressed; it cannot be mapped");
    }
    HERMETIC_ASSIGN_OR_RETURN(std::span<uint8_t> bytes, Bytes(*r));
    if (verify_crc_) HERMETIC_RETURN_IF_ERROR(CheckCrc(where_, *r, bytes));
    return bytes;
  }

 protected:
  // Called for a stored record of this map, possibly more than once.
  virtual Result<std::span<uint8_t>> Bytes(const RecordInfo& r) = 0;

 private:
  std::shared_ptr<const Catalog> catalog_;
  std::string prefix_;
  std::string where_;
  bool verify_crc_;
};

// One private mapping of the file pages spanning the records.
class FileRecordMap final : public PrefixRecordMap {
 public:
  FileRecordMap(std::shared_ptr<const Catalog> catalog, std::string prefix,
                std::string where, bool verify_crc,
                std::shared_ptr<Mapping> mapping, uint64_t base, uint64_t end)
      : PrefixRecordMap(std::move(catalog), std::move(prefix), std::move(where),
                        verify_crc),
        mapping_(std::move(mapping)),
        base_(base),
        end_(end) {}

  std::span<uint8_t> memory() const override {
    return mapping_ ? mapping_->span() : std::span<uint8_t>();
  }

 protected:
  Result<std::span<uint8_t>> Bytes(const RecordInfo& r) override {
    if (r.size == 0) return std::span<uint8_t>();
    // Stored records with data were all inside [base_, end_) when the map
    // was made; the check guards the arithmetic, not a reachable state.
    if (r.data_offset < base_ || r.data_offset + r.size > end_) {
      return Status::Internal("record " + r.name + " lies outside its map");
    }
    return mapping_->span().subspan(r.data_offset - base_, r.size);
  }

 private:
  std::shared_ptr<Mapping> mapping_;
  uint64_t base_;
  uint64_t end_;
};

// A private copy of each record of a caller's buffer, made when first asked.
class BufferRecordMap final : public PrefixRecordMap {
 public:
  BufferRecordMap(std::shared_ptr<const Catalog> catalog, std::string prefix,
                  std::string where, bool verify_crc,
                  std::span<const uint8_t> data,
                  std::shared_ptr<const void> owner)
      : PrefixRecordMap(std::move(catalog), std::move(prefix), std::move(where),
                        verify_crc),
        data_(data),
        owner_(std::move(owner)) {}

 protected:
  Result<std::span<uint8_t>> Bytes(const RecordInfo& r) override {
    auto [it, added] = copies_.try_emplace(&r);
    if (added) {
      std::span<const uint8_t> stored = data_.subspan(r.data_offset, r.size);
      it->second.assign(stored.begin(), stored.end());
    }
    return std::span<uint8_t>(it->second);
  }

 private:
  std::span<const uint8_t> data_;
  std::shared_ptr<const void> owner_;
  std::map<const RecordInfo*, std::vector<uint8_t>> copies_;
};

// A private mapping of each file of a package folder, made when first asked.
class FolderRecordMap final : public PrefixRecordMap {
 public:
  FolderRecordMap(std::shared_ptr<const Catalog> catalog, std::string prefix,
                  std::string root)
      : PrefixRecordMap(std::move(catalog), std::move(prefix),
                        "package folder " + root, /*verify_crc=*/false),
        root_(std::move(root)) {}

 protected:
  Result<std::span<uint8_t>> Bytes(const RecordInfo& r) override {
    auto it = maps_.find(&r);
    if (it == maps_.end()) {
      HERMETIC_ASSIGN_OR_RETURN(std::shared_ptr<Mapping> m,
                                MapFile(root_ + "/" + r.name, r.size));
      it = maps_.emplace(&r, std::move(m)).first;
    }
    return it->second->span();
  }

 private:
  std::string root_;
  std::map<const RecordInfo*, std::shared_ptr<Mapping>> maps_;
};

class ZipReader : public ArchiveReader {
 public:
  // `fd` >= 0 (owned) is the mapped file: headers and record copies are read
  // with pread, which costs a third of a page fault on the mapping and
  // leaves the mapping unpopulated until someone asks for a view.
  ZipReader(std::span<const uint8_t> data, std::shared_ptr<const void> owner,
            int fd, std::string display_name, const ReaderOptions& options)
      : data_(data),
        owner_(std::move(owner)),
        fd_(fd),
        writable_(fd >= 0),
        display_name_(std::move(display_name)),
        options_(options) {}

  Status Parse();

  const std::string& prefix() const override { return prefix_; }
  const std::string& display_name() const override { return display_name_; }
  bool is_directory() const override { return false; }
  const std::vector<RecordInfo>& records() const override {
    return catalog_->records;
  }

  const RecordInfo* Find(std::string_view name) const override {
    return catalog_->Find(name);
  }

  Result<std::unique_ptr<RecordMap>> MapRecords(
      std::string_view prefix) override;

  Result<std::span<uint8_t>> View(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    if (r->method != zip::kMethodStored) {
      return Status::Unsupported("archive " + display_name_ + ": record " +
                                 r->name +
                                 " is compressed; it has no zero-copy view");
    }
    if (options_.verify_views) HERMETIC_RETURN_IF_ERROR(Check(*r, Stored(*r)));
    if (writable_) {
      // The mapping is MAP_PRIVATE|PROT_WRITE: writes stay in this process.
      return std::span<uint8_t>(
          const_cast<uint8_t*>(data_.data()) + r->data_offset, r->size);
    }
    // A caller's buffer must not change under it: hand out a private copy
    // that lives as long as the reader.
    auto it = copies_.find(r->name);
    if (it == copies_.end()) {
      std::span<const uint8_t> bytes = Stored(*r);
      it = copies_
               .emplace(r->name,
                        std::vector<uint8_t>(bytes.begin(), bytes.end()))
               .first;
    }
    return std::span<uint8_t>(it->second);
  }

  Result<std::vector<uint8_t>> Read(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    HERMETIC_RETURN_IF_ERROR(CheckInflatedSize(*r));
    std::vector<uint8_t> out(r->size);
    HERMETIC_RETURN_IF_ERROR(ReadRecordInto(*r, out));
    return out;
  }

  Status ReadInto(std::string_view name, std::span<uint8_t> out) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    if (out.size() != r->size) {
      return Status::InvalidArgument("archive " + display_name_ + ", record " +
                                     r->name + " has " +
                                     std::to_string(r->size) + " bytes, not " +
                                     std::to_string(out.size()));
    }
    return ReadRecordInto(*r, out);
  }

  Status Verify(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    return VerifyRecord(*r);
  }

  Status VerifyAll() override {
#ifdef MADV_POPULATE_READ
    // Populating page tables in one call is several times faster than taking
    // one fault per page while hashing a freshly mapped archive.
    if (writable_ && !data_.empty()) {
      madvise(const_cast<uint8_t*>(data_.data()), data_.size(),
              MADV_POPULATE_READ);
    }
#endif
    for (const RecordInfo& r : catalog_->records) {
      HERMETIC_RETURN_IF_ERROR(VerifyRecord(r));
    }
    return Status::Ok();
  }

 private:
  Status Corrupt(std::string_view what) const {
    return Status::Corrupt("archive " + display_name_ + ": " +
                           std::string(what));
  }
  Status CorruptRecord(std::string_view record, std::string_view what) const {
    return Status::Corrupt("archive " + display_name_ + ", record " +
                           std::string(record) + ": " + std::string(what));
  }

  Result<const RecordInfo*> Lookup(std::string_view name) const {
    const RecordInfo* r = Find(name);
    if (r == nullptr) {
      return Status::NotFound("archive " + display_name_ + " has no record " +
                              std::string(name));
    }
    return r;
  }

  std::span<const uint8_t> Stored(const RecordInfo& r) const {
    return data_.subspan(r.data_offset, r.compressed_size);
  }

  Status CheckInflatedSize(const RecordInfo& r) const {
    if (r.method != zip::kMethodStored && r.size > options_.max_inflated_size) {
      return CorruptRecord(r.name,
                           "inflated size " + std::to_string(r.size) +
                               " exceeds the limit of " +
                               std::to_string(options_.max_inflated_size));
    }
    return Status::Ok();
  }

  // Copies `len` bytes at `offset` (already bounds-checked) into `out`.
  Status CopyOut(uint64_t offset, std::span<uint8_t> out) const {
    if (out.empty()) return Status::Ok();  // memcpy forbids null pointers
    if (fd_.get() < 0) {
      std::memcpy(out.data(), data_.data() + offset, out.size());
      return Status::Ok();
    }
    while (!out.empty()) {
      ssize_t n =
          pread(fd_.get(), out.data(), out.size(), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Status::IOError(
            "reading " + display_name_ + ": " +
            (n == 0 ? std::string("file shrank") : ErrnoText(errno)));
      }
      out = out.subspan(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  // The record's bytes into `out` (exactly r.size bytes), inflated if needed
  // and CRC-checked when the options ask for it.
  Status ReadRecordInto(const RecordInfo& r, std::span<uint8_t> out) const {
    if (r.method == zip::kMethodStored) {
      HERMETIC_RETURN_IF_ERROR(CopyOut(r.data_offset, out));
    } else {
      HERMETIC_RETURN_IF_ERROR(Inflate(r, out));
    }
    if (options_.verify_reads) return Check(r, out);
    return Status::Ok();
  }

  Status Inflate(const RecordInfo& r, std::span<uint8_t> out) const {
    HERMETIC_RETURN_IF_ERROR(CheckInflatedSize(r));
    std::span<const uint8_t> stored = Stored(r);
    libdeflate_decompressor* d = libdeflate_alloc_decompressor();
    if (d == nullptr) return Status::Internal("out of memory for inflate");
    size_t actual = 0;
    libdeflate_result res = libdeflate_deflate_decompress(
        d, stored.data(), stored.size(), out.data(), out.size(), &actual);
    libdeflate_free_decompressor(d);
    switch (res) {
      case LIBDEFLATE_SUCCESS:
        if (actual != r.size) {
          return CorruptRecord(r.name, "inflates to " + std::to_string(actual) +
                                           " bytes, declared " +
                                           std::to_string(r.size));
        }
        return Status::Ok();
      case LIBDEFLATE_INSUFFICIENT_SPACE:
        return CorruptRecord(r.name, "inflates past its declared size " +
                                         std::to_string(r.size));
      default:
        return CorruptRecord(r.name, "invalid deflate data");
    }
  }

  Status Check(const RecordInfo& r, std::span<const uint8_t> bytes) const {
    return CheckCrc("archive " + display_name_, r, bytes);
  }

  Status VerifyRecord(const RecordInfo& r) const {
    if (r.method == zip::kMethodStored) return Check(r, Stored(r));
    HERMETIC_RETURN_IF_ERROR(CheckInflatedSize(r));
    std::vector<uint8_t> bytes(r.size);
    HERMETIC_RETURN_IF_ERROR(Inflate(r, bytes));
    return Check(r, bytes);
  }

  Status FindEnd(uint64_t* cd_offset, uint64_t* cd_size, uint64_t* count,
                 uint64_t* cd_limit);
  Status ParseEntry(uint64_t* pos, uint64_t cd_end, RecordInfo* out,
                    std::string* full_name);
  Status CheckLocalHeader(const std::string& full_name, RecordInfo* r,
                          uint64_t cd_offset);
  Result<const uint8_t*> HeaderBytes(uint64_t offset, uint64_t max_length);

  std::span<const uint8_t> data_;
  std::shared_ptr<const void> owner_;
  Fd fd_;
  bool writable_;
  std::string display_name_;
  ReaderOptions options_;
  std::string prefix_;
  std::shared_ptr<Catalog> catalog_ = std::make_shared<Catalog>();
  std::unordered_map<std::string, std::vector<uint8_t>> copies_;
  std::vector<uint8_t> scratch_;  // file bytes from window_offset_ on
  uint64_t window_offset_ = 0;
};

Status ZipReader::FindEnd(uint64_t* cd_offset, uint64_t* cd_size,
                          uint64_t* count, uint64_t* cd_limit) {
  const uint64_t n = data_.size();
  if (n < zip::kEndSize) {
    return Corrupt("too short to be a zip archive (" + std::to_string(n) +
                   " bytes)");
  }
  // The end record sits in the last 22 + 65535 bytes; the last signature
  // whose comment fits in the file wins.
  const uint64_t lowest = n > zip::kEndSize + zip::kMaxCommentSize
                              ? n - zip::kEndSize - zip::kMaxCommentSize
                              : 0;
  uint64_t end = n - zip::kEndSize;
  for (;; --end) {
    if (Get32(&data_[end]) == zip::kEndSig &&
        end + zip::kEndSize + Get16(&data_[end + 20]) <= n) {
      break;
    }
    if (end == lowest) return Corrupt("end of central directory not found");
  }
  const uint8_t* e = &data_[end];
  if (Get16(e + 4) != 0 || Get16(e + 6) != 0) {
    return Status::Unsupported("archive " + display_name_ +
                               " spans several disks");
  }
  *count = Get16(e + 10);
  *cd_size = Get32(e + 12);
  *cd_offset = Get32(e + 16);
  *cd_limit = end;
  if (end >= zip::kZip64LocatorSize &&
      Get32(&data_[end - zip::kZip64LocatorSize]) == zip::kZip64LocatorSig) {
    const uint8_t* loc = &data_[end - zip::kZip64LocatorSize];
    const uint64_t z = Get64(loc + 8);
    if (z > end - zip::kZip64LocatorSize ||
        end - zip::kZip64LocatorSize - z < zip::kZip64EndSize) {
      return Corrupt("zip64 end record out of range");
    }
    const uint8_t* z64 = &data_[z];
    if (Get32(z64) != zip::kZip64EndSig) {
      return Corrupt("bad zip64 end record signature");
    }
    *count = Get64(z64 + 32);
    if (Get64(z64 + 24) != *count) {
      return Status::Unsupported("archive " + display_name_ +
                                 " spans several disks");
    }
    *cd_size = Get64(z64 + 40);
    *cd_offset = Get64(z64 + 48);
    *cd_limit = z;
  } else if (*count == zip::kZip64Marker16 || *cd_size == zip::kZip64Marker32 ||
             *cd_offset == zip::kZip64Marker32) {
    return Corrupt("end record defers to a missing zip64 end record");
  }
  if (*cd_offset > *cd_limit || *cd_size > *cd_limit - *cd_offset) {
    return Corrupt("central directory (offset " + std::to_string(*cd_offset) +
                   ", size " + std::to_string(*cd_size) +
                   ") lies outside the archive");
  }
  if (*count > options_.max_records) {
    return Corrupt("too many records: " + std::to_string(*count) + " (limit " +
                   std::to_string(options_.max_records) + ")");
  }
  if (*count > *cd_size / zip::kCentralHeaderSize) {
    return Corrupt("central directory of " + std::to_string(*cd_size) +
                   " bytes cannot hold " + std::to_string(*count) + " records");
  }
  return Status::Ok();
}

Status ZipReader::ParseEntry(uint64_t* pos, uint64_t cd_end, RecordInfo* r,
                             std::string* full_name) {
  const std::string where =
      "central directory entry at offset " + std::to_string(*pos);
  if (cd_end - *pos < zip::kCentralHeaderSize) {
    return Corrupt(where + " is truncated");
  }
  const uint8_t* h = &data_[*pos];
  if (Get32(h) != zip::kCentralHeaderSig) {
    return Corrupt(where + " has a bad signature");
  }
  const uint16_t flags = Get16(h + 8);
  r->method = Get16(h + 10);
  r->crc32 = Get32(h + 16);
  r->compressed_size = Get32(h + 20);
  r->size = Get32(h + 24);
  const uint64_t name_len = Get16(h + 28);
  const uint64_t extra_len = Get16(h + 30);
  const uint64_t comment_len = Get16(h + 32);
  r->header_offset = Get32(h + 42);
  const uint64_t var = name_len + extra_len + comment_len;
  if (cd_end - *pos - zip::kCentralHeaderSize < var) {
    return Corrupt(where + " runs past the central directory");
  }
  full_name->assign(reinterpret_cast<const char*>(h + zip::kCentralHeaderSize),
                    name_len);
  if (name_len > options_.max_name_length) {
    return Corrupt("record name longer than " +
                   std::to_string(options_.max_name_length) +
                   " bytes: " + full_name->substr(0, 64) + "...");
  }
  // Values saturated at 0xFFFFFFFF continue in the zip64 extra, in the order
  // uncompressed size, compressed size, header offset.
  const uint8_t* x = h + zip::kCentralHeaderSize + name_len;
  const uint8_t* x_end = x + extra_len;
  uint64_t* fields[3] = {
      r->size == zip::kZip64Marker32 ? &r->size : nullptr,
      r->compressed_size == zip::kZip64Marker32 ? &r->compressed_size : nullptr,
      r->header_offset == zip::kZip64Marker32 ? &r->header_offset : nullptr};
  bool need_zip64 = fields[0] || fields[1] || fields[2];
  while (need_zip64 && x_end - x >= 4) {
    const uint16_t id = Get16(x);
    const uint16_t len = Get16(x + 2);
    if (len > static_cast<uint64_t>(x_end - x - 4)) {
      return CorruptRecord(*full_name, "extra field runs past its entry");
    }
    if (id == zip::kZip64ExtraId) {
      const uint8_t* f = x + 4;
      for (uint64_t* field : fields) {
        if (field == nullptr) continue;
        if (f + 8 > x + 4 + len) {
          return CorruptRecord(*full_name, "zip64 extra field is too short");
        }
        *field = Get64(f);
        f += 8;
      }
      need_zip64 = false;
    }
    x += 4 + len;
  }
  if (need_zip64) {
    return CorruptRecord(*full_name,
                         "size or offset defers to a missing zip64 extra");
  }
  if (flags & zip::kFlagEncrypted) {
    return Status::Unsupported("archive " + display_name_ + ", record " +
                               *full_name + ": encrypted");
  }
  if (r->method != zip::kMethodStored && r->method != zip::kMethodDeflated) {
    return Status::Unsupported("archive " + display_name_ + ", record " +
                               *full_name + ": compression method " +
                               std::to_string(r->method));
  }
  *pos += zip::kCentralHeaderSize + var;
  return Status::Ok();
}

Status ZipReader::CheckLocalHeader(const std::string& full_name, RecordInfo* r,
                                   uint64_t cd_offset) {
  const uint64_t off = r->header_offset;
  if (off > cd_offset || cd_offset - off < zip::kLocalHeaderSize) {
    return CorruptRecord(full_name, "local header offset " +
                                        std::to_string(off) +
                                        " is outside the record area");
  }
  HERMETIC_ASSIGN_OR_RETURN(
      const uint8_t* h,
      HeaderBytes(
          off, std::min<uint64_t>(cd_offset - off,
                                  zip::kLocalHeaderSize + full_name.size())));
  if (Get32(h) != zip::kLocalHeaderSig) {
    return CorruptRecord(full_name, "bad local header signature");
  }
  const uint16_t flags = Get16(h + 6);
  const uint64_t name_len = Get16(h + 26);
  const uint64_t extra_len = Get16(h + 28);
  if (cd_offset - off - zip::kLocalHeaderSize < name_len + extra_len) {
    return CorruptRecord(full_name,
                         "local header runs into the central directory");
  }
  if (name_len != full_name.size()) {
    return CorruptRecord(full_name, "local header name has " +
                                        std::to_string(name_len) + " bytes");
  }
  std::string_view local_name(
      reinterpret_cast<const char*>(h + zip::kLocalHeaderSize), name_len);
  if (local_name != full_name) {
    return CorruptRecord(full_name, "local header names it '" +
                                        std::string(local_name.substr(0, 256)) +
                                        "'");
  }
  if (Get16(h + 8) != r->method) {
    return CorruptRecord(full_name,
                         "local header and central directory disagree on the "
                         "compression method");
  }
  // Local sizes are either deferred to the data descriptor (zero), saturated
  // for zip64, or must match the central directory.
  const uint32_t local_comp = Get32(h + 18);
  const uint32_t local_size = Get32(h + 22);
  const bool deferred =
      (flags & zip::kFlagDataDescriptor) && local_comp == 0 && local_size == 0;
  const bool saturated =
      local_comp == zip::kZip64Marker32 || local_size == zip::kZip64Marker32;
  if (!deferred && !saturated &&
      (local_comp != r->compressed_size || local_size != r->size)) {
    return CorruptRecord(
        full_name, "local header sizes (" + std::to_string(local_comp) + ", " +
                       std::to_string(local_size) +
                       ") disagree with the central directory (" +
                       std::to_string(r->compressed_size) + ", " +
                       std::to_string(r->size) + ")");
  }
  r->data_offset = off + zip::kLocalHeaderSize + name_len + extra_len;
  if (r->compressed_size > cd_offset - r->data_offset) {
    return CorruptRecord(full_name,
                         "declared size " + std::to_string(r->compressed_size) +
                             " runs past the record area (" +
                             std::to_string(cd_offset - r->data_offset) +
                             " bytes left)");
  }
  if (r->method == zip::kMethodStored && r->compressed_size != r->size) {
    return CorruptRecord(full_name, "stored record with compressed size " +
                                        std::to_string(r->compressed_size) +
                                        " != size " + std::to_string(r->size));
  }
  if (r->method == zip::kMethodDeflated &&
      r->size / kMaxDeflateRatio > r->compressed_size + 1) {
    return CorruptRecord(full_name, "declared size " + std::to_string(r->size) +
                                        " is impossible for " +
                                        std::to_string(r->compressed_size) +
                                        " deflated bytes");
  }
  return Status::Ok();
}

// A local header plus the longest name it may carry, `max_length` bytes at
// most (bounds-checked by the caller). Where headers lie close together
// (records of the small tensors of a state_dict) they are read through a
// window of the file, dozens per pread, where one pread each dominated
// opening such archives; far apart ones are read alone, so that archives
// of large records do not copy a window per header.
Result<const uint8_t*> ZipReader::HeaderBytes(uint64_t offset,
                                              uint64_t max_length) {
  if (fd_.get() < 0) return &data_[offset];
  if (offset >= window_offset_ &&
      offset - window_offset_ + max_length <= scratch_.size()) {
    return scratch_.data() + (offset - window_offset_);
  }
  constexpr uint64_t kWindow = 16 << 10;
  const bool close = !scratch_.empty() && offset >= window_offset_ &&
                     offset - window_offset_ < 2 * kWindow;
  const uint64_t length = close ? std::max(max_length, kWindow) : max_length;
  scratch_.resize(length);
  window_offset_ = offset;
  for (;;) {
    ssize_t n =
        pread(fd_.get(), scratch_.data(), length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Status::IOError("reading " + display_name_ + ": " +
                             ErrnoText(errno));
    }
    // The file may have shrunk since it was mapped; what was not read is
    // zero, which fails the signature or name checks.
    std::fill(scratch_.begin() + n, scratch_.end(), 0);
    return scratch_.data();
  }
}

Status ZipReader::Parse() {
  uint64_t cd_offset = 0, cd_size = 0, count = 0, cd_limit = 0;
  HERMETIC_RETURN_IF_ERROR(FindEnd(&cd_offset, &cd_size, &count, &cd_limit));
  std::vector<RecordInfo>& records = catalog_->records;
  records.reserve(count);
  const uint64_t cd_end = cd_offset + cd_size;
  uint64_t pos = cd_offset;
  std::string full_name;
  for (uint64_t i = 0; i < count; ++i) {
    RecordInfo r;
    HERMETIC_RETURN_IF_ERROR(ParseEntry(&pos, cd_end, &r, &full_name));
    if (i == 0) {
      size_t slash = full_name.find('/');
      if (slash == std::string::npos || slash == 0) {
        return CorruptRecord(full_name,
                             "file in archive is not in a subdirectory");
      }
      prefix_ = full_name.substr(0, slash);
    }
    if (full_name.size() <= prefix_.size() ||
        full_name.compare(0, prefix_.size(), prefix_) != 0 ||
        full_name[prefix_.size()] != '/') {
      return CorruptRecord(full_name,
                           "file in archive is not in the top-level "
                           "folder " +
                               prefix_ + "/");
    }
    HERMETIC_RETURN_IF_ERROR(CheckLocalHeader(full_name, &r, cd_offset));
    std::string_view rel =
        std::string_view(full_name).substr(prefix_.size() + 1);
    // Directory entries made by generic zip tools carry no data.
    if ((rel.empty() || rel.back() == '/') && r.size == 0) {
      std::string_view dir = rel.substr(0, rel.empty() ? 0 : rel.size() - 1);
      if (dir.empty() || zip::NameProblem(dir).empty()) continue;
    }
    std::string_view problem = zip::NameProblem(rel);
    if (!problem.empty()) {
      return CorruptRecord(full_name,
                           "unsafe record name (" + std::string(problem) + ")");
    }
    r.name = std::string(rel);
    if (!catalog_->index.emplace(r.name, records.size()).second) {
      return CorruptRecord(full_name, "duplicate record name");
    }
    records.push_back(std::move(r));
  }
  // Records must not share bytes: a later header inside an earlier record's
  // data means two names alias the same (possibly hostile) content.
  std::vector<const RecordInfo*> by_offset;
  by_offset.reserve(records.size());
  for (const RecordInfo& r : records) by_offset.push_back(&r);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const RecordInfo* a, const RecordInfo* b) {
              return a->header_offset < b->header_offset;
            });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const RecordInfo* prev = by_offset[i - 1];
    if (by_offset[i]->header_offset <
        prev->data_offset + prev->compressed_size) {
      return CorruptRecord(by_offset[i]->name, "overlaps record " + prev->name);
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<RecordMap>> ZipReader::MapRecords(
    std::string_view prefix) {
  std::string where = "archive " + display_name_;
  if (!writable_) {
    return std::unique_ptr<RecordMap>(std::make_unique<BufferRecordMap>(
        catalog_, std::string(prefix), std::move(where), options_.verify_views,
        data_, owner_));
  }
  uint64_t begin = UINT64_MAX, end = 0;
  for (auto it = catalog_->index.lower_bound(prefix);
       it != catalog_->index.end() && it->first.starts_with(prefix); ++it) {
    const RecordInfo& r = catalog_->records[it->second];
    if (r.method != zip::kMethodStored || r.size == 0) continue;
    begin = std::min(begin, r.data_offset);
    end = std::max(end, r.data_offset + r.size);
  }
  std::shared_ptr<Mapping> mapping;
  uint64_t base = 0;
  if (end > 0) {
    base = begin - begin % static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    HERMETIC_ASSIGN_OR_RETURN(
        mapping, Mapping::Map(display_name_, fd_.get(), end - base, base));
  }
  return std::unique_ptr<RecordMap>(std::make_unique<FileRecordMap>(
      catalog_, std::string(prefix), std::move(where), options_.verify_views,
      std::move(mapping), base, end));
}

// An unzipped package folder: every regular file below it is a record.
class DirectoryReader : public ArchiveReader {
 public:
  DirectoryReader(std::string root, const ReaderOptions& options)
      : root_(std::move(root)), options_(options) {
    size_t end = root_.find_last_not_of('/');
    std::string trimmed =
        root_.substr(0, end == std::string::npos ? 0 : end + 1);
    size_t slash = trimmed.find_last_of('/');
    prefix_ = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  }

  Status Scan() {
    HERMETIC_RETURN_IF_ERROR(Walk(""));
    std::vector<RecordInfo>& records = catalog_->records;
    std::sort(records.begin(), records.end(),
              [](const RecordInfo& a, const RecordInfo& b) {
                return a.name < b.name;
              });
    for (size_t i = 0; i < records.size(); ++i) {
      catalog_->index[records[i].name] = i;
    }
    return Status::Ok();
  }

  const std::string& prefix() const override { return prefix_; }
  const std::string& display_name() const override { return root_; }
  bool is_directory() const override { return true; }
  const std::vector<RecordInfo>& records() const override {
    return catalog_->records;
  }
  const RecordInfo* Find(std::string_view name) const override {
    return catalog_->Find(name);
  }

  Result<std::unique_ptr<RecordMap>> MapRecords(
      std::string_view prefix) override {
    return std::unique_ptr<RecordMap>(std::make_unique<FolderRecordMap>(
        catalog_, std::string(prefix), root_));
  }

  Result<std::span<uint8_t>> View(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    auto it = maps_.find(r->name);
    if (it == maps_.end()) {
      HERMETIC_ASSIGN_OR_RETURN(std::shared_ptr<Mapping> m,
                                MapFile(root_ + "/" + r->name, r->size));
      it = maps_.emplace(r->name, std::move(m)).first;
    }
    return it->second->span();
  }

  Result<std::vector<uint8_t>> Read(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    return ReadWholeFile(root_ + "/" + r->name);
  }

  Status ReadInto(std::string_view name, std::span<uint8_t> out) override {
    HERMETIC_ASSIGN_OR_RETURN(std::vector<uint8_t> data, Read(name));
    if (data.size() != out.size()) {
      return Status::InvalidArgument(
          "package folder " + root_ + ", record " + std::string(name) +
          " has " + std::to_string(data.size()) + " bytes, not " +
          std::to_string(out.size()));
    }
    std::copy(data.begin(), data.end(), out.begin());
    return Status::Ok();
  }

  // Loose files carry no checksum; existence was checked by the scan.
  Status Verify(std::string_view name) override {
    return Lookup(name).status();
  }
  Status VerifyAll() override { return Status::Ok(); }

 private:
  Result<const RecordInfo*> Lookup(std::string_view name) const {
    const RecordInfo* r = Find(name);
    if (r == nullptr) {
      return Status::NotFound("package folder " + root_ + " has no record " +
                              std::string(name));
    }
    return r;
  }

  Status Walk(const std::string& rel) {
    const std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) {
      return Status::IOError("cannot list " + dir + ": " + ErrnoText(errno));
    }
    std::vector<std::string> subdirs;
    Status s;
    while (dirent* e = readdir(d)) {
      std::string_view n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string child =
          rel.empty() ? std::string(n) : rel + "/" + std::string(n);
      struct stat st;
      // Follows symlinks to files but never into linked directories, so a
      // link cannot make the walk loop or leave the folder's tree.
      if (stat((root_ + "/" + child).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        struct stat lst;
        if (lstat((root_ + "/" + child).c_str(), &lst) == 0 &&
            S_ISDIR(lst.st_mode)) {
          subdirs.push_back(std::move(child));
        }
      } else if (S_ISREG(st.st_mode)) {
        if (catalog_->records.size() >= options_.max_records) {
          s = Status::Corrupt("package folder " + root_ +
                              ": too many records (limit " +
                              std::to_string(options_.max_records) + ")");
          break;
        }
        RecordInfo r;
        r.name = std::move(child);
        r.size = r.compressed_size = static_cast<uint64_t>(st.st_size);
        catalog_->records.push_back(std::move(r));
      }
    }
    closedir(d);
    HERMETIC_RETURN_IF_ERROR(s);
    for (const std::string& sub : subdirs) HERMETIC_RETURN_IF_ERROR(Walk(sub));
    return Status::Ok();
  }

  std::string root_;
  ReaderOptions options_;
  std::string prefix_;
  std::shared_ptr<Catalog> catalog_ = std::make_shared<Catalog>();
  std::map<std::string, std::shared_ptr<Mapping>> maps_;
};

}  // namespace

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::OpenPath(
    const std::string& path, const ReaderOptions& options) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("no such archive: " + path);
    return Status::IOError("cannot open " + path + ": " + ErrnoText(err));
  }
  if (S_ISDIR(st.st_mode)) {
    auto reader = std::make_unique<DirectoryReader>(path, options);
    HERMETIC_RETURN_IF_ERROR(reader->Scan());
    return std::unique_ptr<ArchiveReader>(std::move(reader));
  }
  // Opening a FIFO would block; devices cannot be mapped meaningfully.
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path + " is neither a file nor a directory");
  }
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Status::IOError("cannot open " + path + ": " + ErrnoText(errno));
  }
  if (fstat(fd.get(), &st) != 0) {
    return Status::IOError("cannot stat " + path + ": " + ErrnoText(errno));
  }
  HERMETIC_ASSIGN_OR_RETURN(
      std::shared_ptr<Mapping> m,
      Mapping::Map(path, fd.get(), static_cast<uint64_t>(st.st_size)));
  std::span<const uint8_t> bytes = m->span();
  auto reader = std::make_unique<ZipReader>(bytes, std::move(m), fd.release(),
                                            path, options);
  HERMETIC_RETURN_IF_ERROR(reader->Parse());
  return std::unique_ptr<ArchiveReader>(std::move(reader));
}

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::OpenBuffer(
    std::span<const uint8_t> data, std::shared_ptr<const void> owner,
    std::string display_name, const ReaderOptions& options) {
  auto reader = std::make_unique<ZipReader>(data, std::move(owner), /*fd=*/-1,
                                            std::move(display_name), options);
  HERMETIC_RETURN_IF_ERROR(reader->Parse());
  return std::unique_ptr<ArchiveReader>(std::move(reader));
}

}  // namespace hermetic
