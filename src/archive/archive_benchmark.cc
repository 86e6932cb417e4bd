// Archive engine figures without Python in the way: write, open+list, read
// and verify of a generated archive. Prints figures; not a test.
//   archive_benchmark [DIR] [MiB total, default 1024] [records, default 256]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "hermetic/archive.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Median, min and max of `runs` timings of `fn`.
template <typename F>
void Report(const char* what, int runs, double bytes, F&& fn) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    fn();
    t.push_back(Seconds(start));
  }
  std::sort(t.begin(), t.end());
  const double med = t[t.size() / 2];
  std::printf("%-22s median %10.4f ms (min %.4f, max %.4f)", what, med * 1e3,
              t.front() * 1e3, t.back() * 1e3);
  if (bytes > 0) std::printf("  %6.2f GB/s", bytes / med / 1e9);
  std::printf("\n");
}

void Check(const hermetic::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp";
  const uint64_t total = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024)
                         << 20;
  const int records = argc > 3 ? std::atoi(argv[3]) : 256;
  const std::string path = dir + "/archive_benchmark.pt";
  std::vector<uint8_t> payload(total / records);
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
  }
  const double bytes = static_cast<double>(payload.size()) * records;

  Report("write", 3, bytes, [&] {
    auto w = hermetic::ArchiveWriter::OpenFile(path);
    Check(w.status());
    for (int i = 0; i < records; ++i) {
      Check((*w)->WriteRecord(".data/" + std::to_string(i) + ".storage",
                              payload));
    }
    Check((*w)->Finish());
  });
  Report("open+list", 50, 0, [&] {
    auto r = hermetic::ArchiveReader::OpenPath(path);
    Check(r.status());
    if ((*r)->records().size() != static_cast<size_t>(records) + 1) {
      std::exit(1);
    }
  });
  Report("read (copies)", 3, bytes, [&] {
    auto r = hermetic::ArchiveReader::OpenPath(path);
    Check(r.status());
    std::vector<uint8_t> out(payload.size());
    for (const hermetic::RecordInfo& info : (*r)->records()) {
      if (info.size == out.size()) Check((*r)->ReadInto(info.name, out));
    }
  });
  Report("open+verify all", 3, bytes, [&] {
    auto r = hermetic::ArchiveReader::OpenPath(path);
    Check(r.status());
    Check((*r)->VerifyAll());
  });
  std::remove(path.c_str());
  return 0;
}
