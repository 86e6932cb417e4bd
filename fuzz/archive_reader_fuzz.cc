// Feeds arbitrary bytes to ArchiveReader::OpenBuffer and, when they parse,
// exercises every record accessor (Read, ReadInto, Stream, Verify, View,
// MapRecords) and the same input through a file-backed reader (pread and
// mapping paths). Limits are lowered so that a hostile declared size cannot
// make a single input allocate much; inflating is bounded by the declared
// size, itself bounded by deflate's expansion of the input.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/posix_file.h"

namespace {

void Exercise(hermetic::ArchiveReader& reader) {
  for (const hermetic::RecordInfo& r : reader.records()) {
    (void)hermetic::EscapeName(r.name);
    (void)reader.Find(r.name);
    (void)reader.View(r.name);
    (void)reader.Read(r.name);
    if (r.size <= (uint64_t{8} << 20)) {
      std::vector<uint8_t> out(r.size);
      (void)reader.ReadInto(r.name, out);
    }
    uint64_t total = 0;
    (void)reader.Stream(r.name, [&](std::span<const uint8_t> piece) {
      total += piece.size();
      return hermetic::Status::Ok();
    });
    (void)reader.Verify(r.name);
  }
  auto map = reader.MapRecords("");
  if (map.ok()) {
    for (const hermetic::RecordInfo& r : reader.records()) {
      auto view = (*map)->View(r.name);
      if (view.ok() && !view->empty()) (void)(*view)[view->size() - 1];
    }
  }
  (void)reader.VerifyAll();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hermetic::ReaderOptions options;
  options.max_records = 4096;
  options.max_inflated_size = 8 << 20;
  options.verify_views = size % 2 == 1;
  auto reader = hermetic::ArchiveReader::OpenBuffer(
      std::span<const uint8_t>(data, size), nullptr, "fuzz", options);
  if (reader.ok()) Exercise(**reader);
  // The same bytes as a file: headers, records and CRCs then go through
  // pread, views through a mapping of the descriptor.
  hermetic::Fd fd(memfd_create("archive_reader_fuzz", MFD_CLOEXEC));
  if (!fd.valid()) return 0;
  if (hermetic::WriteFull(fd, std::span<const uint8_t>(data, size), {}).ok()) {
    auto file = hermetic::ArchiveReader::OpenPath(
        "/proc/self/fd/" + std::to_string(fd.get()), options);
    if (file.ok() != reader.ok()) __builtin_trap();  // same bytes, same verdict
    if (file.ok()) Exercise(**file);
  }
  return 0;
}
