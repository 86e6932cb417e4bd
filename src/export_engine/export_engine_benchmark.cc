// ExportEngine without Python: interns every module of a package read from
// disk (as save_module(top) with intern("top.**"), mock("**")) and writes
// the archive to a counting sink. Sources are loaded before timing, so the
// figures are the engine's own (import scanning, resolution, writing); a
// Python export adds the provider's imports on top.
//
//   export_engine_benchmark <directory holding top> <top package> [repeat]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hermetic/export_engine.h"

namespace hermetic {
namespace {

namespace fs = std::filesystem;

class DiskProvider : public SourceProvider {
 public:
  // Loads every .py file below root/top as a module.
  DiskProvider(const fs::path& root, const std::string& top) {
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      if (!entry.is_regular_file() || entry.path().extension() != ".py") {
        continue;
      }
      fs::path relative = fs::relative(entry.path(), root);
      bool is_package = relative.filename() == "__init__.py";
      fs::path module_path =
          is_package ? relative.parent_path() : relative.replace_extension();
      std::string name = module_path.generic_string();
      std::replace(name.begin(), name.end(), '/', '.');
      std::ifstream in(entry.path(), std::ios::binary);
      ModuleSource module;
      module.is_package = is_package;
      module.source.emplace(std::istreambuf_iterator<char>(in),
                            std::istreambuf_iterator<char>());
      bytes_ += module.source->size();
      modules_.emplace(std::move(name), std::move(module));
    }
  }

  Result<bool> ModuleExists(std::string_view name,
                            bool /*must_import*/) override {
    return modules_.contains(std::string(name));
  }
  Result<ModuleSource> GetSource(std::string_view name) override {
    auto it = modules_.find(std::string(name));
    if (it == modules_.end()) {
      return Status::NotFound("no module " + std::string(name));
    }
    return it->second;
  }
  // Every module not on disk is mocked here: a plain module's stub.
  Result<bool> IsPackage(std::string_view name) override {
    auto it = modules_.find(name);
    return it != modules_.end() && it->second.is_package;
  }

  size_t bytes() const { return bytes_; }
  size_t module_count() const { return modules_.size(); }

 private:
  std::map<std::string, ModuleSource, std::less<>> modules_;
  size_t bytes_ = 0;
};

class CountingSink : public ByteSink {
 public:
  explicit CountingSink(size_t* count) : count_(count) {}
  Status Write(std::span<const uint8_t> bytes) override {
    *count_ += bytes.size();
    return Status::Ok();
  }

 private:
  size_t* count_;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

int Run(const fs::path& root, const std::string& top, int repeat) {
  DiskProvider provider(root, top);
  double best_resolve = 1e30, best_finish = 1e30;
  size_t interned = 0, archive_bytes = 0;
  for (int i = 0; i < repeat; ++i) {
    archive_bytes = 0;
    Result<std::unique_ptr<ArchiveWriter>> writer =
        ArchiveWriter::OpenSink(std::make_unique<CountingSink>(&archive_bytes));
    if (!writer.ok()) {
      std::fprintf(stderr, "%s\n", writer.status().ToString().c_str());
      return 1;
    }
    Result<std::unique_ptr<ExportEngine>> created =
        ExportEngine::Create(std::move(writer).value(), &provider, "", {});
    if (!created.ok()) {
      std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
      return 1;
    }
    ExportEngine& engine = **created;
    Result<GlobGroup> intern = GlobGroup::Create({top + ".**"});
    Result<GlobGroup> mock = GlobGroup::Create({"**"});
    if (!intern.ok() || !mock.ok() ||
        !engine.AddPattern(std::move(intern).value(), Action::kIntern, true)
             .ok() ||
        !engine.AddPattern(std::move(mock).value(), Action::kMock, true).ok()) {
      std::fprintf(stderr, "bad patterns\n");
      return 1;
    }
    auto start = std::chrono::steady_clock::now();
    Status status = engine.SaveModule(top, true);
    best_resolve = std::min(best_resolve, Seconds(start));
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
    interned = engine.ModulesWithAction(Action::kIntern).size();
    start = std::chrono::steady_clock::now();
    // Modules without source (none here) or unparsable ones would stop
    // Finish; the figures are only meaningful for a clean package.
    status = engine.Finish(
        [](std::string_view, Action) { return Status::Ok(); }, "3");
    best_finish = std::min(best_finish, Seconds(start));
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
  }
  std::printf(
      "%s: %zu modules on disk (%.1f MB), %zu interned; best of %d: "
      "resolve %.3f s, finish %.3f s (%.1f MB archive)\n",
      top.c_str(), provider.module_count(), provider.bytes() / 1e6, interned,
      repeat, best_resolve, best_finish, archive_bytes / 1e6);
  return 0;
}

}  // namespace
}  // namespace hermetic

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <directory> <top package> [repeat]\n",
                 argv[0]);
    return 2;
  }
  int repeat = argc > 3 ? std::max(1, std::atoi(argv[3])) : 3;
  return hermetic::Run(argv[1], argv[2], repeat);
}
