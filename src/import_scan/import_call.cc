#include "import_call.h"

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "string_literal.h"

namespace hermetic::import_scan {
namespace {

// The recorded argument tokens of a candidate call; a range is [begin,
// end) into them. Each open bracket's partner is found once up front, so
// peeling grouping parentheses costs O(1) a layer: arguments may nest as deep
// as the bracket limit allows.
using Range = std::pair<size_t, size_t>;

int Depth(const Token& t) {
  if (t.kind != TokenKind::kOp) return 0;
  if (t.op == '(' || t.op == '[' || t.op == '{') return 1;
  if (t.op == ')' || t.op == ']' || t.op == '}') return -1;
  return 0;
}

class ArgTokens {
 public:
  explicit ArgTokens(const std::vector<Token>& t)
      : t_(t), close_(t.size(), kNone), has_comma_(t.size(), false) {
    std::vector<size_t> open;
    for (size_t i = 0; i < t.size(); ++i) {
      int d = Depth(t[i]);
      if (d > 0) {
        open.push_back(i);
      } else if (d < 0 && !open.empty()) {
        close_[open.back()] = i;
        open.pop_back();
      } else if (t[i].op == ',' && !open.empty()) {
        has_comma_[open.back()] = true;
      }
    }
  }

  const Token& operator[](size_t i) const { return t_[i]; }
  size_t size() const { return t_.size(); }

  // Splits on top-level commas; a trailing comma adds nothing.
  std::vector<Range> SplitOnCommas(Range r) const {
    std::vector<Range> parts;
    int depth = 0;
    size_t start = r.first;
    for (size_t i = r.first; i < r.second; ++i) {
      depth += Depth(t_[i]);
      if (depth == 0 && t_[i].op == ',') {
        parts.push_back({start, i});
        start = i + 1;
      }
    }
    if (start < r.second) parts.push_back({start, r.second});
    return parts;
  }

  // Whether r's first token opens a bracket that closes at its last.
  bool Enclosed(Range r) const {
    return r.second - r.first >= 2 && close_[r.first] == r.second - 1;
  }

  // Drops grouping parentheses: `(("m"))` is the constant "m" in the AST,
  // while `("m",)` and `()` are tuples.
  Range StripParens(Range r) const {
    while (Enclosed(r) && t_[r.first].op == '(' && r.second - r.first > 2 &&
           !has_comma_[r.first]) {
      r = {r.first + 1, r.second - 1};
    }
    return r;
  }

  std::optional<std::string> ConstantStr(Range r) const {
    r = StripParens(r);
    if (r.first == r.second) return std::nullopt;
    std::string value;
    for (size_t i = r.first; i < r.second; ++i) {
      if (t_[i].kind != TokenKind::kString) return std::nullopt;
      std::optional<std::string> piece = DecodeStringLiteral(t_[i].text);
      if (!piece) return std::nullopt;
      value += *piece;
    }
    return value;
  }

  std::optional<int> ConstantInt(Range r) const {
    r = StripParens(r);
    if (r.second - r.first != 1 || t_[r.first].kind != TokenKind::kNumber) {
      return std::nullopt;
    }
    int value = 0;
    for (char c : t_[r.first].text) {
      if (c == '_') continue;
      if (c < '0' || c > '9' || value > 1000000) return std::nullopt;
      value = value * 10 + (c - '0');
    }
    return value;
  }

  // A list, tuple or set display of constant strs (the AST's `.elts`).
  std::optional<std::vector<std::string>> ConstantStrList(Range r) const {
    r = StripParens(r);
    if (!Enclosed(r)) return std::nullopt;
    char open = t_[r.first].op;
    Range inner{r.first + 1, r.second - 1};
    // `{}` is a dict, which has no elements to read.
    if (open == '{' && inner.first == inner.second) return std::nullopt;
    std::vector<std::string> out;
    for (Range e : SplitOnCommas(inner)) {
      std::optional<std::string> s = ConstantStr(e);
      if (!s) return std::nullopt;
      out.push_back(std::move(*s));
    }
    return out;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  const std::vector<Token>& t_;
  std::vector<size_t> close_;    // of each open bracket, else kNone
  std::vector<bool> has_comma_;  // an open bracket holds a top-level comma
};

}  // namespace

// torch's visit_Call for `__import__(...)`, and our equivalent for
// importlib.import_module.
void ReadImportCall(Callee callee, const std::vector<Token>& arg_tokens,
                    std::string_view package, std::vector<ImportRef>* out) {
  const ArgTokens args(arg_tokens);
  std::vector<Range> positional;
  std::vector<std::pair<std::string_view, Range>> keywords;
  for (Range a : args.SplitOnCommas({0, args.size()})) {
    const Token& first = args[a.first];
    if (first.kind == TokenKind::kOp &&
        (first.text == "*" || first.text == "**")) {
      return;
    }
    if (first.kind == TokenKind::kName && a.second - a.first >= 2 &&
        args[a.first + 1].text == "=") {
      keywords.push_back({first.text, {a.first + 2, a.second}});
    } else {
      positional.push_back(a);
    }
  }
  auto arg = [&](size_t index,
                 std::string_view keyword) -> std::optional<Range> {
    if (positional.size() > index) return positional[index];
    for (auto& [k, r] : keywords) {
      if (k == keyword) return r;
    }
    return std::nullopt;
  };

  if (callee == Callee::kImportModule) {
    std::optional<Range> name_arg = arg(0, "name");
    if (!name_arg) return;
    std::optional<std::string> name = args.ConstantStr(*name_arg);
    if (!name || name->empty()) return;
    size_t level = name->find_first_not_of('.');
    if (level == std::string::npos) level = name->size();
    if (level == 0) {
      out->push_back({*name, std::nullopt});
      return;
    }
    std::optional<Range> anchor_arg = arg(1, "package");
    if (!anchor_arg) return;
    std::optional<std::string> anchor = args.ConstantStr(*anchor_arg);
    if (!anchor) return;
    Result<std::string> resolved =
        ResolveRelative(std::string_view(*name).substr(level), *anchor,
                        static_cast<int>(level));
    if (resolved.ok()) out->push_back({*resolved, std::nullopt});
    return;
  }

  if (positional.empty()) return;
  std::optional<std::string> name = args.ConstantStr(positional[0]);
  if (!name) return;
  std::vector<std::string> fromlist;
  if (positional.size() > 3 || arg(3, "fromlist")) {
    std::optional<std::vector<std::string>> list =
        args.ConstantStrList(*arg(3, "fromlist"));
    if (!list) return;
    fromlist = std::move(*list);
  }
  int level = 0;
  if (std::optional<Range> level_arg = arg(4, "level")) {
    std::optional<int> value = args.ConstantInt(*level_arg);
    if (!value) return;
    level = *value;
  }
  // Like torch, an unresolvable relative name drops what is left of the
  // call without failing the scan.
  if (fromlist.empty()) {
    // The parent ("a.b" for "a.b.c") is what the import binds; torch keeps
    // the name itself unresolved and resolves only the parent.
    out->push_back({*name, std::nullopt});
    size_t dot = name->rfind('.');
    if (dot == std::string::npos) return;
    std::string parent = name->substr(0, dot);
    if (level > 0) {
      Result<std::string> resolved = ResolveRelative(parent, package, level);
      if (!resolved.ok()) return;
      parent = std::move(resolved).value();
    }
    out->push_back({std::move(parent), std::nullopt});
    return;
  }
  std::string module = *name;
  if (level > 0) {
    Result<std::string> resolved = ResolveRelative(module, package, level);
    if (!resolved.ok()) return;
    module = std::move(resolved).value();
  }
  for (std::string& alias : fromlist) {
    if (alias == "*") {
      out->push_back({module, std::nullopt});
    } else {
      out->push_back({module, std::move(alias)});
    }
  }
}

}  // namespace hermetic::import_scan
