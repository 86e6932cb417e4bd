// ArchiveWriter and ArchiveReader: the zip container of torch.package.
//
// Contract (the layout: docs/format.md section 2; what readers accept:
// section 3; how it matches torch.package's format: section 4):
//  - Every record lives under one top-level folder. The writer names it from
//    the target file name (last path component, text from the last '.'
//    removed) or "archive" for sinks; readers take it from the first central
//    directory entry and require every other entry to share it.
//  - The writer stores records uncompressed, data on `alignment`-byte file
//    offsets via torch's "FB" padding extra field, local headers with zero
//    CRC/sizes followed by data descriptors, zip64 extras and end records as
//    torch writes them. Same records in the same order give the same bytes.
//  - A record written whole with Compression::kDeflate is deflated (method
//    8, libdeflate at WriterOptions::deflate_level) in the same layout, and
//    stored instead when the level is 0, when it is larger than
//    max_deflate_size, or when deflate does not make it smaller. Streamed
//    records are always stored; stored records stay aligned, so readers can
//    view them in place (tensor storages must be written kStored). The same
//    records, choices and level give the same bytes (libdeflate's output
//    depends only on its input, level and version).
//  - A file target is written to a temporary sibling
//    ".<name>.hermetic-tmp-XXXXXX", flock()ed while written, and renamed
//    into place by Finish(); Abort() or destroying an unfinished writer
//    removes it, so a failed export never leaves a partial archive or
//    clobbers an existing one. A writer killed midway leaves its temporary:
//    opening a file target removes every such temporary in the folder whose
//    lock it can take (its writer is dead), never a live writer's.
//  - Readers never trust the input: every offset and size is checked against
//    the buffer and ReaderOptions limits before use; violations return
//    Corrupt naming the archive and the record. No read outside the buffer.
//  - A zip is accepted only when every mainstream reader (Python's zipfile,
//    torch's miniz) would see the same records with the same bytes: one end
//    record, records tiling the file, central directory and local headers
//    agreeing, names valid UTF-8 (docs/format.md section 3, acceptance
//    rules). Anything else is Corrupt.
//  - Memory is bounded by what the caller asks for: nothing is allocated
//    from a declared size; a record is inflated as its bytes really come,
//    never past its declared size, and held whole in memory (Read) only up
//    to ReaderOptions::max_inflated_size (ResourceExhausted beyond it);
//    Stream, Verify and VerifyAll use bounded memory whatever the size. An
//    allocation failure is ResourceExhausted naming archive and record.
//  - A file-backed reader reads everything but zero-copy views (View,
//    MapRecords) with pread: a file that shrinks while open gives IOError
//    ("file shrank while being read"), never SIGBUS. Views are a memory map
//    and fault like any (as torch.load(mmap=True) or safetensors would).
//  - A reader over a RandomAccessSource (OpenSource: a remote object, a
//    Python file object) is the same zip parser over bytes fetched by
//    ReadAt, so it accepts and refuses exactly what a mapped file's reader
//    does. At open it reads the end records, the central directory and the
//    local headers (the acceptance rules need them; all of them in one
//    ReadRanges call), nothing else; a record's bytes are fetched when
//    first asked for, in one ReadAt.
//    There is no zero-copy: View and RecordMap::View are private copies,
//    CRC-checked when verify_reads (they are reads). A source that ends
//    early gives IOError ("file shrank while being read"); changed bytes a
//    CRC mismatch.
//  - Record names given to and returned by both classes exclude the
//    top-level folder (CheckRecordName is the rule). Every name in a
//    reader's error message is EscapeName()d.
//  - Threads: an ArchiveWriter is not thread-safe; one thread at a time
//    (callers lock). On one ArchiveReader, the const accessors, Read,
//    ReadInto, Stream, Verify, VerifyAll and MapRecords may run from several
//    threads at once (they share no mutable state: a file is read with
//    pread, a folder's files are opened per call). View may too on a reader
//    of a zip file (OpenPath on a file: views are slices of its mapping),
//    but not on a buffer, source or folder reader, whose first View of a
//    record makes a copy or a mapping: callers serialise View there.
//    Likewise a RecordMap of a zip file may be viewed from several
//    threads; buffer, source and folder maps may not (each thread may make
//    its own map). A source reader calls its source from as many threads
//    as call the reader.
//  - Lifetimes: RecordInfo references (records(), Find) and View spans are
//    valid while the reader lives; a RecordMap and its spans while the map
//    lives, independently of the reader; Stream pieces only during the
//    consumer's call. OpenBuffer's bytes must stay unchanged while the
//    reader or a RecordMap made from it lives (`owner` keeps them alive).
//    A file-backed reader keeps its descriptor open until destroyed.
#ifndef HERMETIC_ARCHIVE_H_
#define HERMETIC_ARCHIVE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/posix_file.h"
#include "hermetic/status.h"

namespace hermetic {

struct RecordInfo {
  std::string name;  // without the top-level folder
  uint64_t header_offset = 0;
  uint64_t data_offset = 0;
  uint64_t size = 0;             // uncompressed
  uint64_t compressed_size = 0;  // as stored
  uint32_t crc32 = 0;
  uint16_t method = 0;  // 0 stored, 8 deflated
};

// Destination for a writer that is not a file (e.g. a Python buffer).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Write(std::span<const uint8_t> bytes) = 0;
  virtual Status Flush() { return Status::Ok(); }
};

struct WriterOptions {
  bool compute_crc32 = true;
  uint32_t alignment = 64;
  // Written as ".data/version" by Finish() unless that record exists.
  uint32_t version = 6;
  // libdeflate's level for records written with Compression::kDeflate: 1
  // (fastest) to 12 (smallest); 0 stores them too, as torch's writer does.
  int deflate_level = 0;
  // Larger records are stored even when kDeflate is asked for: a reader
  // holds a deflated record whole in memory only up to its
  // ReaderOptions::max_inflated_size, whose default this is.
  uint64_t max_deflate_size = uint64_t{1} << 30;
};

// The level hermetic asks for when it compresses by default (the exporter's
// compress=True, `hermetic sign` rewriting deflated records): the trade-off
// measured in docs/format.md section 2.
inline constexpr int kDefaultDeflateLevel = 6;

// How a record written whole may be kept: kDeflate for records readers copy
// out anyway (sources, pickles, texts), kStored for records they may view in
// place (tensor storages, out-of-band buffers).
enum class Compression { kStored, kDeflate };

// The records torch's writer ends every archive with, in its order:
//  - ".data/version" holding "<version>\n" ("version" for a version below
//    6), unless ".data/version" or "version" exists;
//  - "byteorder", the host's ("little" or "big"), unless it exists;
//  - ".data/serialization_id", unless it exists: the 40 digits torch
//    derives from the names and CRC-32s of the records before it
//    (docs/format.md section 2), the same in every process.
inline constexpr std::string_view kByteorderRecord = "byteorder";
inline constexpr std::string_view kSerializationIdRecord =
    ".data/serialization_id";

class ArchiveWriter {
 public:
  static Result<std::unique_ptr<ArchiveWriter>> OpenFile(
      const std::string& path, const WriterOptions& options = {});
  static Result<std::unique_ptr<ArchiveWriter>> OpenSink(
      std::unique_ptr<ByteSink> sink, const WriterOptions& options = {});
  // Appends the archive's bytes to `*out`, which must outlive the writer.
  static Result<std::unique_ptr<ArchiveWriter>> OpenMemory(
      std::vector<uint8_t>* out, const WriterOptions& options = {});
  virtual ~ArchiveWriter() = default;

  virtual const std::string& archive_name() const = 0;

  // Names must be relative, '/'-separated, without "..", NUL, backslash or a
  // leading '/'; a duplicate is InvalidArgument. ResourceExhausted when the
  // memory to deflate the record cannot be had.
  virtual Status WriteRecord(std::string_view name,
                             std::span<const uint8_t> data,
                             Compression compression) = 0;
  Status WriteRecord(std::string_view name, std::span<const uint8_t> data) {
    return WriteRecord(name, data, Compression::kStored);
  }
  // Streams one record in pieces so a record larger than memory passes
  // through; only one record may be open at a time. The local header precedes
  // the data, so a streamed record of 4 GiB or more lacks the local zip64
  // block torch would write (central directory and descriptor are complete);
  // WriteRecord matches torch byte for byte at any size.
  virtual Status BeginRecord(std::string_view name) = 0;
  virtual Status Append(std::span<const uint8_t> piece) = 0;
  virtual Status EndRecord() = 0;

  virtual bool HasRecord(std::string_view name) const = 0;
  virtual std::vector<std::string> RecordNames() const = 0;
  // The serialization id torch's writer would give the records written so
  // far.
  virtual std::string SerializationId() const = 0;

  // Writes the framework records (WriteFrameworkRecords), then the central
  // directory, and commits a file target.
  virtual Status Finish() = 0;
  virtual void Abort() = 0;
  virtual bool finished() const = 0;
};

struct ReaderOptions {
  // CRC-32 is checked whenever a record's bytes are copied out of the
  // archive (Read, ReadInto): those are the sources, pickles and texts a
  // loader acts on, and hashing them costs little next to reading them.
  bool verify_reads = true;
  // Also check it on views (View, RecordMap::View), which are otherwise
  // zero-copy and leave pages untouched until used (tensor storages).
  bool verify_views = false;
  uint64_t max_records = uint64_t{1} << 22;
  uint64_t max_name_length = 4096;
  // Upper bound for one deflated record held whole in memory (Read,
  // ReadInto): a record declaring more is ResourceExhausted before anything
  // is inflated. Stream and Verify have no such limit.
  uint64_t max_inflated_size = uint64_t{1} << 30;
};

// The largest piece ArchiveReader::Stream hands to its consumer.
inline constexpr size_t kMaxStreamPiece = size_t{1} << 20;

// Memory over some records of an archive that belongs to its holder alone:
// writes through it reach neither the file, nor ArchiveReader::View(), nor
// any other RecordMap. Made by ArchiveReader::MapRecords; independent of the
// reader afterwards (it may outlive it).
class RecordMap {
 public:
  virtual ~RecordMap() = default;
  // The bytes of `name`, one of the records the map was made for; the same
  // span on every call, valid while the map lives. NotFound for other names,
  // Unsupported for a compressed record, Corrupt on a CRC mismatch when the
  // reader verifies CRCs.
  virtual Result<std::span<uint8_t>> View(std::string_view name) = 0;
  // When the map is one block of memory that every View() lies in, that
  // block (so callers may wrap it once and slice it), else empty.
  virtual std::span<uint8_t> memory() const { return {}; }
};

// Bytes of an archive that are not a local file's (an object store, a
// Python file object), read at offsets. Implementations must be callable
// from several threads at once (serialising inside if they must) and name
// the archive in their errors.
class RandomAccessSource {
 public:
  virtual ~RandomAccessSource() = default;
  // The size in bytes, fixed when the reader opens.
  virtual uint64_t Size() const = 0;
  // Fills `out` with the bytes at `offset` and returns how many it got:
  // fewer than out.size() only where the source ends.
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<uint8_t> out) = 0;
  // Several ranges at once (out[i] from offsets[i]), for sources where a
  // round trip costs more than the bytes (an object store, HTTP): the
  // reader asks for every local header in one call at open. Returns how
  // many bytes each range got; a range that got fewer than it asked (the
  // source ended, or that range failed) is read again through ReadAt,
  // which reports the error. The default reads the ranges one by one.
  virtual std::vector<size_t> ReadRanges(
      std::span<const uint64_t> offsets,
      std::span<const std::span<uint8_t>> out);
};

class ArchiveReader {
 public:
  // A regular file is memory-mapped (MAP_PRIVATE, so views are writable
  // copy-on-write memory that never reaches the file); a directory is read
  // as an unzipped package folder (the folder holding .data/).
  static Result<std::unique_ptr<ArchiveReader>> OpenPath(
      const std::string& path, const ReaderOptions& options = {});
  // The regular file open as `fd`, mapped as OpenPath maps a path (the
  // archive starts at the file's offset 0); `display_name` names it.
  static Result<std::unique_ptr<ArchiveReader>> OpenFile(
      Fd fd, std::string display_name, const ReaderOptions& options = {});
  // A zip read through `source` (see RandomAccessSource and the contract).
  static Result<std::unique_ptr<ArchiveReader>> OpenSource(
      std::shared_ptr<RandomAccessSource> source, std::string display_name,
      const ReaderOptions& options = {});
  // `owner` keeps `data` alive for the reader's lifetime.
  static Result<std::unique_ptr<ArchiveReader>> OpenBuffer(
      std::span<const uint8_t> data, std::shared_ptr<const void> owner,
      std::string display_name, const ReaderOptions& options = {});
  virtual ~ArchiveReader() = default;

  virtual const std::string& prefix() const = 0;
  virtual const std::string& display_name() const = 0;
  virtual bool is_directory() const = 0;
  virtual const std::vector<RecordInfo>& records() const = 0;
  virtual const RecordInfo* Find(std::string_view name) const = 0;

  // Zero-copy view of a stored record (valid while the reader lives);
  // Unsupported for a deflated record (use Read).
  virtual Result<std::span<uint8_t>> View(std::string_view name) = 0;
  // A fresh RecordMap over every record whose name starts with `prefix`
  // (a whole name maps that record; ".data/" every storage of a package).
  // A mapped zip file gives one MAP_PRIVATE mapping of the pages spanning
  // those records, made from the file descriptor the reader keeps open (the
  // path is never reopened), so pages are read only when touched and each
  // map pays for one system call however many records it spans. A caller's
  // buffer or a source gives a copy per record (a source's in one ReadAt),
  // a folder a private mapping per file, all made on the record's first
  // View.
  virtual Result<std::unique_ptr<RecordMap>> MapRecords(
      std::string_view prefix) = 0;
  // The record's bytes, inflated if needed; CRC-checked when verify_reads.
  virtual Result<std::vector<uint8_t>> Read(std::string_view name) = 0;
  // Read() into caller memory of exactly Find(name)->size bytes, for callers
  // that own the destination (saves a copy); InvalidArgument on a size
  // mismatch. Refuses a deflated record past max_inflated_size like Read(),
  // so a caller sizing its buffer from Find() should check that first.
  virtual Status ReadInto(std::string_view name, std::span<uint8_t> out) = 0;
  // The record's bytes handed to `consume` in order, in pieces of at most
  // kMaxStreamPiece bytes (valid only during the call), inflated as they
  // go; memory stays bounded whatever the record's size. Stops at the first
  // error `consume` returns. After the last piece: Corrupt if the bytes are
  // not exactly the declared size (inflating past it stops at once) or, when
  // verify_reads, if the CRC-32 differs. A consumer must therefore not act
  // on the bytes before Stream returns Ok.
  virtual Status Stream(
      std::string_view name,
      const std::function<Status(std::span<const uint8_t>)>& consume) = 0;
  // CRC-32 of one record / every record, streamed (bounded memory).
  virtual Status Verify(std::string_view name) = 0;
  virtual Status VerifyAll() = 0;
};

// Writes, through `writer`, the framework records it lacks (see
// kSerializationIdRecord). Finish() calls it; a writer wrapping another
// calls it on itself before finishing so that the records pass through it.
Status WriteFrameworkRecords(ArchiveWriter& writer, uint32_t version);

// CRC-32 (zip polynomial), continuing from `crc` (0 to start).
uint32_t Crc32(uint32_t crc, std::span<const uint8_t> data);

// The rule for record names (without the top-level folder), the same for
// writing, reading and extracting: relative, '/'-separated, no empty, "." or
// ".." component, no NUL or backslash. InvalidArgument "invalid record name
// '<name>': <reason>" otherwise (`name` as given, unescaped).
Status CheckRecordName(std::string_view name);

// `name` made safe to print: printable ASCII and valid UTF-8 characters
// (except C0/C1 controls and bidirectional overrides) as they are, a
// backslash as "\\", every other byte as "\xNN". Injective, so two
// different names never look alike; readers use it for every name in an
// error message, and the CLI for every name it prints.
std::string EscapeName(std::string_view name);
// The inverse of EscapeName, for formats that store names escaped (the
// manifest, the dependency record): nullopt for text EscapeName never
// writes (a lone backslash, upper-case hex, an escape of a byte it keeps).
std::optional<std::string> UnescapeName(std::string_view text);
// Whether `text` is strict UTF-8 as Python decodes it (no overlong forms,
// surrogates or code points past U+10FFFF), the rule for record names.
bool IsValidUtf8(std::string_view text);

}  // namespace hermetic

#endif  // HERMETIC_ARCHIVE_H_
