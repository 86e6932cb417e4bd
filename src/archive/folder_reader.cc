#include "folder_reader.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "catalog.h"
#include "hermetic/posix_file.h"
#include "record_map.h"
#include "zip_format.h"

namespace hermetic {
namespace {

// The bytes of the file at `path` in pieces of at most `piece` bytes.
Status StreamFile(
    const std::string& path, size_t piece,
    const std::function<Status(std::span<const uint8_t>)>& consume) {
  const std::string shown = EscapeName(path);
  HERMETIC_ASSIGN_OR_RETURN(Fd fd,
                            Fd::Open(path, O_RDONLY, "cannot open " + shown));
  std::vector<uint8_t> chunk(piece);
  const std::string reading = "reading " + shown;
  for (;;) {
    HERMETIC_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, chunk, reading));
    if (n == 0) return Status::Ok();
    HERMETIC_RETURN_IF_ERROR(
        consume(std::span<const uint8_t>(chunk.data(), n)));
  }
}

class FolderReader : public CatalogReader {
 public:
  FolderReader(std::string root, const ReaderOptions& options)
      : root_(std::move(root)), options_(options) {
    size_t end = root_.find_last_not_of('/');
    std::string trimmed =
        root_.substr(0, end == std::string::npos ? 0 : end + 1);
    size_t slash = trimmed.find_last_of('/');
    prefix_ = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  }

  Status Scan() {
    return GuardAllocation(
        [&] { return ScanUnguarded(); },
        [&] {
          return Status::ResourceExhausted("package folder " + root_ +
                                           ": out of memory for its file list");
        });
  }

  const std::string& display_name() const override { return root_; }
  bool is_directory() const override { return true; }

  Result<std::unique_ptr<RecordMap>> MapRecords(
      std::string_view prefix) override {
    return NewFolderRecordMap(catalog_, std::string(prefix), root_);
  }

  Result<std::span<uint8_t>> View(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    auto it = maps_.find(r->name);
    if (it == maps_.end()) {
      HERMETIC_ASSIGN_OR_RETURN(std::shared_ptr<FileMapping> m,
                                MapWholeFile(root_ + "/" + r->name, r->size));
      it = maps_.emplace(r->name, std::move(m)).first;
    }
    return it->second->bytes();
  }

  Result<std::vector<uint8_t>> Read(std::string_view name) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    return GuardAllocation(
        [&]() -> Result<std::vector<uint8_t>> {
          std::vector<uint8_t> out;
          out.reserve(r->size);  // the file's size when scanned: real bytes
          HERMETIC_RETURN_IF_ERROR(
              Stream(name, [&](std::span<const uint8_t> piece) {
                out.insert(out.end(), piece.begin(), piece.end());
                return Status::Ok();
              }));
          return out;
        },
        [&] { return OutOfMemory(*r); });
  }

  Status ReadInto(std::string_view name, std::span<uint8_t> out) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    uint64_t filled = 0;
    HERMETIC_RETURN_IF_ERROR(Stream(name, [&](std::span<const uint8_t> piece) {
      if (piece.size() > out.size() - filled) {
        return Status::InvalidArgument(Where(*r) + " has more than " +
                                       std::to_string(out.size()) + " bytes");
      }
      std::memcpy(out.data() + filled, piece.data(), piece.size());
      filled += piece.size();
      return Status::Ok();
    }));
    if (filled != out.size() || r->size != out.size()) {
      return Status::InvalidArgument(Where(*r) + " has " +
                                     std::to_string(r->size) + " bytes, not " +
                                     std::to_string(out.size()));
    }
    return Status::Ok();
  }

  Status Stream(
      std::string_view name,
      const std::function<Status(std::span<const uint8_t>)>& consume) override {
    HERMETIC_ASSIGN_OR_RETURN(const RecordInfo* r, Lookup(name));
    return GuardAllocation(
        [&] {
          return StreamFile(root_ + "/" + r->name, kMaxStreamPiece, consume);
        },
        [&] { return OutOfMemory(*r); });
  }

  // Loose files carry no checksum; existence was checked by the scan.
  Status Verify(std::string_view name) override {
    return Lookup(name).status();
  }
  Status VerifyAll() override { return Status::Ok(); }

 private:
  Status ScanUnguarded() {
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

  Result<const RecordInfo*> Lookup(std::string_view name) const {
    const RecordInfo* r = Find(name);
    if (r == nullptr) {
      return Status::NotFound("package folder " + root_ + " has no record " +
                              EscapeName(name));
    }
    return r;
  }

  std::string Where(const RecordInfo& r) const {
    return "package folder " + root_ + ", record " + EscapeName(r.name);
  }

  Status OutOfMemory(const RecordInfo& r) const {
    return Status::ResourceExhausted(Where(r) + ": out of memory");
  }

  Status Walk(const std::string& rel) {
    const std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
    HERMETIC_ASSIGN_OR_RETURN(std::vector<std::string> names,
                              ListDirectory(dir, "cannot list " + dir));
    std::vector<std::string> subdirs;
    for (const std::string& n : names) {
      std::string child = rel.empty() ? n : rel + "/" + n;
      if (!zip::IsValidUtf8(n)) {
        return Status::Corrupt("package folder " + root_ + ": record name " +
                               EscapeName(child) + " is not valid UTF-8");
      }
      // Follows symlinks to files but never into linked directories, so a
      // link cannot make the walk loop or leave the folder's tree. A file
      // that cannot be looked at (or vanished) is no record.
      const std::string path = root_ + "/" + child;
      Result<FileInfo> st = Stat(path, {});
      if (!st.ok() || st->kind == FileKind::kMissing) continue;
      if (st->kind == FileKind::kDirectory) {
        Result<FileInfo> lst = LinkStat(path, {});
        if (lst.ok() && lst->kind == FileKind::kDirectory) {
          subdirs.push_back(std::move(child));
        }
      } else if (st->kind == FileKind::kRegular) {
        if (catalog_->records.size() >= options_.max_records) {
          return Status::Corrupt("package folder " + root_ +
                                 ": too many records (limit " +
                                 std::to_string(options_.max_records) + ")");
        }
        RecordInfo r;
        r.name = std::move(child);
        r.size = r.compressed_size = st->size;
        catalog_->records.push_back(std::move(r));
      }
    }
    for (const std::string& sub : subdirs) HERMETIC_RETURN_IF_ERROR(Walk(sub));
    return Status::Ok();
  }

  std::string root_;
  ReaderOptions options_;
  std::map<std::string, std::shared_ptr<FileMapping>> maps_;
};

}  // namespace

Result<std::unique_ptr<ArchiveReader>> OpenFolder(
    std::string root, const ReaderOptions& options) {
  auto reader = std::make_unique<FolderReader>(std::move(root), options);
  HERMETIC_RETURN_IF_ERROR(reader->Scan());
  return std::unique_ptr<ArchiveReader>(std::move(reader));
}

}  // namespace hermetic
