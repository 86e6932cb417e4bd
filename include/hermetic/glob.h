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
//  - Matching never allocates and runs in O(pattern * candidate).
#ifndef HERMETIC_GLOB_H_
#define HERMETIC_GLOB_H_

#include <string>
#include <string_view>
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
  GlobGroup() = default;
  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
  char separator_ = '.';
};

}  // namespace hermetic

#endif  // HERMETIC_GLOB_H_
