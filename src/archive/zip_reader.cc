#include "zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "catalog.h"
#include "record_map.h"
#include "zip_format.h"

namespace hermetic {
namespace {

using zip::Get16;
using zip::Get32;
using zip::Get64;

// Deflate cannot expand input by more than about 1032:1; a declared size
// beyond this bound is a lie we refuse before allocating for it.
constexpr uint64_t kMaxDeflateRatio = 1032;

// One central directory entry while the archive is parsed: where its name
// lies in the central directory bytes and what the local header must match.
struct CentralEntry {
  uint64_t header_offset = 0;
  uint64_t data_offset = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint32_t crc32 = 0;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint64_t name_pos = 0;  // in the central directory bytes
  uint16_t name_len = 0;
  size_t record = kNoRecord;  // index into the catalog, or a directory entry
  static constexpr size_t kNoRecord = SIZE_MAX;
};

// The extra blocks of one header that the reader interprets.
struct ExtraFields {
  std::span<const uint8_t> zip64;
  bool has_zip64 = false;
};

// Flag bits whose meaning a reader must agree on between the central entry
// and the local header: encryption (0, 6, 13), data descriptor (3), patched
// data (5), UTF-8 names (11).
constexpr uint16_t kFlagsThatMatter =
    0x0001 | 0x0008 | 0x0020 | 0x0040 | 0x0800 | 0x2000;
constexpr uint16_t kFlagsEncrypted = 0x0001 | 0x0040 | 0x2000;
constexpr uint16_t kFlagPatched = 0x0020;
constexpr uint16_t kFlagUtf8 = 0x0800;
constexpr uint16_t kUnicodePathExtraId = 0x7075;
// Compressed bytes read per inflate step.
constexpr size_t kInflateInput = size_t{256} << 10;
// Bytes read past a local header's name in the same pread, so that the
// extra fields of hermetic's and torch's headers come with it.
constexpr uint64_t kHeaderSlack = 128;
// torch's reader copies names into a 512-byte buffer (miniz's
// MZ_ZIP_MAX_ARCHIVE_FILENAME_SIZE), cutting longer ones.
constexpr uint64_t kMaxFullName = 511;
// zipfile refuses entries needing a later version (its MAX_EXTRACT_VERSION).
constexpr uint16_t kMaxVersionNeeded = 63;
constexpr uint32_t kDosDirectoryAttribute = 0x10;
// Writers use two or three; more is refused rather than searched.
constexpr size_t kMaxExtraBlocks = 16;

std::string Hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

class ZipReader : public ArchiveReader {
 public:
  // A valid `fd` is the mapped file. Every read but a zero-copy view goes
  // through pread: a file that shrinks under the reader then gives a short
  // read (an error) where touching the mapping would raise SIGBUS, and the
  // mapping stays unpopulated until someone asks for a view.
  ZipReader(std::span<const uint8_t> data, std::shared_ptr<const void> owner,
            Fd fd, std::string display_name, const ReaderOptions& options)
      : data_(data),
        owner_(std::move(owner)),
        fd_(std::move(fd)),
        writable_(fd_.valid()),
        display_name_(std::move(display_name)),
        where_("archive " + display_name_),
        options_(options) {}

  Status Parse() {
    return GuardAllocation(
        [&] { return ParseUnguarded(); },
        [&] {
          return Status::ResourceExhausted(
              where_ + ": out of memory for the central directory");
        });
  }

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
      return Status::Unsupported(where_ + ": record " + EscapeName(r->name) +
                                 " is compressed; it has no zero-copy view");
    }
    std::span<const uint8_t> stored = data_.subspan(r->data_offset, r->size);
    if (options_.verify_views) {
      HERMETIC_RETURN_IF_ERROR(CheckCrc(where_, *r, Crc32(0, stored)));
    }
    if (writable_) {
      // The mapping is MAP_PRIVATE|PROT_WRITE: writes stay in this process.
      return std::span<uint8_t>(const_cast<uint8_t*>(stored.data()),
                                stored.size());
    }
    // A caller's buffer must not change under it: hand out a private copy
    // that lives as long as the reader.
    return GuardAllocation(
        [&]() -> Result<std::span<uint8_t>> {
          auto it = copies_.find(r->name);
          if (it == copies_.end()) {
            it = copies_
                     .emplace(r->name, std::vector<uint8_t>(stored.begin(),
                                                            stored.end()))
                     .first;
          }
          return std::span<uint8_t>(it->second);
        },
        [&] { return OutOfMemory(*r); });
  }

  Result<std::vector<uint8_t>> Read(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    HERMETIC_RETURN_IF_ERROR(CheckInflatedSize(*r));
    return GuardAllocation(
        [&]() -> Result<std::vector<uint8_t>> {
          std::vector<uint8_t> out;
          if (r->method == zip::kMethodStored) {
            // A stored record's size was checked against the file at open.
            out.resize(r->size);
            HERMETIC_RETURN_IF_ERROR(ReadRecordInto(*r, out));
            return out;
          }
          // The declared size is only a claim: memory grows with the bytes that
          // really inflate (Stream stops at the declared size).
          HERMETIC_RETURN_IF_ERROR(StreamRecord(
              *r, options_.verify_reads, [&](std::span<const uint8_t> piece) {
                if (out.size() + piece.size() > out.capacity()) {
                  out.reserve(std::min<uint64_t>(
                      r->size, std::max<uint64_t>(2 * out.capacity(),
                                                  out.size() + piece.size())));
                }
                out.insert(out.end(), piece.begin(), piece.end());
                return Status::Ok();
              }));
          return out;
        },
        [&] { return OutOfMemory(*r); });
  }

  Status ReadInto(std::string_view name, std::span<uint8_t> out) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    if (out.size() != r->size) {
      return Status::InvalidArgument(where_ + ", record " +
                                     EscapeName(r->name) + " has " +
                                     std::to_string(r->size) + " bytes, not " +
                                     std::to_string(out.size()));
    }
    HERMETIC_RETURN_IF_ERROR(CheckInflatedSize(*r));
    return GuardAllocation([&] { return ReadRecordInto(*r, out); },
                           [&] { return OutOfMemory(*r); });
  }

  Status Stream(
      std::string_view name,
      const std::function<Status(std::span<const uint8_t>)>& consume) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    return GuardAllocation(
        [&] { return StreamRecord(*r, options_.verify_reads, consume); },
        [&] { return OutOfMemory(*r); });
  }

  Status Verify(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    return VerifyRecord(*r);
  }

  Status VerifyAll() override {
    for (const RecordInfo& r : catalog_->records) {
      HERMETIC_RETURN_IF_ERROR(VerifyRecord(r));
    }
    return Status::Ok();
  }

 private:
  Status Corrupt(std::string_view what) const {
    return Status::Corrupt(where_ + ": " + std::string(what));
  }
  // `full_name` is the raw name as stored (escaped here).
  Status CorruptRecord(std::string_view full_name,
                       std::string_view what) const {
    return Status::Corrupt(where_ + ", record " + EscapeName(full_name) + ": " +
                           std::string(what));
  }
  Status OutOfMemory(const RecordInfo& r) const {
    return Status::ResourceExhausted(where_ + ", record " + EscapeName(r.name) +
                                     ": out of memory while reading it");
  }

  Result<const RecordInfo*> Lookup(std::string_view name) const {
    const RecordInfo* r = Find(name);
    if (r == nullptr) {
      return Status::NotFound(where_ + " has no record " + EscapeName(name));
    }
    return r;
  }

  // One deflated record is held in memory only up to the limit; its
  // declared size says how much it would need, and lies are caught by
  // Stream, which never inflates past it.
  Status CheckInflatedSize(const RecordInfo& r) const {
    if (r.method != zip::kMethodStored && r.size > options_.max_inflated_size) {
      return Status::ResourceExhausted(
          where_ + ", record " + EscapeName(r.name) + ": inflated size " +
          std::to_string(r.size) + " exceeds the limit of " +
          std::to_string(options_.max_inflated_size) +
          " bytes for one record held in memory (ReaderOptions::"
          "max_inflated_size); stream it instead");
    }
    return Status::Ok();
  }

  // Copies the file bytes at `offset` (inside the file as it was opened)
  // into `out`; `record` (may be empty) names what they belong to.
  Status ReadAt(uint64_t offset, std::span<uint8_t> out,
                std::string_view record) const {
    if (out.empty()) return Status::Ok();  // memcpy forbids null pointers
    if (!fd_.valid()) {
      std::memcpy(out.data(), data_.data() + offset, out.size());
      return Status::Ok();
    }
    std::string what = where_;
    if (!record.empty()) what += ", record " + EscapeName(record);
    HERMETIC_ASSIGN_OR_RETURN(
        size_t got, ReadFullyAt(fd_, offset, out, what + ": read failed"));
    if (got < out.size()) {
      return Status::IOError(what +
                             ": file shrank while being read (nothing at "
                             "offset " +
                             std::to_string(offset + got) + ")");
    }
    return Status::Ok();
  }

  // `length` file bytes at `offset`: the caller's buffer itself, or a copy
  // in `storage` for a file.
  Result<std::span<const uint8_t>> Fetch(uint64_t offset, uint64_t length,
                                         std::vector<uint8_t>* storage,
                                         std::string_view record) const {
    if (!fd_.valid()) return data_.subspan(offset, length);
    storage->resize(length);
    HERMETIC_RETURN_IF_ERROR(ReadAt(offset, *storage, record));
    return std::span<const uint8_t>(*storage);
  }

  // The record's bytes into `out` (exactly r.size bytes), inflated if needed
  // and CRC-checked when the options ask for it.
  Status ReadRecordInto(const RecordInfo& r, std::span<uint8_t> out) const {
    if (r.method == zip::kMethodStored) {
      HERMETIC_RETURN_IF_ERROR(ReadAt(r.data_offset, out, r.name));
      if (options_.verify_reads) return CheckCrc(where_, r, Crc32(0, out));
      return Status::Ok();
    }
    uint64_t filled = 0;
    return StreamRecord(
        r, options_.verify_reads, [&](std::span<const uint8_t> piece) {
          std::memcpy(out.data() + filled, piece.data(), piece.size());
          filled += piece.size();
          return Status::Ok();
        });
  }

  Status VerifyRecord(const RecordInfo& r) const {
    return GuardAllocation(
        [&] {
          return StreamRecord(
              r, /*check_crc=*/true,
              [](std::span<const uint8_t>) { return Status::Ok(); });
        },
        [&] { return OutOfMemory(r); });
  }

  // Hands the record's bytes to `consume` in pieces of at most kMaxStreamPiece
  // bytes, never more than the declared size in total; memory stays bounded
  // whatever the record's size.
  Status StreamRecord(
      const RecordInfo& r, bool check_crc,
      const std::function<Status(std::span<const uint8_t>)>& consume) const;
  Status StreamStored(
      const RecordInfo& r, uint32_t* crc,
      const std::function<Status(std::span<const uint8_t>)>& consume) const;
  Status StreamDeflated(
      const RecordInfo& r, uint32_t* crc,
      const std::function<Status(std::span<const uint8_t>)>& consume) const;

  Status ParseUnguarded();
  Status FindEnd(uint64_t* cd_offset, uint64_t* cd_size, uint64_t* count);
  Status ParseEntry(std::span<const uint8_t> cd, uint64_t* pos,
                    CentralEntry* e) const;
  Status ParseExtra(std::span<const uint8_t> extra, std::string_view full_name,
                    ExtraFields* out) const;
  Status CheckName(std::string_view full_name, uint16_t flags) const;
  Status CheckLocalHeader(std::string_view full_name, CentralEntry* e,
                          uint64_t cd_offset);
  Status CheckDescriptor(std::string_view full_name, const CentralEntry& e,
                         uint64_t next, uint64_t* end);
  Result<const uint8_t*> HeaderBytes(uint64_t offset, uint64_t max_length,
                                     std::string_view record);

  std::span<const uint8_t> data_;
  std::shared_ptr<const void> owner_;
  Fd fd_;
  bool writable_;
  std::string display_name_;
  std::string where_;  // "archive <display name>"
  ReaderOptions options_;
  std::string prefix_;
  std::shared_ptr<Catalog> catalog_ = std::make_shared<Catalog>();
  std::unordered_map<std::string, std::vector<uint8_t>> copies_;
  std::vector<uint8_t> tail_;     // the file's last bytes, while parsing
  std::vector<uint8_t> scratch_;  // file bytes from window_offset_ on
  uint64_t window_offset_ = 0;
};

Status ZipReader::StreamRecord(
    const RecordInfo& r, bool check_crc,
    const std::function<Status(std::span<const uint8_t>)>& consume) const {
  uint32_t crc = 0;
  HERMETIC_RETURN_IF_ERROR(r.method == zip::kMethodStored
                               ? StreamStored(r, &crc, consume)
                               : StreamDeflated(r, &crc, consume));
  if (check_crc) return CheckCrc(where_, r, crc);
  return Status::Ok();
}

Status ZipReader::StreamStored(
    const RecordInfo& r, uint32_t* crc,
    const std::function<Status(std::span<const uint8_t>)>& consume) const {
  std::vector<uint8_t> buffer;
  for (uint64_t done = 0; done < r.size;) {
    const uint64_t n = std::min<uint64_t>(kMaxStreamPiece, r.size - done);
    HERMETIC_ASSIGN_OR_RETURN(std::span<const uint8_t> piece,
                              Fetch(r.data_offset + done, n, &buffer, r.name));
    *crc = Crc32(*crc, piece);
    HERMETIC_RETURN_IF_ERROR(consume(piece));
    done += n;
  }
  return Status::Ok();
}

Status ZipReader::StreamDeflated(
    const RecordInfo& r, uint32_t* crc,
    const std::function<Status(std::span<const uint8_t>)>& consume) const {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return OutOfMemory(r);
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&z};
  std::vector<uint8_t> input;
  std::vector<uint8_t> output(
      std::min<uint64_t>(kMaxStreamPiece, r.size + 1));  // +1: see overrun
  uint64_t consumed = 0;  // compressed bytes handed to zlib
  uint64_t produced = 0;  // inflated bytes handed to `consume`
  for (;;) {
    if (z.avail_in == 0 && consumed < r.compressed_size) {
      const uint64_t n =
          std::min<uint64_t>(kInflateInput, r.compressed_size - consumed);
      HERMETIC_ASSIGN_OR_RETURN(
          std::span<const uint8_t> chunk,
          Fetch(r.data_offset + consumed, n, &input, r.name));
      z.next_in = const_cast<Bytef*>(chunk.data());
      z.avail_in = static_cast<uInt>(chunk.size());
      consumed += n;
    }
    z.next_out = output.data();
    z.avail_out = static_cast<uInt>(output.size());
    const int rc = inflate(&z, Z_NO_FLUSH);
    const size_t got = output.size() - z.avail_out;
    if (got > r.size - produced) {
      return CorruptRecord(
          r.name, "inflates past its declared size " + std::to_string(r.size));
    }
    if (got > 0) {
      std::span<const uint8_t> piece(output.data(), got);
      *crc = Crc32(*crc, piece);
      HERMETIC_RETURN_IF_ERROR(consume(piece));
      produced += got;
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in != 0 || consumed != r.compressed_size) {
        return CorruptRecord(
            r.name,
            "deflate data ends " +
                std::to_string(z.avail_in + r.compressed_size - consumed) +
                " bytes before its compressed size");
      }
      break;
    }
    if (rc == Z_MEM_ERROR) return OutOfMemory(r);
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && consumed == r.compressed_size) {
      return CorruptRecord(r.name, "deflate data is truncated");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return CorruptRecord(r.name, "invalid deflate data");
    }
  }
  if (produced != r.size) {
    return CorruptRecord(r.name, "inflates to " + std::to_string(produced) +
                                     " bytes, declared " +
                                     std::to_string(r.size));
  }
  return Status::Ok();
}

Status ZipReader::FindEnd(uint64_t* cd_offset, uint64_t* cd_size,
                          uint64_t* count) {
  const uint64_t n = data_.size();
  if (n < zip::kEndSize) {
    return Corrupt("too short to be a zip archive (" + std::to_string(n) +
                   " bytes)");
  }
  // Readers search the end record in the last 64 KiB and differ in which
  // signature they take: zipfile and miniz the last, others the last (or
  // the first) whose comment fits or runs exactly to the end of the file.
  // The last signature must therefore be the end record, with its comment
  // running exactly to the end of the file (checked below), and no earlier
  // one may look like an end record that does too. Other earlier ones (a
  // zip stored as a record, a CRC that spells the signature) are data.
  const uint64_t window = zip::kEndSize + zip::kMaxCommentSize + 1;
  const uint64_t lowest = n > window ? n - window : 0;
  const uint64_t tail_start =
      lowest > zip::kZip64EndSize + zip::kZip64LocatorSize
          ? lowest - zip::kZip64EndSize - zip::kZip64LocatorSize
          : 0;
  HERMETIC_ASSIGN_OR_RETURN(
      std::span<const uint8_t> tail,
      Fetch(tail_start, n - tail_start, &tail_, /*record=*/{}));
  auto at = [&](uint64_t offset) { return &tail[offset - tail_start]; };
  const std::string_view searched(reinterpret_cast<const char*>(at(lowest)),
                                  n - lowest);
  constexpr std::string_view kSig("PK\x05\x06", 4);
  const size_t last = searched.rfind(kSig);
  if (last == std::string_view::npos) {
    return Corrupt("end of central directory not found");
  }
  const uint64_t end = lowest + last;
  if (n - end < zip::kEndSize) {
    return Corrupt("end of central directory is truncated");
  }
  const uint8_t* e = at(end);
  if (end + zip::kEndSize + Get16(e + 20) != n) {
    return Corrupt("the end record's comment (" +
                   std::to_string(Get16(e + 20)) +
                   " bytes) does not end at the end of the file (" +
                   std::to_string(n - end - zip::kEndSize) +
                   " bytes follow the end record); a signature in a comment "
                   "or after the end record is refused");
  }
  for (size_t p = searched.find(kSig); p < last;
       p = searched.find(kSig, p + 1)) {
    const uint64_t other = lowest + p;
    if (n - other >= zip::kEndSize &&
        other + zip::kEndSize + Get16(at(other) + 20) == n) {
      return Corrupt(
          "two end-of-central-directory records (at offsets " +
          std::to_string(other) + " and " + std::to_string(end) +
          ") whose comments reach the end of the file; readers could "
          "disagree on which one ends the archive");
    }
  }
  if (Get16(e + 4) != 0 || Get16(e + 6) != 0) {
    return Status::Unsupported(where_ + " spans several disks");
  }
  if (Get16(e + 8) != Get16(e + 10)) {
    return Corrupt("end record counts " + std::to_string(Get16(e + 8)) +
                   " entries on this disk but " +
                   std::to_string(Get16(e + 10)) + " in total");
  }
  *count = Get16(e + 10);
  *cd_size = Get32(e + 12);
  *cd_offset = Get32(e + 16);
  uint64_t cd_limit = end;
  const uint64_t loc =
      end >= zip::kZip64LocatorSize ? end - zip::kZip64LocatorSize : UINT64_MAX;
  if (loc != UINT64_MAX && Get32(at(loc)) == zip::kZip64LocatorSig) {
    // zipfile reads the zip64 end record just before the locator, miniz
    // where the locator points: both places must be the same.
    const uint8_t* l = at(loc);
    if (Get32(l + 4) != 0 || Get32(l + 16) != 1) {
      return Status::Unsupported(where_ + " spans several disks");
    }
    const uint64_t z = Get64(l + 8);
    if (loc < zip::kZip64EndSize || z != loc - zip::kZip64EndSize) {
      return Corrupt("zip64 end record out of range (the locator points to " +
                     std::to_string(z) + ", it must end at the locator)");
    }
    const uint8_t* z64 = at(z);
    if (Get32(z64) != zip::kZip64EndSig) {
      return Corrupt("bad zip64 end record signature");
    }
    if (Get64(z64 + 4) != zip::kZip64EndSize - 12) {
      return Corrupt("zip64 end record declares " +
                     std::to_string(Get64(z64 + 4)) +
                     " bytes; extensible data is not accepted");
    }
    if (Get32(z64 + 16) != 0 || Get32(z64 + 20) != 0) {
      return Status::Unsupported(where_ + " spans several disks");
    }
    if (Get64(z64 + 24) != Get64(z64 + 32)) {
      return Corrupt("zip64 end record counts " +
                     std::to_string(Get64(z64 + 24)) +
                     " entries on this disk but " +
                     std::to_string(Get64(z64 + 32)) + " in total");
    }
    const uint64_t count64 = Get64(z64 + 32);
    const uint64_t size64 = Get64(z64 + 40);
    const uint64_t offset64 = Get64(z64 + 48);
    if ((*count != zip::kZip64Marker16 && *count != count64) ||
        (*cd_size != zip::kZip64Marker32 && *cd_size != size64) ||
        (*cd_offset != zip::kZip64Marker32 && *cd_offset != offset64)) {
      return Corrupt(
          "the end record and the zip64 end record disagree on the entry "
          "count, central directory size or offset");
    }
    *count = count64;
    *cd_size = size64;
    *cd_offset = offset64;
    cd_limit = z;
  } else if (*count == zip::kZip64Marker16 || *cd_size == zip::kZip64Marker32 ||
             *cd_offset == zip::kZip64Marker32) {
    return Corrupt("end record defers to a missing zip64 end record");
  }
  // zipfile locates the directory from where it ends, miniz from its
  // offset: they agree only when it ends exactly at the end record.
  if (*cd_offset > cd_limit || *cd_size != cd_limit - *cd_offset) {
    return Corrupt("central directory (offset " + std::to_string(*cd_offset) +
                   ", size " + std::to_string(*cd_size) +
                   ") lies outside the archive or does not end at the end "
                   "record (offset " +
                   std::to_string(cd_limit) + ")");
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

Status ZipReader::ParseExtra(std::span<const uint8_t> extra,
                             std::string_view full_name,
                             ExtraFields* out) const {
  uint16_t ids[kMaxExtraBlocks];
  size_t n_ids = 0;
  while (!extra.empty()) {
    if (extra.size() < 4) {
      return CorruptRecord(full_name, "extra field ends with " +
                                          std::to_string(extra.size()) +
                                          " stray bytes");
    }
    const uint16_t id = Get16(extra.data());
    const uint16_t len = Get16(extra.data() + 2);
    if (len > extra.size() - 4) {
      return CorruptRecord(
          full_name, "extra block " + Hex16(id) + " runs past the extra field");
    }
    if (id == kUnicodePathExtraId) {
      return CorruptRecord(full_name,
                           "carries an Info-ZIP Unicode path extra block "
                           "(0x7075), which readers apply differently");
    }
    if (std::find(ids, ids + n_ids, id) != ids + n_ids) {
      return CorruptRecord(full_name, "two extra blocks with id " + Hex16(id));
    }
    if (n_ids == kMaxExtraBlocks) {
      return CorruptRecord(
          full_name,
          "more than " + std::to_string(kMaxExtraBlocks) + " extra blocks");
    }
    ids[n_ids++] = id;
    if (id == zip::kZip64ExtraId) {
      out->zip64 = extra.subspan(4, len);
      out->has_zip64 = true;
    }
    extra = extra.subspan(4 + len);
  }
  return Status::Ok();
}

// Values saturated at 0xFFFFFFFF continue in the zip64 block, in the order
// of `fields` (null entries are not saturated).
bool ApplyZip64(std::span<const uint8_t> block,
                std::initializer_list<uint64_t*> fields) {
  for (uint64_t* field : fields) {
    if (field == nullptr) continue;
    if (block.size() < 8) return false;
    *field = Get64(block.data());
    block = block.subspan(8);
  }
  return true;
}

Status ZipReader::CheckName(std::string_view full_name, uint16_t flags) const {
  if (!zip::IsValidUtf8(full_name)) {
    return CorruptRecord(full_name, "name is not valid UTF-8");
  }
  if (!(flags & kFlagUtf8) &&
      std::any_of(full_name.begin(), full_name.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x80;
      })) {
    return CorruptRecord(full_name,
                         "non-ASCII name without the UTF-8 flag (bit 11); "
                         "readers would decode it as cp437");
  }
  return Status::Ok();
}

Status ZipReader::ParseEntry(std::span<const uint8_t> cd, uint64_t* pos,
                             CentralEntry* e) const {
  const std::string where =
      "central directory entry at offset " + std::to_string(*pos);
  if (cd.size() - *pos < zip::kCentralHeaderSize) {
    return Corrupt(where + " is truncated");
  }
  const uint8_t* h = &cd[*pos];
  if (Get32(h) != zip::kCentralHeaderSig) {
    return Corrupt(where + " has a bad signature");
  }
  e->flags = Get16(h + 8);
  e->method = Get16(h + 10);
  e->crc32 = Get32(h + 16);
  e->compressed_size = Get32(h + 20);
  e->size = Get32(h + 24);
  const uint64_t name_len = Get16(h + 28);
  const uint64_t extra_len = Get16(h + 30);
  const uint64_t comment_len = Get16(h + 32);
  const uint16_t disk = Get16(h + 34);
  const uint32_t external_attributes = Get32(h + 38);
  e->header_offset = Get32(h + 42);
  const uint64_t var = name_len + extra_len + comment_len;
  if (cd.size() - *pos - zip::kCentralHeaderSize < var) {
    return Corrupt(where + " runs past the central directory");
  }
  e->name_pos = *pos + zip::kCentralHeaderSize;
  e->name_len = static_cast<uint16_t>(name_len);
  std::string_view full_name(reinterpret_cast<const char*>(&cd[e->name_pos]),
                             name_len);
  const uint64_t max_name = std::min(options_.max_name_length, kMaxFullName);
  if (name_len > max_name) {
    return Corrupt("record name longer than " + std::to_string(max_name) +
                   " bytes: " + EscapeName(full_name.substr(0, 64)) + "...");
  }
  HERMETIC_RETURN_IF_ERROR(CheckName(full_name, e->flags));
  ExtraFields x;
  HERMETIC_RETURN_IF_ERROR(
      ParseExtra(cd.subspan(e->name_pos + name_len, extra_len), full_name, &x));
  const bool saturated = e->size == zip::kZip64Marker32 ||
                         e->compressed_size == zip::kZip64Marker32 ||
                         e->header_offset == zip::kZip64Marker32;
  if (saturated) {
    if (!x.has_zip64) {
      return CorruptRecord(full_name,
                           "size or offset defers to a missing zip64 extra");
    }
    if (!ApplyZip64(
            x.zip64,
            {e->size == zip::kZip64Marker32 ? &e->size : nullptr,
             e->compressed_size == zip::kZip64Marker32 ? &e->compressed_size
                                                       : nullptr,
             e->header_offset == zip::kZip64Marker32 ? &e->header_offset
                                                     : nullptr})) {
      return CorruptRecord(full_name, "zip64 extra field is too short");
    }
  }
  if (disk != 0) {
    return Status::Unsupported(where_ + ", record " + EscapeName(full_name) +
                               ": on disk " + std::to_string(disk));
  }
  if (Get16(h + 6) > kMaxVersionNeeded) {
    return Status::Unsupported(
        where_ + ", record " + EscapeName(full_name) + ": needs zip version " +
        std::to_string(Get16(h + 6)) + " (zipfile reads up to 63)");
  }
  // miniz takes an entry with the MS-DOS directory attribute for a
  // directory and extracts nothing from it (torch then returns an
  // uninitialised buffer); zipfile reads its data.
  if ((external_attributes & kDosDirectoryAttribute) && !full_name.empty() &&
      full_name.back() != '/') {
    return CorruptRecord(full_name,
                         "a file entry with the MS-DOS directory attribute");
  }
  if (e->flags & kFlagsEncrypted) {
    return Status::Unsupported(where_ + ", record " + EscapeName(full_name) +
                               ": encrypted");
  }
  if (e->flags & kFlagPatched) {
    return Status::Unsupported(where_ + ", record " + EscapeName(full_name) +
                               ": patch data (flag bit 5)");
  }
  if (e->method != zip::kMethodStored && e->method != zip::kMethodDeflated) {
    return Status::Unsupported(where_ + ", record " + EscapeName(full_name) +
                               ": compression method " +
                               std::to_string(e->method));
  }
  *pos += zip::kCentralHeaderSize + var;
  return Status::Ok();
}

Status ZipReader::CheckLocalHeader(std::string_view full_name, CentralEntry* e,
                                   uint64_t cd_offset) {
  const uint64_t off = e->header_offset;
  if (off > cd_offset || cd_offset - off < zip::kLocalHeaderSize) {
    return CorruptRecord(full_name, "local header offset " +
                                        std::to_string(off) +
                                        " is outside the record area");
  }
  const uint64_t room = cd_offset - off;
  HERMETIC_ASSIGN_OR_RETURN(
      const uint8_t* h,
      HeaderBytes(off,
                  std::min(room, zip::kLocalHeaderSize + full_name.size() +
                                     kHeaderSlack),
                  full_name));
  if (Get32(h) != zip::kLocalHeaderSig) {
    return CorruptRecord(full_name, "bad local header signature");
  }
  const uint16_t flags = Get16(h + 6);
  const uint64_t name_len = Get16(h + 26);
  const uint64_t extra_len = Get16(h + 28);
  if (room - zip::kLocalHeaderSize < name_len + extra_len) {
    return CorruptRecord(full_name,
                         "local header runs into the central directory");
  }
  if (name_len != full_name.size()) {
    return CorruptRecord(full_name, "local header name has " +
                                        std::to_string(name_len) + " bytes");
  }
  const uint64_t header_len = zip::kLocalHeaderSize + name_len + extra_len;
  if (header_len > zip::kLocalHeaderSize + full_name.size() + kHeaderSlack) {
    HERMETIC_ASSIGN_OR_RETURN(h, HeaderBytes(off, header_len, full_name));
  }
  std::string_view local_name(
      reinterpret_cast<const char*>(h + zip::kLocalHeaderSize), name_len);
  if (local_name != full_name) {
    return CorruptRecord(full_name, "local header names it '" +
                                        EscapeName(local_name.substr(0, 256)) +
                                        "'");
  }
  if ((flags & kFlagsThatMatter) != (e->flags & kFlagsThatMatter)) {
    return CorruptRecord(full_name, "local header flags " + Hex16(flags) +
                                        " disagree with the central "
                                        "directory's " +
                                        Hex16(e->flags));
  }
  if (Get16(h + 8) != e->method) {
    return CorruptRecord(full_name,
                         "local header and central directory disagree on the "
                         "compression method");
  }
  ExtraFields x;
  HERMETIC_RETURN_IF_ERROR(ParseExtra(
      {h + zip::kLocalHeaderSize + name_len, extra_len}, full_name, &x));
  // Readers take CRC and sizes from the central directory; the local copy
  // must not say otherwise. With a data descriptor (bit 3) it may be zero.
  uint64_t local_crc = Get32(h + 14);
  uint64_t local_comp = Get32(h + 18);
  uint64_t local_size = Get32(h + 22);
  const bool saturated =
      local_comp == zip::kZip64Marker32 || local_size == zip::kZip64Marker32;
  if (saturated &&
      (!x.has_zip64 ||
       !ApplyZip64(
           x.zip64,
           {local_size == zip::kZip64Marker32 ? &local_size : nullptr,
            local_comp == zip::kZip64Marker32 ? &local_comp : nullptr}))) {
    return CorruptRecord(full_name,
                         "local header sizes defer to a missing or short "
                         "zip64 extra");
  }
  const bool deferrable = flags & zip::kFlagDataDescriptor;
  auto agrees = [&](uint64_t local, uint64_t central) {
    return local == central || (deferrable && local == 0);
  };
  if (!agrees(local_crc, e->crc32) || !agrees(local_comp, e->compressed_size) ||
      !agrees(local_size, e->size)) {
    return CorruptRecord(full_name, "local header sizes (" +
                                        std::to_string(local_comp) + ", " +
                                        std::to_string(local_size) +
                                        ") or CRC disagree with "
                                        "the central directory (" +
                                        std::to_string(e->compressed_size) +
                                        ", " + std::to_string(e->size) + ")");
  }
  e->data_offset = off + header_len;
  if (e->compressed_size > cd_offset - e->data_offset) {
    return CorruptRecord(full_name,
                         "declared size " + std::to_string(e->compressed_size) +
                             " runs past the record area (" +
                             std::to_string(cd_offset - e->data_offset) +
                             " bytes left)");
  }
  if (e->method == zip::kMethodStored && e->compressed_size != e->size) {
    return CorruptRecord(full_name, "stored record with compressed size " +
                                        std::to_string(e->compressed_size) +
                                        " != size " + std::to_string(e->size));
  }
  if (e->method == zip::kMethodDeflated &&
      (e->compressed_size == 0 ||
       e->size / kMaxDeflateRatio > e->compressed_size + 1)) {
    return CorruptRecord(full_name, "declared size " + std::to_string(e->size) +
                                        " is impossible for " +
                                        std::to_string(e->compressed_size) +
                                        " deflated bytes");
  }
  return Status::Ok();
}

// The data descriptor of a bit-3 record fills the gap between its data and
// `next` (the next local header or the central directory) exactly: 12, 16
// (signed), 20 or 24 (signed, zip64) bytes, agreeing with the central entry.
Status ZipReader::CheckDescriptor(std::string_view full_name,
                                  const CentralEntry& e, uint64_t next,
                                  uint64_t* end) {
  const uint64_t data_end = e.data_offset + e.compressed_size;
  const uint64_t gap = next - data_end;  // the caller checked next >= end
  if (gap != 12 && gap != 16 && gap != 20 && gap != 24) {
    return CorruptRecord(full_name,
                         std::to_string(gap) +
                             " bytes follow the data where a data descriptor "
                             "(12 to 24 bytes) must be");
  }
  // Read with the next local header and its longest name, so that the next
  // HeaderBytes call finds it in this read.
  HERMETIC_ASSIGN_OR_RETURN(
      const uint8_t* d, HeaderBytes(data_end,
                                    std::min(next + zip::kLocalHeaderSize +
                                                 kMaxFullName + kHeaderSlack,
                                             data_.size()) -
                                        data_end,
                                    full_name));
  const bool signed_form = gap == 16 || gap == 24;
  if (signed_form && Get32(d) != zip::kDataDescriptorSig) {
    return CorruptRecord(full_name, "bad data descriptor signature");
  }
  const uint8_t* p = d + (signed_form ? 4 : 0);
  const bool wide = gap == 20 || gap == 24;
  const uint64_t comp = wide ? Get64(p + 4) : Get32(p + 4);
  const uint64_t size = wide ? Get64(p + 12) : Get32(p + 8);
  if (Get32(p) != e.crc32 || comp != e.compressed_size || size != e.size) {
    return CorruptRecord(full_name,
                         "data descriptor disagrees with the central "
                         "directory on CRC or sizes");
  }
  *end = next;
  return Status::Ok();
}

// A local header plus the longest name it may carry, `max_length` bytes at
// most (bounds-checked by the caller). Where headers lie close together
// (records of the small tensors of a state_dict) they are read through a
// window of the file, dozens per pread, where one pread each dominated
// opening such archives; far apart ones are read alone, so that archives
// of large records do not copy a window per header.
Result<const uint8_t*> ZipReader::HeaderBytes(uint64_t offset,
                                              uint64_t max_length,
                                              std::string_view record) {
  if (!fd_.valid()) return &data_[offset];
  if (offset >= window_offset_ &&
      offset - window_offset_ + max_length <= scratch_.size()) {
    return scratch_.data() + (offset - window_offset_);
  }
  constexpr uint64_t kWindow = 16 << 10;
  const bool close = !scratch_.empty() && offset >= window_offset_ &&
                     offset - window_offset_ < 2 * kWindow;
  const uint64_t length =
      std::min(close ? std::max(max_length, kWindow) : max_length,
               data_.size() - offset);
  scratch_.resize(length);
  window_offset_ = offset;
  HERMETIC_RETURN_IF_ERROR(ReadAt(offset, scratch_, record));
  return scratch_.data();
}

Status ZipReader::ParseUnguarded() {
  uint64_t cd_offset = 0, cd_size = 0, count = 0;
  HERMETIC_RETURN_IF_ERROR(FindEnd(&cd_offset, &cd_size, &count));
  // Small archives have their central directory in the tail already read.
  std::vector<uint8_t> cd_storage;
  std::span<const uint8_t> cd;
  const uint64_t tail_start = data_.size() - tail_.size();
  if (fd_.valid() && cd_offset >= tail_start) {
    cd = std::span<const uint8_t>(tail_).subspan(cd_offset - tail_start,
                                                 cd_size);
  } else {
    HERMETIC_ASSIGN_OR_RETURN(cd, Fetch(cd_offset, cd_size, &cd_storage, {}));
  }
  std::vector<CentralEntry> entries(count);
  uint64_t pos = 0;
  for (CentralEntry& e : entries) {
    HERMETIC_RETURN_IF_ERROR(ParseEntry(cd, &pos, &e));
  }
  // zipfile reads entries until the directory's size is used up, miniz
  // reads the declared count: both must describe the same entries.
  if (pos != cd_size) {
    return Corrupt("central directory holds " + std::to_string(cd_size - pos) +
                   " bytes beyond the " + std::to_string(count) +
                   " entries the end record declares");
  }
  if (count == 0) {
    // torch's reader takes the top-level folder from the first entry.
    return Corrupt("no records (an archive needs a top-level folder)");
  }
  auto name_of = [&](const CentralEntry& e) {
    return std::string_view(reinterpret_cast<const char*>(&cd[e.name_pos]),
                            e.name_len);
  };
  std::vector<RecordInfo>& records = catalog_->records;
  records.reserve(count);
  for (size_t i = 0; i < entries.size(); ++i) {
    CentralEntry& e = entries[i];
    std::string_view full_name = name_of(e);
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
                               EscapeName(prefix_) + "/");
    }
    std::string_view rel = full_name.substr(prefix_.size() + 1);
    // Directory entries made by generic zip tools carry no data.
    if (rel.empty() || rel.back() == '/') {
      std::string_view dir = rel.substr(0, rel.empty() ? 0 : rel.size() - 1);
      if (!dir.empty() && !zip::NameProblem(dir).empty()) {
        return CorruptRecord(full_name, "unsafe directory name (" +
                                            std::string(zip::NameProblem(dir)) +
                                            ")");
      }
      // Empty for every reader: nothing declared, and no compressed bytes
      // beyond an empty deflate stream (2 bytes cannot encode a literal).
      if (e.size != 0 || e.crc32 != 0 ||
          e.compressed_size > (e.method == zip::kMethodStored ? 0 : 2)) {
        return CorruptRecord(full_name, "directory entry has data");
      }
      continue;
    }
    std::string_view problem = zip::NameProblem(rel);
    if (!problem.empty()) {
      return CorruptRecord(full_name,
                           "unsafe record name (" + std::string(problem) + ")");
    }
    if (!catalog_->index.emplace(rel, records.size()).second) {
      return CorruptRecord(full_name, "duplicate record name");
    }
    RecordInfo r;
    r.name = std::string(rel);
    e.record = records.size();
    records.push_back(std::move(r));
  }
  // torch's reader (miniz) looks names up ignoring ASCII case: a name with
  // capitals must not fold onto another. Most names have none, so only
  // those are folded.
  std::map<std::string, size_t, std::less<>> folded;
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string& name = records[i].name;
    auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
    if (std::none_of(name.begin(), name.end(), upper)) continue;
    std::string lower = name;
    for (char& c : lower) {
      if (upper(c)) c = static_cast<char>(c - 'A' + 'a');
    }
    const RecordInfo* plain = catalog_->Find(lower);
    auto [it, added] = folded.emplace(std::move(lower), i);
    if (plain != nullptr || !added) {
      const std::string& other =
          plain != nullptr ? plain->name : records[it->second].name;
      return CorruptRecord(
          prefix_ + "/" + name,
          "differs from record " + EscapeName(other) + " only in letter case");
    }
  }
  // Records must tile the file from offset 0 to the central directory:
  // bytes no record owns could be read as data by a reader that scans local
  // headers, and overlapping records alias the same (possibly hostile)
  // content under two names.
  std::vector<CentralEntry*> by_offset;
  by_offset.reserve(entries.size());
  for (CentralEntry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const CentralEntry* a, const CentralEntry* b) {
              return a->header_offset < b->header_offset;
            });
  uint64_t expected = 0;
  const CentralEntry* prev = nullptr;
  for (size_t i = 0; i < by_offset.size(); ++i) {
    CentralEntry& e = *by_offset[i];
    std::string_view full_name = name_of(e);
    if (e.header_offset != expected) {
      if (e.header_offset < expected) {
        return CorruptRecord(full_name,
                             "overlaps record " + EscapeName(name_of(*prev)));
      }
      return CorruptRecord(full_name,
                           std::to_string(e.header_offset - expected) +
                               " bytes at offset " + std::to_string(expected) +
                               " before its local header belong to no record");
    }
    HERMETIC_RETURN_IF_ERROR(CheckLocalHeader(full_name, &e, cd_offset));
    expected = e.data_offset + e.compressed_size;
    if (e.flags & zip::kFlagDataDescriptor) {
      const uint64_t next = i + 1 < by_offset.size()
                                ? by_offset[i + 1]->header_offset
                                : cd_offset;
      if (next < expected) {
        return CorruptRecord(name_of(*by_offset[i + 1]),
                             "overlaps record " + EscapeName(full_name));
      }
      HERMETIC_RETURN_IF_ERROR(CheckDescriptor(full_name, e, next, &expected));
    }
    if (e.record != CentralEntry::kNoRecord) {
      RecordInfo& r = records[e.record];
      r.header_offset = e.header_offset;
      r.data_offset = e.data_offset;
      r.size = e.size;
      r.compressed_size = e.compressed_size;
      r.crc32 = e.crc32;
      r.method = e.method;
    }
    prev = &e;
  }
  if (expected != cd_offset) {
    return Corrupt(std::to_string(cd_offset - expected) + " bytes at offset " +
                   std::to_string(expected) +
                   " before the central directory belong to no record");
  }
  tail_.clear();
  tail_.shrink_to_fit();
  return Status::Ok();
}

Result<std::unique_ptr<RecordMap>> ZipReader::MapRecords(
    std::string_view prefix) {
  std::string where = "archive " + display_name_;
  if (!writable_) {
    return NewBufferRecordMap(catalog_, std::string(prefix), std::move(where),
                              options_.verify_views, data_, owner_);
  }
  uint64_t begin = UINT64_MAX, end = 0;
  for (auto it = catalog_->index.lower_bound(prefix);
       it != catalog_->index.end() && it->first.starts_with(prefix); ++it) {
    const RecordInfo& r = catalog_->records[it->second];
    if (r.method != zip::kMethodStored || r.size == 0) continue;
    begin = std::min(begin, r.data_offset);
    end = std::max(end, r.data_offset + r.size);
  }
  std::shared_ptr<FileMapping> mapping;
  uint64_t base = 0;
  if (end > 0) {
    base = begin - begin % PageSize();
    HERMETIC_ASSIGN_OR_RETURN(
        mapping,
        FileMapping::MapPrivate(fd_, base, end - base,
                                "cannot map " + EscapeName(display_name_)));
  }
  return NewFileRecordMap(catalog_, std::string(prefix), std::move(where),
                          options_.verify_views, std::move(mapping), base, end);
}

}  // namespace

Result<std::unique_ptr<ArchiveReader>> OpenZip(
    std::span<const uint8_t> data, std::shared_ptr<const void> owner, Fd fd,
    std::string display_name, const ReaderOptions& options) {
  auto reader = std::make_unique<ZipReader>(
      data, std::move(owner), std::move(fd), std::move(display_name), options);
  HERMETIC_RETURN_IF_ERROR(reader->Parse());
  return std::unique_ptr<ArchiveReader>(std::move(reader));
}

}  // namespace hermetic
