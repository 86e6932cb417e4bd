#include "zip_directory.h"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

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

class DirectoryParser {
 public:
  DirectoryParser(const ZipSource& source, const ReaderOptions& options,
                  Catalog* catalog)
      : source_(source), options_(options), catalog_(catalog) {}

  Status Parse();
  const std::string& prefix() const { return prefix_; }

 private:
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
  void Prefetch(const std::vector<CentralEntry*>& by_offset,
                uint64_t cd_offset);

  const ZipSource& source_;
  const ReaderOptions& options_;
  Catalog* catalog_;
  std::string prefix_;
  std::vector<uint8_t> tail_;     // the file's last bytes
  std::vector<uint8_t> scratch_;  // file bytes from window_offset_ on
  uint64_t window_offset_ = 0;
  // Header bytes a batched source fetched up front (Prefetch), by offset.
  struct Fetched {
    uint64_t offset;
    std::vector<uint8_t> bytes;
  };
  std::vector<Fetched> prefetched_;
};

Status DirectoryParser::FindEnd(uint64_t* cd_offset, uint64_t* cd_size,
                                uint64_t* count) {
  const uint64_t n = source_.size();
  if (n < zip::kEndSize) {
    return source_.Corrupt("too short to be a zip archive (" +
                           std::to_string(n) + " bytes)");
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
      source_.Fetch(tail_start, n - tail_start, &tail_, /*record=*/{}));
  auto at = [&](uint64_t offset) { return &tail[offset - tail_start]; };
  const std::string_view searched(reinterpret_cast<const char*>(at(lowest)),
                                  n - lowest);
  constexpr std::string_view kSig("PK\x05\x06", 4);
  const size_t last = searched.rfind(kSig);
  if (last == std::string_view::npos) {
    return source_.Corrupt("end of central directory not found");
  }
  const uint64_t end = lowest + last;
  if (n - end < zip::kEndSize) {
    return source_.Corrupt("end of central directory is truncated");
  }
  const uint8_t* e = at(end);
  if (end + zip::kEndSize + Get16(e + 20) != n) {
    return source_.Corrupt(
        "the end record's comment (" + std::to_string(Get16(e + 20)) +
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
      return source_.Corrupt(
          "two end-of-central-directory records (at offsets " +
          std::to_string(other) + " and " + std::to_string(end) +
          ") whose comments reach the end of the file; readers could "
          "disagree on which one ends the archive");
    }
  }
  if (Get16(e + 4) != 0 || Get16(e + 6) != 0) {
    return Status::Unsupported(source_.where() + " spans several disks");
  }
  if (Get16(e + 8) != Get16(e + 10)) {
    return source_.Corrupt("end record counts " + std::to_string(Get16(e + 8)) +
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
      return Status::Unsupported(source_.where() + " spans several disks");
    }
    const uint64_t z = Get64(l + 8);
    if (loc < zip::kZip64EndSize || z != loc - zip::kZip64EndSize) {
      return source_.Corrupt(
          "zip64 end record out of range (the locator points to " +
          std::to_string(z) + ", it must end at the locator)");
    }
    const uint8_t* z64 = at(z);
    if (Get32(z64) != zip::kZip64EndSig) {
      return source_.Corrupt("bad zip64 end record signature");
    }
    if (Get64(z64 + 4) != zip::kZip64EndSize - 12) {
      return source_.Corrupt("zip64 end record declares " +
                             std::to_string(Get64(z64 + 4)) +
                             " bytes; extensible data is not accepted");
    }
    if (Get32(z64 + 16) != 0 || Get32(z64 + 20) != 0) {
      return Status::Unsupported(source_.where() + " spans several disks");
    }
    if (Get64(z64 + 24) != Get64(z64 + 32)) {
      return source_.Corrupt("zip64 end record counts " +
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
      return source_.Corrupt(
          "the end record and the zip64 end record disagree on the entry "
          "count, central directory size or offset");
    }
    *count = count64;
    *cd_size = size64;
    *cd_offset = offset64;
    cd_limit = z;
  } else if (*count == zip::kZip64Marker16 || *cd_size == zip::kZip64Marker32 ||
             *cd_offset == zip::kZip64Marker32) {
    return source_.Corrupt("end record defers to a missing zip64 end record");
  }
  // zipfile locates the directory from where it ends, miniz from its
  // offset: they agree only when it ends exactly at the end record.
  if (*cd_offset > cd_limit || *cd_size != cd_limit - *cd_offset) {
    return source_.Corrupt(
        "central directory (offset " + std::to_string(*cd_offset) + ", size " +
        std::to_string(*cd_size) +
        ") lies outside the archive or does not end at the end "
        "record (offset " +
        std::to_string(cd_limit) + ")");
  }
  if (*count > options_.max_records) {
    return source_.Corrupt("too many records: " + std::to_string(*count) +
                           " (limit " + std::to_string(options_.max_records) +
                           ")");
  }
  if (*count > *cd_size / zip::kCentralHeaderSize) {
    return source_.Corrupt("central directory of " + std::to_string(*cd_size) +
                           " bytes cannot hold " + std::to_string(*count) +
                           " records");
  }
  return Status::Ok();
}

Status DirectoryParser::ParseExtra(std::span<const uint8_t> extra,
                                   std::string_view full_name,
                                   ExtraFields* out) const {
  uint16_t ids[kMaxExtraBlocks];
  size_t n_ids = 0;
  while (!extra.empty()) {
    if (extra.size() < 4) {
      return source_.CorruptRecord(full_name, "extra field ends with " +
                                                  std::to_string(extra.size()) +
                                                  " stray bytes");
    }
    const uint16_t id = Get16(extra.data());
    const uint16_t len = Get16(extra.data() + 2);
    if (len > extra.size() - 4) {
      return source_.CorruptRecord(
          full_name, "extra block " + Hex16(id) + " runs past the extra field");
    }
    if (id == kUnicodePathExtraId) {
      return source_.CorruptRecord(
          full_name,
          "carries an Info-ZIP Unicode path extra block "
          "(0x7075), which readers apply differently");
    }
    if (std::find(ids, ids + n_ids, id) != ids + n_ids) {
      return source_.CorruptRecord(full_name,
                                   "two extra blocks with id " + Hex16(id));
    }
    if (n_ids == kMaxExtraBlocks) {
      return source_.CorruptRecord(
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

Status DirectoryParser::CheckName(std::string_view full_name,
                                  uint16_t flags) const {
  if (!zip::IsValidUtf8(full_name)) {
    return source_.CorruptRecord(full_name, "name is not valid UTF-8");
  }
  if (!(flags & kFlagUtf8) &&
      std::any_of(full_name.begin(), full_name.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x80;
      })) {
    return source_.CorruptRecord(
        full_name,
        "non-ASCII name without the UTF-8 flag (bit 11); "
        "readers would decode it as cp437");
  }
  return Status::Ok();
}

Status DirectoryParser::ParseEntry(std::span<const uint8_t> cd, uint64_t* pos,
                                   CentralEntry* e) const {
  const std::string where =
      "central directory entry at offset " + std::to_string(*pos);
  if (cd.size() - *pos < zip::kCentralHeaderSize) {
    return source_.Corrupt(where + " is truncated");
  }
  const uint8_t* h = &cd[*pos];
  if (Get32(h) != zip::kCentralHeaderSig) {
    return source_.Corrupt(where + " has a bad signature");
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
    return source_.Corrupt(where + " runs past the central directory");
  }
  e->name_pos = *pos + zip::kCentralHeaderSize;
  e->name_len = static_cast<uint16_t>(name_len);
  std::string_view full_name(reinterpret_cast<const char*>(&cd[e->name_pos]),
                             name_len);
  const uint64_t max_name = std::min(options_.max_name_length, kMaxFullName);
  if (name_len > max_name) {
    return source_.Corrupt(
        "record name longer than " + std::to_string(max_name) +
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
      return source_.CorruptRecord(
          full_name, "size or offset defers to a missing zip64 extra");
    }
    if (!ApplyZip64(
            x.zip64,
            {e->size == zip::kZip64Marker32 ? &e->size : nullptr,
             e->compressed_size == zip::kZip64Marker32 ? &e->compressed_size
                                                       : nullptr,
             e->header_offset == zip::kZip64Marker32 ? &e->header_offset
                                                     : nullptr})) {
      return source_.CorruptRecord(full_name, "zip64 extra field is too short");
    }
  }
  if (disk != 0) {
    return Status::Unsupported(source_.where() + ", record " +
                               EscapeName(full_name) + ": on disk " +
                               std::to_string(disk));
  }
  if (Get16(h + 6) > kMaxVersionNeeded) {
    return Status::Unsupported(source_.where() + ", record " +
                               EscapeName(full_name) + ": needs zip version " +
                               std::to_string(Get16(h + 6)) +
                               " (zipfile reads up to 63)");
  }
  // miniz takes an entry with the MS-DOS directory attribute for a
  // directory and extracts nothing from it (torch then returns an
  // uninitialised buffer); zipfile reads its data.
  if ((external_attributes & kDosDirectoryAttribute) && !full_name.empty() &&
      full_name.back() != '/') {
    return source_.CorruptRecord(
        full_name, "a file entry with the MS-DOS directory attribute");
  }
  if (e->flags & kFlagsEncrypted) {
    return Status::Unsupported(source_.where() + ", record " +
                               EscapeName(full_name) + ": encrypted");
  }
  if (e->flags & kFlagPatched) {
    return Status::Unsupported(source_.where() + ", record " +
                               EscapeName(full_name) +
                               ": patch data (flag bit 5)");
  }
  if (e->method != zip::kMethodStored && e->method != zip::kMethodDeflated) {
    return Status::Unsupported(source_.where() + ", record " +
                               EscapeName(full_name) + ": compression method " +
                               std::to_string(e->method));
  }
  *pos += zip::kCentralHeaderSize + var;
  return Status::Ok();
}

Status DirectoryParser::CheckLocalHeader(std::string_view full_name,
                                         CentralEntry* e, uint64_t cd_offset) {
  const uint64_t off = e->header_offset;
  if (off > cd_offset || cd_offset - off < zip::kLocalHeaderSize) {
    return source_.CorruptRecord(full_name, "local header offset " +
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
    return source_.CorruptRecord(full_name, "bad local header signature");
  }
  const uint16_t flags = Get16(h + 6);
  const uint64_t name_len = Get16(h + 26);
  const uint64_t extra_len = Get16(h + 28);
  if (room - zip::kLocalHeaderSize < name_len + extra_len) {
    return source_.CorruptRecord(
        full_name, "local header runs into the central directory");
  }
  if (name_len != full_name.size()) {
    return source_.CorruptRecord(
        full_name,
        "local header name has " + std::to_string(name_len) + " bytes");
  }
  const uint64_t header_len = zip::kLocalHeaderSize + name_len + extra_len;
  if (header_len > zip::kLocalHeaderSize + full_name.size() + kHeaderSlack) {
    HERMETIC_ASSIGN_OR_RETURN(h, HeaderBytes(off, header_len, full_name));
  }
  std::string_view local_name(
      reinterpret_cast<const char*>(h + zip::kLocalHeaderSize), name_len);
  if (local_name != full_name) {
    return source_.CorruptRecord(
        full_name, "local header names it '" +
                       EscapeName(local_name.substr(0, 256)) + "'");
  }
  if ((flags & kFlagsThatMatter) != (e->flags & kFlagsThatMatter)) {
    return source_.CorruptRecord(full_name, "local header flags " +
                                                Hex16(flags) +
                                                " disagree with the central "
                                                "directory's " +
                                                Hex16(e->flags));
  }
  if (Get16(h + 8) != e->method) {
    return source_.CorruptRecord(
        full_name,
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
    return source_.CorruptRecord(
        full_name,
        "local header sizes defer to a missing or short "
        "zip64 extra");
  }
  const bool deferrable = flags & zip::kFlagDataDescriptor;
  auto agrees = [&](uint64_t local, uint64_t central) {
    return local == central || (deferrable && local == 0);
  };
  if (!agrees(local_crc, e->crc32) || !agrees(local_comp, e->compressed_size) ||
      !agrees(local_size, e->size)) {
    return source_.CorruptRecord(
        full_name, "local header sizes (" + std::to_string(local_comp) + ", " +
                       std::to_string(local_size) +
                       ") or CRC disagree with "
                       "the central directory (" +
                       std::to_string(e->compressed_size) + ", " +
                       std::to_string(e->size) + ")");
  }
  e->data_offset = off + header_len;
  if (e->compressed_size > cd_offset - e->data_offset) {
    return source_.CorruptRecord(
        full_name, "declared size " + std::to_string(e->compressed_size) +
                       " runs past the record area (" +
                       std::to_string(cd_offset - e->data_offset) +
                       " bytes left)");
  }
  if (e->method == zip::kMethodStored && e->compressed_size != e->size) {
    return source_.CorruptRecord(
        full_name, "stored record with compressed size " +
                       std::to_string(e->compressed_size) + " != size " +
                       std::to_string(e->size));
  }
  if (e->method == zip::kMethodDeflated &&
      (e->compressed_size == 0 ||
       e->size / kMaxDeflateRatio > e->compressed_size + 1)) {
    return source_.CorruptRecord(
        full_name, "declared size " + std::to_string(e->size) +
                       " is impossible for " +
                       std::to_string(e->compressed_size) + " deflated bytes");
  }
  return Status::Ok();
}

// The data descriptor of a bit-3 record fills the gap between its data and
// `next` (the next local header or the central directory) exactly: 12, 16
// (signed), 20 or 24 (signed, zip64) bytes, agreeing with the central entry.
Status DirectoryParser::CheckDescriptor(std::string_view full_name,
                                        const CentralEntry& e, uint64_t next,
                                        uint64_t* end) {
  const uint64_t data_end = e.data_offset + e.compressed_size;
  const uint64_t gap = next - data_end;  // the caller checked next >= end
  if (gap != 12 && gap != 16 && gap != 20 && gap != 24) {
    return source_.CorruptRecord(
        full_name, std::to_string(gap) +
                       " bytes follow the data where a data descriptor "
                       "(12 to 24 bytes) must be");
  }
  // Read with the next local header and its longest name, so that the next
  // HeaderBytes call finds it in this read; prefetched, it is already there.
  HERMETIC_ASSIGN_OR_RETURN(
      const uint8_t* d,
      HeaderBytes(data_end,
                  !prefetched_.empty()
                      ? gap
                      : std::min(next + zip::kLocalHeaderSize + kMaxFullName +
                                     kHeaderSlack,
                                 source_.size()) -
                            data_end,
                  full_name));
  const bool signed_form = gap == 16 || gap == 24;
  if (signed_form && Get32(d) != zip::kDataDescriptorSig) {
    return source_.CorruptRecord(full_name, "bad data descriptor signature");
  }
  const uint8_t* p = d + (signed_form ? 4 : 0);
  const bool wide = gap == 20 || gap == 24;
  const uint64_t comp = wide ? Get64(p + 4) : Get32(p + 4);
  const uint64_t size = wide ? Get64(p + 12) : Get32(p + 8);
  if (Get32(p) != e.crc32 || comp != e.compressed_size || size != e.size) {
    return source_.CorruptRecord(full_name,
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
Result<const uint8_t*> DirectoryParser::HeaderBytes(uint64_t offset,
                                                    uint64_t max_length,
                                                    std::string_view record) {
  if (source_.in_memory()) return &source_.data()[offset];
  auto after = std::upper_bound(
      prefetched_.begin(), prefetched_.end(), offset,
      [](uint64_t o, const Fetched& f) { return o < f.offset; });
  if (after != prefetched_.begin()) {
    const Fetched& f = *(after - 1);
    if (offset - f.offset + max_length <= f.bytes.size()) {
      return f.bytes.data() + (offset - f.offset);
    }
  }
  if (offset >= window_offset_ &&
      offset - window_offset_ + max_length <= scratch_.size()) {
    return scratch_.data() + (offset - window_offset_);
  }
  constexpr uint64_t kWindow = 16 << 10;
  const bool close = !scratch_.empty() && offset >= window_offset_ &&
                     offset - window_offset_ < 2 * kWindow;
  const uint64_t length =
      std::min(close ? std::max(max_length, kWindow) : max_length,
               source_.size() - offset);
  scratch_.resize(length);
  window_offset_ = offset;
  HERMETIC_RETURN_IF_ERROR(source_.ReadAt(offset, scratch_, record));
  return scratch_.data();
}

// Fetches, in one ReadRanges call, what CheckLocalHeader and
// CheckDescriptor will ask HeaderBytes for: each local header with its name
// and slack, and the up to 24 bytes of data descriptor before it (and
// before the central directory). Offsets come from the central directory
// and are not trusted: the checks run on these bytes exactly as on bytes
// read one at a time, and whatever is missing here (a range the source
// did not fill, a longer extra field) is read then as without a prefetch.
void DirectoryParser::Prefetch(const std::vector<CentralEntry*>& by_offset,
                               uint64_t cd_offset) {
  constexpr uint64_t kDescriptorMax = 24;
  // Past this the batch would cost more memory than it saves round trips.
  constexpr uint64_t kMaxPrefetch = uint64_t{64} << 20;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end)
  uint64_t total = 0;
  auto add = [&](uint64_t begin, uint64_t end) {
    if (!ranges.empty() && begin <= ranges.back().second) {
      total += end > ranges.back().second ? end - ranges.back().second : 0;
      ranges.back().second = std::max(ranges.back().second, end);
    } else {
      ranges.emplace_back(begin, end);
      total += end - begin;
    }
  };
  for (const CentralEntry* e : by_offset) {
    const uint64_t off = e->header_offset;
    if (off >= cd_offset) break;  // refused by the checks that follow
    add(off >= kDescriptorMax ? off - kDescriptorMax : 0,
        off + std::min(cd_offset - off,
                       zip::kLocalHeaderSize + e->name_len + kHeaderSlack));
    if (total > kMaxPrefetch) return;
  }
  add(cd_offset >= kDescriptorMax ? cd_offset - kDescriptorMax : 0, cd_offset);
  std::vector<uint64_t> offsets;
  std::vector<std::span<uint8_t>> out;
  prefetched_.reserve(ranges.size());
  for (const auto& [begin, end] : ranges) {
    prefetched_.push_back({begin, std::vector<uint8_t>(end - begin)});
    offsets.push_back(begin);
    out.push_back(prefetched_.back().bytes);
  }
  std::vector<size_t> got = source_.ReadRanges(offsets, out);
  for (size_t i = 0; i < prefetched_.size(); ++i) {
    prefetched_[i].bytes.resize(i < got.size() ? std::min(got[i], out[i].size())
                                               : 0);
  }
}

Status DirectoryParser::Parse() {
  uint64_t cd_offset = 0, cd_size = 0, count = 0;
  HERMETIC_RETURN_IF_ERROR(FindEnd(&cd_offset, &cd_size, &count));
  // Small archives have their central directory in the tail already read.
  std::vector<uint8_t> cd_storage;
  std::span<const uint8_t> cd;
  const uint64_t tail_start = source_.size() - tail_.size();
  if (!source_.in_memory() && cd_offset >= tail_start) {
    cd = std::span<const uint8_t>(tail_).subspan(cd_offset - tail_start,
                                                 cd_size);
  } else {
    HERMETIC_ASSIGN_OR_RETURN(
        cd, source_.Fetch(cd_offset, cd_size, &cd_storage, {}));
  }
  std::vector<CentralEntry> entries(count);
  uint64_t pos = 0;
  for (CentralEntry& e : entries) {
    HERMETIC_RETURN_IF_ERROR(ParseEntry(cd, &pos, &e));
  }
  // zipfile reads entries until the directory's size is used up, miniz
  // reads the declared count: both must describe the same entries.
  if (pos != cd_size) {
    return source_.Corrupt("central directory holds " +
                           std::to_string(cd_size - pos) +
                           " bytes beyond the " + std::to_string(count) +
                           " entries the end record declares");
  }
  if (count == 0) {
    // torch's reader takes the top-level folder from the first entry.
    return source_.Corrupt("no records (an archive needs a top-level folder)");
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
        return source_.CorruptRecord(
            full_name, "file in archive is not in a subdirectory");
      }
      prefix_ = full_name.substr(0, slash);
    }
    if (full_name.size() <= prefix_.size() ||
        full_name.compare(0, prefix_.size(), prefix_) != 0 ||
        full_name[prefix_.size()] != '/') {
      return source_.CorruptRecord(full_name,
                                   "file in archive is not in the top-level "
                                   "folder " +
                                       EscapeName(prefix_) + "/");
    }
    std::string_view rel = full_name.substr(prefix_.size() + 1);
    // Directory entries made by generic zip tools carry no data.
    if (rel.empty() || rel.back() == '/') {
      std::string_view dir = rel.substr(0, rel.empty() ? 0 : rel.size() - 1);
      if (!dir.empty() && !zip::NameProblem(dir).empty()) {
        return source_.CorruptRecord(
            full_name, "unsafe directory name (" +
                           std::string(zip::NameProblem(dir)) + ")");
      }
      // Empty for every reader: nothing declared, and no compressed bytes
      // beyond an empty deflate stream (2 bytes cannot encode a literal).
      if (e.size != 0 || e.crc32 != 0 ||
          e.compressed_size > (e.method == zip::kMethodStored ? 0 : 2)) {
        return source_.CorruptRecord(full_name, "directory entry has data");
      }
      continue;
    }
    std::string_view problem = zip::NameProblem(rel);
    if (!problem.empty()) {
      return source_.CorruptRecord(
          full_name, "unsafe record name (" + std::string(problem) + ")");
    }
    if (!catalog_->index.emplace(rel, records.size()).second) {
      return source_.CorruptRecord(full_name, "duplicate record name");
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
      return source_.CorruptRecord(
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
  if (source_.batched()) Prefetch(by_offset, cd_offset);
  uint64_t expected = 0;
  const CentralEntry* prev = nullptr;
  for (size_t i = 0; i < by_offset.size(); ++i) {
    CentralEntry& e = *by_offset[i];
    std::string_view full_name = name_of(e);
    if (e.header_offset != expected) {
      if (e.header_offset < expected) {
        return source_.CorruptRecord(
            full_name, "overlaps record " + EscapeName(name_of(*prev)));
      }
      return source_.CorruptRecord(
          full_name, std::to_string(e.header_offset - expected) +
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
        return source_.CorruptRecord(
            name_of(*by_offset[i + 1]),
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
    return source_.Corrupt(std::to_string(cd_offset - expected) +
                           " bytes at offset " + std::to_string(expected) +
                           " before the central directory belong to no record");
  }
  return Status::Ok();
}

}  // namespace

Status ParseCentralDirectory(const ZipSource& source,
                             const ReaderOptions& options, Catalog* catalog,
                             std::string* prefix) {
  DirectoryParser parser(source, options, catalog);
  HERMETIC_RETURN_IF_ERROR(parser.Parse());
  *prefix = parser.prefix();
  return Status::Ok();
}

}  // namespace hermetic
