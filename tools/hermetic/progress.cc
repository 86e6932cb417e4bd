#include "progress.h"

#include <cstdio>

#include "cli.h"
#include "hermetic/posix_file.h"

namespace hermetic::cli {
namespace {

constexpr int kStderrFd = 2;
constexpr auto kQuietFor = std::chrono::seconds(1);
constexpr auto kRedrawEvery = std::chrono::milliseconds(100);

}  // namespace

ProgressLine::ProgressLine(std::string_view what, size_t total_records,
                           uint64_t total_bytes)
    : what_(what),
      total_records_(total_records),
      total_bytes_(total_bytes),
      terminal_(IsTerminal(kStderrFd)) {}

void ProgressLine::Advance(uint64_t bytes) {
  ++records_;
  bytes_ += bytes;
  if (!terminal_) return;
  const Clock::time_point now = Clock::now();
  if (now - start_ < kQuietFor || now - last_draw_ < kRedrawEvery) return;
  last_draw_ = now;
  const int percent =
      total_bytes_ == 0 ? 100 : static_cast<int>(bytes_ * 100 / total_bytes_);
  // "\r" then erase to the end of the line: the new text may be shorter.
  std::fprintf(stderr, "\r\x1b[Khermetic: %s %3d%%  %zu/%zu records, %s of %s",
               what_.c_str(), percent, records_, total_records_,
               HumanSize(bytes_).c_str(), HumanSize(total_bytes_).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::Done() {
  if (!drawn_) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace hermetic::cli
