#include "record_map.h"

#include <map>
#include <utility>
#include <vector>

#include "zip_format.h"

namespace hermetic {
namespace {

// The name checks shared by every RecordMap; subclasses say where the bytes
// of one record come from.
class PrefixRecordMap : public RecordMap {
 public:
  PrefixRecordMap(std::shared_ptr<const Catalog> catalog, std::string prefix,
                  std::string where, bool verify_crc)
      : catalog_(std::move(catalog)),
        prefix_(std::move(prefix)),
        where_(std::move(where)),
        verify_crc_(verify_crc) {}

  Result<std::span<uint8_t>> View(std::string_view name) final {
    const RecordInfo* r = catalog_->Find(name);
    if (r == nullptr || !name.starts_with(prefix_)) {
      return Status::NotFound(where_ + ": record " + EscapeName(name) +
                              " is not among the records mapped for '" +
                              EscapeName(prefix_) + "'");
    }
    if (r->method != zip::kMethodStored) {
      return Status::Unsupported(where_ + ": record " + EscapeName(r->name) +
                                 " is compressed; it cannot be mapped");
    }
    HERMETIC_ASSIGN_OR_RETURN(std::span<uint8_t> bytes, Bytes(*r));
    if (verify_crc_) {
      HERMETIC_RETURN_IF_ERROR(CheckCrc(where_, *r, Crc32(0, bytes)));
    }
    return bytes;
  }

 protected:
  const std::string& where() const { return where_; }
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
                std::shared_ptr<FileMapping> mapping, uint64_t base,
                uint64_t end)
      : PrefixRecordMap(std::move(catalog), std::move(prefix), std::move(where),
                        verify_crc),
        mapping_(std::move(mapping)),
        base_(base),
        end_(end) {}

  std::span<uint8_t> memory() const override {
    return mapping_ ? mapping_->bytes() : std::span<uint8_t>();
  }

 protected:
  Result<std::span<uint8_t>> Bytes(const RecordInfo& r) override {
    if (r.size == 0) return std::span<uint8_t>();
    // Stored records with data were all inside [base_, end_) when the map
    // was made; the check guards the arithmetic, not a reachable state.
    if (r.data_offset < base_ || r.data_offset + r.size > end_) {
      return Status::Internal("record " + EscapeName(r.name) +
                              " lies outside its map");
    }
    return mapping_->bytes().subspan(r.data_offset - base_, r.size);
  }

 private:
  std::shared_ptr<FileMapping> mapping_;
  uint64_t base_;
  uint64_t end_;
};

// A private copy of each record of a caller's buffer or a source, made when
// first asked.
class CopyRecordMap final : public PrefixRecordMap {
 public:
  CopyRecordMap(std::shared_ptr<const Catalog> catalog, std::string prefix,
                std::string where, bool verify_crc,
                std::shared_ptr<const ZipSource> source)
      : PrefixRecordMap(std::move(catalog), std::move(prefix), std::move(where),
                        verify_crc),
        source_(std::move(source)) {}

 protected:
  Result<std::span<uint8_t>> Bytes(const RecordInfo& r) override {
    return GuardAllocation(
        [&]() -> Result<std::span<uint8_t>> {
          auto [it, added] = copies_.try_emplace(&r);
          if (added) {
            it->second.resize(r.size);
            Status read = source_->ReadAt(r.data_offset, it->second, r.name);
            if (!read.ok()) {
              copies_.erase(it);
              return read;
            }
          }
          return std::span<uint8_t>(it->second);
        },
        [&]() -> Status {
          copies_.erase(&r);
          return Status::ResourceExhausted(where() + ", record " +
                                           EscapeName(r.name) +
                                           ": out of memory for its copy");
        });
  }

 private:
  std::shared_ptr<const ZipSource> source_;
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
      HERMETIC_ASSIGN_OR_RETURN(std::shared_ptr<FileMapping> m,
                                MapWholeFile(root_ + "/" + r.name, r.size));
      it = maps_.emplace(&r, std::move(m)).first;
    }
    return it->second->bytes();
  }

 private:
  std::string root_;
  std::map<const RecordInfo*, std::shared_ptr<FileMapping>> maps_;
};

}  // namespace

std::unique_ptr<RecordMap> NewFileRecordMap(
    std::shared_ptr<const Catalog> catalog, std::string prefix,
    std::string where, bool verify_crc, std::shared_ptr<FileMapping> mapping,
    uint64_t base, uint64_t end) {
  return std::make_unique<FileRecordMap>(std::move(catalog), std::move(prefix),
                                         std::move(where), verify_crc,
                                         std::move(mapping), base, end);
}

std::unique_ptr<RecordMap> NewCopyRecordMap(
    std::shared_ptr<const Catalog> catalog, std::string prefix,
    std::string where, bool verify_crc,
    std::shared_ptr<const ZipSource> source) {
  return std::make_unique<CopyRecordMap>(std::move(catalog), std::move(prefix),
                                         std::move(where), verify_crc,
                                         std::move(source));
}

std::unique_ptr<RecordMap> NewFolderRecordMap(
    std::shared_ptr<const Catalog> catalog, std::string prefix,
    std::string root) {
  return std::make_unique<FolderRecordMap>(std::move(catalog),
                                           std::move(prefix), std::move(root));
}

Result<std::shared_ptr<FileMapping>> MapWholeFile(const std::string& path,
                                                  uint64_t size) {
  const std::string shown = EscapeName(path);
  HERMETIC_ASSIGN_OR_RETURN(Fd fd,
                            Fd::Open(path, O_RDONLY, "cannot open " + shown));
  return FileMapping::MapPrivate(fd, 0, size, "cannot map " + shown);
}

}  // namespace hermetic
