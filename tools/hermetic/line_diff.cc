#include "line_diff.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace hermetic::cli {
namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size() - 1;
    lines.push_back(text.substr(start, end - start + 1));
    start = end + 1;
  }
  return lines;
}

struct Edit {
  char op;   // ' ', '-', '+'
  size_t a;  // line index in a (for ' ' and '-')
  size_t b;  // line index in b (for ' ' and '+')
};

// Myers' O(ND) shortest edit script, keeping the furthest x of every
// diagonal for each d to walk back.
std::optional<std::vector<Edit>> Script(const std::vector<std::string_view>& a,
                                        const std::vector<std::string_view>& b,
                                        size_t max_changes) {
  const auto n = static_cast<int64_t>(a.size());
  const auto m = static_cast<int64_t>(b.size());
  const int64_t max =
      std::min<int64_t>(n + m, static_cast<int64_t>(max_changes));
  std::vector<int64_t> v(static_cast<size_t>(2 * max + 3), 0);
  auto at = [&](int64_t k) -> int64_t& {
    return v[static_cast<size_t>(k + max + 1)];
  };
  std::vector<std::vector<int64_t>> trace;  // trace[d][k + d]
  int64_t found = -1;
  for (int64_t d = 0; d <= max && found < 0; ++d) {
    for (int64_t k = -d; k <= d; k += 2) {
      int64_t x = (k == -d || (k != d && at(k - 1) < at(k + 1)))
                      ? at(k + 1)
                      : at(k - 1) + 1;
      int64_t y = x - k;
      while (x < n && y < m &&
             a[static_cast<size_t>(x)] == b[static_cast<size_t>(y)]) {
        ++x;
        ++y;
      }
      at(k) = x;
      if (x >= n && y >= m) found = d;
    }
    trace.emplace_back(v.begin() + (max + 1 - d), v.begin() + (max + 2 + d));
  }
  if (found < 0) return std::nullopt;
  std::vector<Edit> edits;
  int64_t x = n, y = m;
  for (int64_t d = found; d > 0; --d) {
    const std::vector<int64_t>& prev = trace[static_cast<size_t>(d - 1)];
    auto prev_at = [&](int64_t k) {
      return prev[static_cast<size_t>(k + d - 1)];
    };
    const int64_t k = x - y;
    const bool down = k == -d || (k != d && prev_at(k - 1) < prev_at(k + 1));
    const int64_t prev_k = down ? k + 1 : k - 1;
    const int64_t prev_x = prev_at(prev_k);
    const int64_t prev_y = prev_x - prev_k;
    while (x > prev_x && y > prev_y) {
      --x;
      --y;
      edits.push_back({' ', static_cast<size_t>(x), static_cast<size_t>(y)});
    }
    if (down) {
      edits.push_back(
          {'+', static_cast<size_t>(x), static_cast<size_t>(prev_y)});
    } else {
      edits.push_back(
          {'-', static_cast<size_t>(prev_x), static_cast<size_t>(y)});
    }
    x = prev_x;
    y = prev_y;
  }
  while (x > 0 && y > 0) {
    --x;
    --y;
    edits.push_back({' ', static_cast<size_t>(x), static_cast<size_t>(y)});
  }
  std::reverse(edits.begin(), edits.end());
  return edits;
}

}  // namespace

std::optional<std::string> UnifiedDiff(std::string_view a, std::string_view b,
                                       size_t context, size_t max_changes) {
  const std::vector<std::string_view> la = Lines(a), lb = Lines(b);
  std::optional<std::vector<Edit>> edits = Script(la, lb, max_changes);
  if (!edits) return std::nullopt;
  std::string out;
  const size_t count = edits->size();
  for (size_t i = 0; i < count;) {
    if ((*edits)[i].op == ' ') {
      ++i;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines
    // after the last change that is at most 2 * context lines further.
    size_t start = i >= context ? i - context : 0;
    size_t end = i;  // one past the last change of the hunk
    for (size_t j = i, same = 0; j < count; ++j) {
      if ((*edits)[j].op == ' ') {
        if (++same > 2 * context) break;
      } else {
        same = 0;
        end = j + 1;
      }
    }
    size_t stop = std::min(count, end + context);
    size_t a_start = (*edits)[start].a, b_start = (*edits)[start].b;
    size_t a_len = 0, b_len = 0;
    std::string body;
    for (size_t j = start; j < stop; ++j) {
      const Edit& e = (*edits)[j];
      std::string_view line = e.op == '+' ? lb[e.b] : la[e.a];
      a_len += e.op != '+';
      b_len += e.op != '-';
      body.append(1, e.op).append(line);
      if (!line.ends_with('\n'))
        body.append("\n\\ No newline at end of file\n");
    }
    // Unified diff numbers lines from 1; an empty side starts at 0.
    out.append("@@ -")
        .append(std::to_string(a_len ? a_start + 1 : a_start))
        .append(",")
        .append(std::to_string(a_len))
        .append(" +")
        .append(std::to_string(b_len ? b_start + 1 : b_start))
        .append(",")
        .append(std::to_string(b_len))
        .append(" @@\n")
        .append(body);
    i = stop;
  }
  return out;
}

}  // namespace hermetic::cli
