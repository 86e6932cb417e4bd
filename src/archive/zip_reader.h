// ArchiveReader over a zip (a mapped file, a caller's buffer or a source):
// record access (views, reads, streams, inflating, CRC checks) and RecordMaps,
// on a catalog that zip_directory parsed and accepted.
#ifndef HERMETIC_SRC_ARCHIVE_ZIP_READER_H_
#define HERMETIC_SRC_ARCHIVE_ZIP_READER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "hermetic/archive.h"
#include "zip_source.h"

namespace hermetic {

// Parses the zip `source` holds (see ZipSource) and reads records from it:
// a mapped file through pread, with views on its mapping and RecordMaps
// made from its descriptor; a caller's buffer (never written) or a
// RandomAccessSource with private copies for views. `display_name` names
// the archive ("archive <display_name>" is the source's `where`).
Result<std::unique_ptr<ArchiveReader>> OpenZip(ZipSource source,
                                               std::string display_name,
                                               const ReaderOptions& options);

}  // namespace hermetic

#endif  // HERMETIC_SRC_ARCHIVE_ZIP_READER_H_
