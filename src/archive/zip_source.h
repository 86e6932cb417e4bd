// The bytes of one zip as its reader and its directory parser see them: a
// caller's buffer read in place, a mapped file read through pread (so a
// file that shrinks gives an error, not SIGBUS), or a RandomAccessSource
// read through its ReadAt; and the archive's name in the errors all report.
#ifndef HERMETIC_SRC_ARCHIVE_ZIP_SOURCE_H_
#define HERMETIC_SRC_ARCHIVE_ZIP_SOURCE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/posix_file.h"
#include "hermetic/status.h"

namespace hermetic {

class ZipSource {
 public:
  // `data` kept alive by `owner`; a valid `fd` is the file `data` maps.
  // `where` names the archive in errors ("archive x.pt").
  ZipSource(std::span<const uint8_t> data, std::shared_ptr<const void> owner,
            Fd fd, std::string where)
      : data_(data),
        size_(data.size()),
        owner_(std::move(owner)),
        fd_(std::move(fd)),
        where_(std::move(where)) {}
  ZipSource(std::shared_ptr<RandomAccessSource> source, std::string where)
      : size_(source->Size()),
        source_(std::move(source)),
        where_(std::move(where)) {}

  uint64_t size() const { return size_; }
  // A caller's buffer, whose bytes may be pointed into (data()); the other
  // kinds copy every byte they hand out.
  bool in_memory() const { return !fd_.valid() && source_ == nullptr; }
  // A mapped file: data() is its mapping, fd() the file.
  bool mapped() const { return fd_.valid(); }
  // A RandomAccessSource, whose round trips are worth batching.
  bool batched() const { return source_ != nullptr; }
  std::span<const uint8_t> data() const { return data_; }
  const Fd& fd() const { return fd_; }
  const std::string& where() const { return where_; }

  // Copies the bytes at `offset` (inside the archive as it was opened) into
  // `out`; `record` (may be empty) names what they belong to in errors.
  Status ReadAt(uint64_t offset, std::span<uint8_t> out,
                std::string_view record) const;
  // `length` bytes at `offset`: the caller's buffer itself, or a copy in
  // `storage` for the other kinds.
  Result<std::span<const uint8_t>> Fetch(uint64_t offset, uint64_t length,
                                         std::vector<uint8_t>* storage,
                                         std::string_view record) const;

  // RandomAccessSource::ReadRanges of a batched() source.
  std::vector<size_t> ReadRanges(std::span<const uint64_t> offsets,
                                 std::span<const std::span<uint8_t>> out) const;

  Status Corrupt(std::string_view what) const;
  // `full_name` is the raw name as stored (escaped here).
  Status CorruptRecord(std::string_view full_name, std::string_view what) const;

 private:
  std::span<const uint8_t> data_;
  uint64_t size_;
  std::shared_ptr<const void> owner_;
  Fd fd_;
  std::shared_ptr<RandomAccessSource> source_;
  std::string where_;
};

}  // namespace hermetic

#endif  // HERMETIC_SRC_ARCHIVE_ZIP_SOURCE_H_
