// ArchiveReader's factories: a path is a package folder (folder_reader) or a
// zip file mapped for zip_reader; a buffer is a zip.
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "folder_reader.h"
#include "hermetic/archive.h"
#include "hermetic/posix_file.h"
#include "zip_reader.h"

namespace hermetic {

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::OpenPath(
    const std::string& path, const ReaderOptions& options) {
  const std::string cannot_open = "cannot open " + path;
  HERMETIC_ASSIGN_OR_RETURN(FileInfo info, Stat(path, cannot_open));
  if (info.kind == FileKind::kMissing) {
    return Status::NotFound("no such archive: " + path);
  }
  if (info.kind == FileKind::kDirectory) return OpenFolder(path, options);
  // Opening a FIFO would block; devices cannot be mapped meaningfully.
  if (info.kind != FileKind::kRegular) {
    return Status::InvalidArgument(path + " is neither a file nor a directory");
  }
  HERMETIC_ASSIGN_OR_RETURN(Fd fd, Fd::Open(path, O_RDONLY, cannot_open));
  HERMETIC_ASSIGN_OR_RETURN(info, StatOpen(fd, "cannot stat " + path));
  HERMETIC_ASSIGN_OR_RETURN(
      std::shared_ptr<FileMapping> m,
      FileMapping::MapPrivate(fd, 0, info.size,
                              "cannot map " + EscapeName(path)));
  std::span<const uint8_t> bytes = m->bytes();
  return OpenZip(bytes, std::move(m), std::move(fd), path, options);
}

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::OpenBuffer(
    std::span<const uint8_t> data, std::shared_ptr<const void> owner,
    std::string display_name, const ReaderOptions& options) {
  return OpenZip(data, std::move(owner), Fd(), std::move(display_name),
                 options);
}

}  // namespace hermetic
