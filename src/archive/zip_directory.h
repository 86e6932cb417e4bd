// The central directory parser: reads a zip's end records, central
// directory and local headers and accepts the archive only under the rules
// of docs/format.md section 3 (every mainstream reader, Python's zipfile and
// torch's miniz, would see the same records with the same bytes). Every
// offset and length is checked against the archive before use.
#ifndef HERMETIC_SRC_ARCHIVE_ZIP_DIRECTORY_H_
#define HERMETIC_SRC_ARCHIVE_ZIP_DIRECTORY_H_

#include <string>

#include "catalog.h"
#include "hermetic/archive.h"
#include "zip_source.h"

namespace hermetic {

// Fills `catalog` (empty on entry) with the records of `source` and
// `prefix` with their top-level folder; Corrupt or Unsupported naming the
// archive and the record otherwise. May throw std::bad_alloc (callers
// guard it: see GuardAllocation).
Status ParseCentralDirectory(const ZipSource& source,
                             const ReaderOptions& options, Catalog* catalog,
                             std::string* prefix);

}  // namespace hermetic

#endif  // HERMETIC_SRC_ARCHIVE_ZIP_DIRECTORY_H_
