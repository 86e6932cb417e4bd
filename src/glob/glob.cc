#include "hermetic/glob.h"

#include <array>
#include <cstdint>
#include <utility>

namespace hermetic {
namespace {

constexpr std::string_view kDoubleStar = "**";

// Matches one candidate segment against one pattern segment in which '*'
// stands for any run of characters. Segments never contain the separator, so
// the classic greedy matcher that backtracks only to the last '*' is exact and
// runs in O(pattern * segment) without allocating.
bool SegmentMatches(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// A set of NFA states (pattern segment positions 0..n) that lives on the
// stack for all realistic patterns and only spills to the heap for patterns
// of more than 255 segments.
class StateSet {
 public:
  explicit StateSet(size_t states) : words_((states + 63) / 64) {
    if (words_ > inline_.size()) heap_.resize(words_);
    Clear();
  }
  void Clear() {
    for (size_t i = 0; i < words_; ++i) data()[i] = 0;
  }
  void Set(size_t i) { data()[i / 64] |= uint64_t{1} << (i % 64); }
  bool Test(size_t i) const { return (data()[i / 64] >> (i % 64)) & 1; }
  bool Empty() const {
    for (size_t i = 0; i < words_; ++i) {
      if (data()[i] != 0) return false;
    }
    return true;
  }
  void Swap(StateSet& other) {
    std::swap(inline_, other.inline_);
    std::swap(heap_, other.heap_);
  }

 private:
  uint64_t* data() { return heap_.empty() ? inline_.data() : heap_.data(); }
  const uint64_t* data() const {
    return heap_.empty() ? inline_.data() : heap_.data();
  }
  size_t words_;
  std::array<uint64_t, 4> inline_{};
  std::vector<uint64_t> heap_;
};

}  // namespace

Result<GlobGroup::Pattern> GlobGroup::Compile(const std::string& pattern,
                                              char separator) {
  Pattern compiled;
  size_t start = 0;
  while (true) {
    size_t end = pattern.find(separator, start);
    if (end == std::string::npos) end = pattern.size();
    std::string_view segment(pattern.data() + start, end - start);
    if (segment != kDoubleStar &&
        segment.find(kDoubleStar) != std::string_view::npos) {
      return Status::InvalidArgument(
          "** can only appear as an entire path segment");
    }
    compiled.segments.push_back({start, end - start});
    if (end == pattern.size()) break;
    start = end + 1;
  }
  return compiled;
}

Result<GlobGroup> GlobGroup::Create(std::vector<std::string> include,
                                    std::vector<std::string> exclude,
                                    char separator) {
  GlobGroup group;
  group.separator_ = separator;
  for (const std::string& p : include) {
    HERMETIC_ASSIGN_OR_RETURN(Pattern c, Compile(p, separator));
    group.compiled_include_.push_back(std::move(c));
  }
  for (const std::string& p : exclude) {
    HERMETIC_ASSIGN_OR_RETURN(Pattern c, Compile(p, separator));
    group.compiled_exclude_.push_back(std::move(c));
  }
  group.include_ = std::move(include);
  group.exclude_ = std::move(exclude);
  return group;
}

// torch compiles each pattern to a regex over separator + candidate; that is
// equivalent to matching candidate segments against pattern segments, where
// "**" consumes any number of non-empty segments and every other pattern
// segment consumes exactly one (possibly empty) segment. This simulates that
// automaton with one bit per pattern position.
bool GlobGroup::PatternMatches(const std::string& text, const Pattern& pattern,
                               std::string_view candidate) const {
  const size_t n = pattern.segments.size();
  auto segment = [&](size_t i) {
    return std::string_view(text).substr(pattern.segments[i].first,
                                         pattern.segments[i].second);
  };
  auto close_over_double_stars = [&](StateSet& set) {
    for (size_t i = 0; i < n; ++i) {
      if (set.Test(i) && segment(i) == kDoubleStar) set.Set(i + 1);
    }
  };
  StateSet current(n + 1), next(n + 1);
  current.Set(0);
  close_over_double_stars(current);
  size_t start = 0;
  while (true) {
    size_t end = candidate.find(separator_, start);
    if (end == std::string_view::npos) end = candidate.size();
    std::string_view piece = candidate.substr(start, end - start);
    next.Clear();
    for (size_t i = 0; i < n; ++i) {
      if (!current.Test(i)) continue;
      std::string_view seg = segment(i);
      if (seg == kDoubleStar) {
        if (!piece.empty()) next.Set(i);
      } else if (SegmentMatches(seg, piece)) {
        next.Set(i + 1);
      }
    }
    close_over_double_stars(next);
    current.Swap(next);
    if (current.Empty() || end == candidate.size()) break;
    start = end + 1;
  }
  return current.Test(n);
}

bool GlobGroup::Matches(std::string_view candidate) const {
  bool included = false;
  for (size_t i = 0; i < include_.size() && !included; ++i) {
    included = PatternMatches(include_[i], compiled_include_[i], candidate);
  }
  if (!included) return false;
  for (size_t i = 0; i < exclude_.size(); ++i) {
    if (PatternMatches(exclude_[i], compiled_exclude_[i], candidate)) {
      return false;
    }
  }
  return true;
}

}  // namespace hermetic
