// A unified diff of two texts, for `hermetic diff --source`.
#ifndef HERMETIC_TOOLS_HERMETIC_LINE_DIFF_H_
#define HERMETIC_TOOLS_HERMETIC_LINE_DIFF_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hermetic::cli {

// The hunks ("@@ -a,n +b,m @@" and lines prefixed ' ', '-', '+') turning
// `a` into `b`, with `context` unchanged lines around each change; empty
// when the texts are equal. Myers' algorithm: time and memory grow with the
// square of the number of changed lines, so nullopt past `max_changes`.
std::optional<std::string> UnifiedDiff(std::string_view a, std::string_view b,
                                       size_t context = 3,
                                       size_t max_changes = 4000);

}  // namespace hermetic::cli

#endif  // HERMETIC_TOOLS_HERMETIC_LINE_DIFF_H_
