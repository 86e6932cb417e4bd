#include "zip_source.h"

#include <cstring>

#include "hermetic/archive.h"

namespace hermetic {

Status ZipSource::ReadAt(uint64_t offset, std::span<uint8_t> out,
                         std::string_view record) const {
  if (out.empty()) return Status::Ok();  // memcpy forbids null pointers
  if (in_memory()) {
    std::memcpy(out.data(), data_.data() + offset, out.size());
    return Status::Ok();
  }
  std::string what = where_;
  if (!record.empty()) what += ", record " + EscapeName(record);
  // A source names the archive in its own errors.
  HERMETIC_ASSIGN_OR_RETURN(
      size_t got, source_ != nullptr
                      ? source_->ReadAt(offset, out)
                      : ReadFullyAt(fd_, offset, out, what + ": read failed"));
  if (got < out.size()) {
    return Status::IOError(what +
                           ": file shrank while being read (nothing at "
                           "offset " +
                           std::to_string(offset + got) + ")");
  }
  return Status::Ok();
}

Result<std::span<const uint8_t>> ZipSource::Fetch(
    uint64_t offset, uint64_t length, std::vector<uint8_t>* storage,
    std::string_view record) const {
  if (in_memory()) return data_.subspan(offset, length);
  storage->resize(length);
  HERMETIC_RETURN_IF_ERROR(ReadAt(offset, *storage, record));
  return std::span<const uint8_t>(*storage);
}

std::vector<size_t> RandomAccessSource::ReadRanges(
    std::span<const uint64_t> offsets,
    std::span<const std::span<uint8_t>> out) {
  std::vector<size_t> got(out.size(), 0);
  for (size_t i = 0; i < out.size(); ++i) {
    Result<size_t> n = ReadAt(offsets[i], out[i]);
    if (n.ok()) got[i] = *n;
  }
  return got;
}

std::vector<size_t> ZipSource::ReadRanges(
    std::span<const uint64_t> offsets,
    std::span<const std::span<uint8_t>> out) const {
  return source_->ReadRanges(offsets, out);
}

Status ZipSource::Corrupt(std::string_view what) const {
  return Status::Corrupt(where_ + ": " + std::string(what));
}

Status ZipSource::CorruptRecord(std::string_view full_name,
                                std::string_view what) const {
  return Status::Corrupt(where_ + ", record " + EscapeName(full_name) + ": " +
                         std::string(what));
}

}  // namespace hermetic
