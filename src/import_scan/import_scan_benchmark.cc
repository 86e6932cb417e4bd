// Scans every .py file under the directories given on the command line (e.g.
// sympy's package directory) and prints the throughput, best of 5 runs of
// process CPU time (the machine is shared, wall time is noisy).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hermetic/import_scan.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR...\n", argv[0]);
    return 2;
  }
  std::vector<std::string> sources;
  size_t bytes = 0;
  for (int i = 1; i < argc; ++i) {
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(argv[i])) {
      if (entry.path().extension() != ".py") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      sources.push_back(ss.str());
      bytes += sources.back().size();
    }
  }
  double best = 1e9;
  size_t refs = 0, failures = 0;
  for (int run = 0; run < 5; ++run) {
    refs = failures = 0;
    std::clock_t start = std::clock();
    for (const std::string& s : sources) {
      auto r = hermetic::ScanImports(s, "pkg.sub.mod", false);
      if (r.ok()) {
        refs += r->size();
      } else {
        ++failures;
      }
    }
    double took = double(std::clock() - start) / CLOCKS_PER_SEC;
    best = std::min(best, took);
  }
  std::printf(
      "%zu files, %.1f MB, %zu imports, %zu failed: %.3f s, %.0f MB/s\n",
      sources.size(), bytes / 1e6, refs, failures, best, bytes / 1e6 / best);
  return 0;
}
