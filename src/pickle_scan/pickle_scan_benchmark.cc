// Scans the pickle files given on the command line repeatedly and prints the
// throughput in MB/s and opcodes' worth of bytes per second, best of 5
// runs of process CPU time (the machine is shared, wall time is noisy).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <span>
#include <vector>

#include "hermetic/pickle_scan.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.pkl...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    double best = 1e9;
    size_t globals = 0;
    bool ok = true;
    for (int run = 0; run < 5; ++run) {
      std::clock_t start = std::clock();
      auto r = hermetic::ScanPickle(std::span<const uint8_t>(data));
      double took = double(std::clock() - start) / CLOCKS_PER_SEC;
      best = std::min(best, took);
      ok = r.ok();
      globals = ok ? r->globals.size() : 0;
    }
    std::printf("%s: %.1f MB, %s, %zu globals: %.4f s, %.0f MB/s\n", argv[i],
                data.size() / 1e6, ok ? "ok" : "FAILED", globals, best,
                data.size() / 1e6 / best);
  }
  return 0;
}
