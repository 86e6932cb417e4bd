// The RecordMaps ArchiveReader::MapRecords returns, one per kind of source:
// a mapping of a zip file's pages, copies out of a caller's buffer or a
// RandomAccessSource, a mapping per file of a package folder. All share the
// name checks of RecordMap::View (archive.h) and keep the reader's Catalog
// alive, so a map may outlive its reader.
#ifndef HERMETIC_SRC_ARCHIVE_RECORD_MAP_H_
#define HERMETIC_SRC_ARCHIVE_RECORD_MAP_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "catalog.h"
#include "hermetic/archive.h"
#include "hermetic/posix_file.h"
#include "zip_source.h"

namespace hermetic {

// `where` names the archive in errors ("archive x.pt"); `prefix` selects the
// records the map serves.

// `mapping` (null when no record has bytes) holds the file bytes
// [base, end) that every stored record of the map lies in.
std::unique_ptr<RecordMap> NewFileRecordMap(
    std::shared_ptr<const Catalog> catalog, std::string prefix,
    std::string where, bool verify_crc, std::shared_ptr<FileMapping> mapping,
    uint64_t base, uint64_t end);

// Copies records out of `source` (a buffer or a RandomAccessSource, never
// a mapped file) on first View, each in one read.
std::unique_ptr<RecordMap> NewCopyRecordMap(
    std::shared_ptr<const Catalog> catalog, std::string prefix,
    std::string where, bool verify_crc,
    std::shared_ptr<const ZipSource> source);

// Maps the file `root`/<name> of a package folder on its first View.
std::unique_ptr<RecordMap> NewFolderRecordMap(
    std::shared_ptr<const Catalog> catalog, std::string prefix,
    std::string root);

// A private mapping of the whole file at `path` (`size` bytes, as scanned);
// errors name it EscapeName()d.
Result<std::shared_ptr<FileMapping>> MapWholeFile(const std::string& path,
                                                  uint64_t size);

}  // namespace hermetic

#endif  // HERMETIC_SRC_ARCHIVE_RECORD_MAP_H_
