// ArchiveReader's factories: a path is a package folder (folder_reader) or a
// zip file mapped for zip_reader; a descriptor is a zip file, a buffer or a
// RandomAccessSource a zip.
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "folder_reader.h"
#include "hermetic/archive.h"
#include "hermetic/posix_file.h"
#include "zip_reader.h"
#include "zip_source.h"

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
  return OpenFile(std::move(fd), path, options);
}

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::OpenFile(
    Fd fd, std::string display_name, const ReaderOptions& options) {
  HERMETIC_ASSIGN_OR_RETURN(FileInfo info,
                            StatOpen(fd, "cannot stat " + display_name));
  if (info.kind != FileKind::kRegular) {
    return Status::InvalidArgument(display_name + " is not a regular file");
  }
  HERMETIC_ASSIGN_OR_RETURN(
      std::shared_ptr<FileMapping> m,
      FileMapping::MapPrivate(fd, 0, info.size,
                              "cannot map " + EscapeName(display_name)));
  std::span<const uint8_t> bytes = m->bytes();
  std::string where = "archive " + display_name;
  return OpenZip(
      ZipSource(bytes, std::move(m), std::move(fd), std::move(where)),
      std::move(display_name), options);
}

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::OpenSource(
    std::shared_ptr<RandomAccessSource> source, std::string display_name,
    const ReaderOptions& options) {
  std::string where = "archive " + display_name;
  return OpenZip(ZipSource(std::move(source), std::move(where)),
                 std::move(display_name), options);
}

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::OpenBuffer(
    std::span<const uint8_t> data, std::shared_ptr<const void> owner,
    std::string display_name, const ReaderOptions& options) {
  std::string where = "archive " + display_name;
  return OpenZip(ZipSource(data, std::move(owner), Fd(), std::move(where)),
                 std::move(display_name), options);
}

}  // namespace hermetic
