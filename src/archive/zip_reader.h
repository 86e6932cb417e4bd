// ArchiveReader over a zip (a mapped file or a caller's buffer): record
// access (views, reads, streams, inflating, CRC checks) and RecordMaps, on a
// catalog that zip_directory parsed and accepted.
#ifndef HERMETIC_SRC_ARCHIVE_ZIP_READER_H_
#define HERMETIC_SRC_ARCHIVE_ZIP_READER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "hermetic/archive.h"
#include "hermetic/posix_file.h"

namespace hermetic {

// Parses the zip in `data` (kept alive by `owner`). A valid `fd` is the file
// `data` is a MAP_PRIVATE mapping of: the reader then reads through pread,
// leaves views on the mapping and makes RecordMaps from `fd`. Without one,
// `data` is a caller's buffer, never written: views are private copies.
Result<std::unique_ptr<ArchiveReader>> OpenZip(
    std::span<const uint8_t> data, std::shared_ptr<const void> owner, Fd fd,
    std::string display_name, const ReaderOptions& options);

}  // namespace hermetic

#endif  // HERMETIC_SRC_ARCHIVE_ZIP_READER_H_
