// A one-line progress report for long commands (verify, extract): drawn on
// standard error only when it is a terminal and the work has run for more
// than a second, redrawn at most ten times a second, and erased when done,
// so output to a pipe or a file never carries it.
#ifndef HERMETIC_TOOLS_HERMETIC_PROGRESS_H_
#define HERMETIC_TOOLS_HERMETIC_PROGRESS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hermetic::cli {

class ProgressLine {
 public:
  // `what`: the verb shown ("verifying"); the totals are the work to do.
  ProgressLine(std::string_view what, size_t total_records,
               uint64_t total_bytes);
  ~ProgressLine() { Done(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // One more record of `bytes` done.
  void Advance(uint64_t bytes);
  // Erases the line if one was drawn.
  void Done();

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  size_t total_records_;
  uint64_t total_bytes_;
  size_t records_ = 0;
  uint64_t bytes_ = 0;
  bool terminal_;
  bool drawn_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
};

}  // namespace hermetic::cli

#endif  // HERMETIC_TOOLS_HERMETIC_PROGRESS_H_
