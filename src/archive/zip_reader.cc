#include "zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "catalog.h"
#include "record_map.h"
#include "zip_directory.h"
#include "zip_format.h"
#include "zip_source.h"

namespace hermetic {
namespace {

// Compressed bytes read per inflate step.
constexpr size_t kInflateInput = size_t{256} << 10;

class ZipReader : public CatalogReader {
 public:
  // For a mapped file, every read but a zero-copy view goes through pread:
  // a file that shrinks under the reader then gives a short read (an error)
  // where touching the mapping would raise SIGBUS, and the mapping stays
  // unpopulated until someone asks for a view.
  ZipReader(std::shared_ptr<const ZipSource> source, std::string display_name,
            const ReaderOptions& options)
      : source_(std::move(source)),
        display_name_(std::move(display_name)),
        options_(options) {}

  Status Parse() {
    return GuardAllocation(
        [&] {
          return ParseCentralDirectory(*source_, options_, catalog_.get(),
                                       &prefix_);
        },
        [&] {
          return Status::ResourceExhausted(
              where() + ": out of memory for the central directory");
        });
  }

  const std::string& display_name() const override { return display_name_; }
  bool is_directory() const override { return false; }

  Result<std::unique_ptr<RecordMap>> MapRecords(
      std::string_view prefix) override;

  Result<std::span<uint8_t>> View(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    if (r->method != zip::kMethodStored) {
      return Status::Unsupported(where() + ": record " + EscapeName(r->name) +
                                 " is compressed; it has no zero-copy view");
    }
    if (source_->mapped()) {
      std::span<const uint8_t> stored =
          source_->data().subspan(r->data_offset, r->size);
      if (options_.verify_views) {
        HERMETIC_RETURN_IF_ERROR(CheckCrc(where(), *r, Crc32(0, stored)));
      }
      // The mapping is MAP_PRIVATE|PROT_WRITE: writes stay in this process.
      return std::span<uint8_t>(const_cast<uint8_t*>(stored.data()),
                                stored.size());
    }
    // A caller's buffer must not change under it, and a source has no
    // memory to point into: hand out a private copy that lives as long as
    // the reader.
    return GuardAllocation(
        [&]() -> Result<std::span<uint8_t>> {
          auto it = copies_.find(r->name);
          if (it == copies_.end()) {
            std::vector<uint8_t> copy(r->size);
            HERMETIC_RETURN_IF_ERROR(
                source_->ReadAt(r->data_offset, copy, r->name));
            if (VerifyCopies()) {
              HERMETIC_RETURN_IF_ERROR(CheckCrc(where(), *r, Crc32(0, copy)));
            }
            it = copies_.emplace(r->name, std::move(copy)).first;
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
      return Status::InvalidArgument(where() + ", record " +
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
  const std::string& where() const { return source_->where(); }
  // A copy of a source's bytes is a read (verify_reads); a copy of a
  // caller's buffer stands for a view of it (verify_views).
  bool VerifyCopies() const {
    return source_->in_memory()
               ? options_.verify_views
               : options_.verify_views || options_.verify_reads;
  }
  Status OutOfMemory(const RecordInfo& r) const {
    return Status::ResourceExhausted(where() + ", record " +
                                     EscapeName(r.name) +
                                     ": out of memory while reading it");
  }

  Result<const RecordInfo*> Lookup(std::string_view name) const {
    const RecordInfo* r = Find(name);
    if (r == nullptr) {
      return Status::NotFound(where() + " has no record " + EscapeName(name));
    }
    return r;
  }

  // One deflated record is held in memory only up to the limit; its
  // declared size says how much it would need, and lies are caught by
  // Stream, which never inflates past it.
  Status CheckInflatedSize(const RecordInfo& r) const {
    if (r.method != zip::kMethodStored && r.size > options_.max_inflated_size) {
      return Status::ResourceExhausted(
          where() + ", record " + EscapeName(r.name) + ": inflated size " +
          std::to_string(r.size) + " exceeds the limit of " +
          std::to_string(options_.max_inflated_size) +
          " bytes for one record held in memory (ReaderOptions::"
          "max_inflated_size); stream it instead");
    }
    return Status::Ok();
  }

  // The record's bytes into `out` (exactly r.size bytes), inflated if needed
  // and CRC-checked when the options ask for it.
  Status ReadRecordInto(const RecordInfo& r, std::span<uint8_t> out) const {
    if (r.method == zip::kMethodStored) {
      HERMETIC_RETURN_IF_ERROR(source_->ReadAt(r.data_offset, out, r.name));
      if (options_.verify_reads) return CheckCrc(where(), r, Crc32(0, out));
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

  std::shared_ptr<const ZipSource> source_;
  std::string display_name_;
  ReaderOptions options_;
  std::unordered_map<std::string, std::vector<uint8_t>> copies_;
};

Status ZipReader::StreamRecord(
    const RecordInfo& r, bool check_crc,
    const std::function<Status(std::span<const uint8_t>)>& consume) const {
  uint32_t crc = 0;
  HERMETIC_RETURN_IF_ERROR(r.method == zip::kMethodStored
                               ? StreamStored(r, &crc, consume)
                               : StreamDeflated(r, &crc, consume));
  if (check_crc) return CheckCrc(where(), r, crc);
  return Status::Ok();
}

Status ZipReader::StreamStored(
    const RecordInfo& r, uint32_t* crc,
    const std::function<Status(std::span<const uint8_t>)>& consume) const {
  std::vector<uint8_t> buffer;
  for (uint64_t done = 0; done < r.size;) {
    const uint64_t n = std::min<uint64_t>(kMaxStreamPiece, r.size - done);
    HERMETIC_ASSIGN_OR_RETURN(
        std::span<const uint8_t> piece,
        source_->Fetch(r.data_offset + done, n, &buffer, r.name));
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
          source_->Fetch(r.data_offset + consumed, n, &input, r.name));
      z.next_in = const_cast<Bytef*>(chunk.data());
      z.avail_in = static_cast<uInt>(chunk.size());
      consumed += n;
    }
    z.next_out = output.data();
    z.avail_out = static_cast<uInt>(output.size());
    const int rc = inflate(&z, Z_NO_FLUSH);
    const size_t got = output.size() - z.avail_out;
    if (got > r.size - produced) {
      return source_->CorruptRecord(
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
        return source_->CorruptRecord(
            r.name,
            "deflate data ends " +
                std::to_string(z.avail_in + r.compressed_size - consumed) +
                " bytes before its compressed size");
      }
      break;
    }
    if (rc == Z_MEM_ERROR) return OutOfMemory(r);
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && consumed == r.compressed_size) {
      return source_->CorruptRecord(r.name, "deflate data is truncated");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return source_->CorruptRecord(r.name, "invalid deflate data");
    }
  }
  if (produced != r.size) {
    return source_->CorruptRecord(
        r.name, "inflates to " + std::to_string(produced) +
                    " bytes, declared " + std::to_string(r.size));
  }
  return Status::Ok();
}

Result<std::unique_ptr<RecordMap>> ZipReader::MapRecords(
    std::string_view prefix) {
  std::string where = "archive " + display_name_;
  if (!source_->mapped()) {
    return NewCopyRecordMap(catalog_, std::string(prefix), std::move(where),
                            VerifyCopies(), source_);
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
        FileMapping::MapPrivate(source_->fd(), base, end - base,
                                "cannot map " + EscapeName(display_name_)));
  }
  return NewFileRecordMap(catalog_, std::string(prefix), std::move(where),
                          options_.verify_views, std::move(mapping), base, end);
}

}  // namespace

Result<std::unique_ptr<ArchiveReader>> OpenZip(ZipSource source,
                                               std::string display_name,
                                               const ReaderOptions& options) {
  auto reader = std::make_unique<ZipReader>(
      std::make_shared<const ZipSource>(std::move(source)),
      std::move(display_name), options);
  HERMETIC_RETURN_IF_ERROR(reader->Parse());
  return std::unique_ptr<ArchiveReader>(std::move(reader));
}

}  // namespace hermetic
