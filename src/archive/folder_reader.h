// ArchiveReader over an unzipped package folder (the folder holding .data/):
// every regular file below it is a record, named by its path relative to
// the folder; the folder's own name is the prefix.
#ifndef HERMETIC_SRC_ARCHIVE_FOLDER_READER_H_
#define HERMETIC_SRC_ARCHIVE_FOLDER_READER_H_

#include <memory>
#include <string>

#include "hermetic/archive.h"

namespace hermetic {

// Lists the folder `root` at once (ReaderOptions::max_records files at
// most, names valid UTF-8); records are read, streamed and mapped from
// their files when asked for.
Result<std::unique_ptr<ArchiveReader>> OpenFolder(std::string root,
                                                  const ReaderOptions& options);

}  // namespace hermetic

#endif  // HERMETIC_SRC_ARCHIVE_FOLDER_READER_H_
