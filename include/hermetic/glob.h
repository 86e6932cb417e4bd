// GlobGroup: torch.package's module/record name patterns.
//
// Contract:
//  - A group matches a candidate iff some include pattern matches it and no
//    exclude pattern does.
//  - A pattern is split on the separator ('.' for module names, '/' for
//    record paths). A segment "**" matches zero or more whole segments; in a
//    segment, '*' matches zero or more non-separator characters; anything else
//    is literal. The whole candidate must match.
//  - "**" inside a longer segment (e.g. "a**") is rejected at Create() with
//    InvalidArgument "** can only appear as an entire path segment".
//  - Matching runs in O(pattern * candidate) and does not allocate for
//    patterns of up to 255 segments.
#ifndef HERMETIC_GLOB_H_
#define HERMETIC_GLOB_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hermetic/status.h"

namespace hermetic {

class GlobGroup {
 public:
  static Result<GlobGroup> Create(std::vector<std::string> include,
                                  std::vector<std::string> exclude = {},
                                  char separator = '.');

  bool Matches(std::string_view candidate) const;

  const std::vector<std::string>& include() const { return include_; }
  const std::vector<std::string>& exclude() const { return exclude_; }
  char separator() const { return separator_; }

 private:
  // A pattern's segments as (offset, length) into its source string.
  struct Pattern {
    std::vector<std::pair<size_t, size_t>> segments;
  };

  GlobGroup() = default;
  static Result<Pattern> Compile(const std::string& pattern, char separator);
  bool PatternMatches(const std::string& text, const Pattern& pattern,
                      std::string_view candidate) const;

  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
  std::vector<Pattern> compiled_include_;
  std::vector<Pattern> compiled_exclude_;
  char separator_ = '.';
};

}  // namespace hermetic

#endif  // HERMETIC_GLOB_H_
