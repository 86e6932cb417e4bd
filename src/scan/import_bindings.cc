#include "import_bindings.h"

#include <cstdint>

namespace hermetic::scan {
namespace {

enum class Kind { kName, kDot, kComma, kOpen, kClose, kStar, kEnd, kOther };

struct Token {
  Kind kind = Kind::kEnd;
  std::string_view text;  // for names
};

bool IsNameStart(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c >= 0x80;
}

bool IsNameChar(uint8_t c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// r, b, u, f and their two-letter combinations, in either case.
bool IsStringPrefix(std::string_view word) {
  if (word.empty() || word.size() > 2) return false;
  for (char c : word) {
    if (std::string_view("rRbBuUfF").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Only what an import statement is made of is told apart; everything else
// is kOther. A statement ends at a newline outside brackets or a ';'.
class Lexer {
 public:
  explicit Lexer(std::string_view source) : s_(source) {}

  // kEnd after the last token, repeatedly.
  bool AtEnd() const { return i_ >= s_.size(); }

  Token Next() {
    while (i_ < s_.size()) {
      const auto c = static_cast<uint8_t>(s_[i_]);
      if (c == ' ' || c == '\t' || c == '\f' || c == '\r') {
        ++i_;
      } else if (c == '\\') {
        i_ += 2;  // a line continuation, or a stray backslash
      } else if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else if (c == '\n') {
        ++i_;
        if (depth_ == 0) return {Kind::kEnd, {}};
      } else if (c == ';') {
        ++i_;
        return {Kind::kEnd, {}};
      } else if (c == '\'' || c == '"') {
        SkipString();
        return {Kind::kOther, {}};
      } else if (IsNameStart(c)) {
        const size_t start = i_;
        while (i_ < s_.size() && IsNameChar(static_cast<uint8_t>(s_[i_]))) {
          ++i_;
        }
        std::string_view word = s_.substr(start, i_ - start);
        if (i_ < s_.size() && (s_[i_] == '\'' || s_[i_] == '"') &&
            IsStringPrefix(word)) {
          SkipString();
          return {Kind::kOther, {}};
        }
        return {Kind::kName, word};
      } else if (c >= '0' && c <= '9') {
        // A number, exponent and dots included (`1.e5`, `0x_1`).
        while (i_ < s_.size() &&
               (IsNameChar(static_cast<uint8_t>(s_[i_])) || s_[i_] == '.')) {
          ++i_;
        }
        return {Kind::kOther, {}};
      } else {
        ++i_;
        switch (c) {
          case '.':
            return {Kind::kDot, {}};
          case ',':
            return {Kind::kComma, {}};
          case '*':
            return {Kind::kStar, {}};
          case '(':
            ++depth_;
            return {Kind::kOpen, {}};
          case '[':
          case '{':
            ++depth_;
            return {Kind::kOther, {}};
          case ')':
            if (depth_ > 0) --depth_;
            return {Kind::kClose, {}};
          case ']':
          case '}':
            if (depth_ > 0) --depth_;
            return {Kind::kOther, {}};
          default:
            return {Kind::kOther, {}};
        }
      }
    }
    return {Kind::kEnd, {}};
  }

 private:
  // From the opening quote to past the closing one (or to the end of the
  // line of an unterminated single-quoted string).
  void SkipString() {
    const char quote = s_[i_];
    auto triple_at = [&](size_t at) {
      return at + 2 < s_.size() && s_[at] == quote && s_[at + 1] == quote &&
             s_[at + 2] == quote;
    };
    const bool triple = triple_at(i_);
    i_ += triple ? 3 : 1;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '\\') {
        i_ += 2;
      } else if (c == quote && (!triple || triple_at(i_))) {
        i_ += triple ? 3 : 1;
        return;
      } else if (c == '\n' && !triple) {
        return;
      } else {
        ++i_;
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  int depth_ = 0;
};

bool IsWord(const Token& t, std::string_view word) {
  return t.kind == Kind::kName && t.text == word;
}

// A dotted name starting at `t` (a name); `t` is left at the token after it.
std::string ReadDotted(Lexer& lexer, Token& t) {
  std::string dotted(t.text);
  t = lexer.Next();
  while (t.kind == Kind::kDot) {
    t = lexer.Next();
    if (t.kind != Kind::kName) return {};
    dotted.append(".").append(t.text);
    t = lexer.Next();
  }
  return dotted;
}

}  // namespace

std::vector<ImportBinding> FindImportBindings(std::string_view source) {
  std::vector<ImportBinding> out;
  Lexer lexer(source);
  Token t = lexer.Next();
  while (!lexer.AtEnd() || t.kind != Kind::kEnd) {
    if (IsWord(t, "import")) {
      // import a.b [as c] (, ...)*
      t = lexer.Next();
      while (t.kind == Kind::kName) {
        std::string target = ReadDotted(lexer, t);
        if (target.empty()) break;
        if (IsWord(t, "as")) {
          t = lexer.Next();
          if (t.kind != Kind::kName) break;
          out.push_back({std::string(t.text), std::move(target)});
          t = lexer.Next();
        } else {
          std::string first = target.substr(0, target.find('.'));
          out.push_back({first, first});
        }
        if (t.kind != Kind::kComma) break;
        t = lexer.Next();
      }
    } else if (IsWord(t, "from")) {
      // from m import n [as k] (, ...)*, maybe in parentheses; `yield from`
      // and `raise ... from` stop at the first token that does not fit.
      t = lexer.Next();
      if (t.kind == Kind::kDot) {
        // Relative: a module of the package, scanned itself.
        while (t.kind != Kind::kEnd) t = lexer.Next();
        continue;
      }
      if (t.kind != Kind::kName) continue;
      std::string module = ReadDotted(lexer, t);
      if (module.empty() || !IsWord(t, "import")) continue;
      t = lexer.Next();
      if (t.kind == Kind::kOpen) t = lexer.Next();
      while (t.kind == Kind::kName) {
        std::string name(t.text);
        t = lexer.Next();
        std::string target = module + "." + name;
        if (IsWord(t, "as")) {
          t = lexer.Next();
          if (t.kind != Kind::kName) break;
          name = std::string(t.text);
          t = lexer.Next();
        }
        out.push_back({std::move(name), std::move(target)});
        if (t.kind != Kind::kComma) break;
        t = lexer.Next();
      }
    } else {
      t = lexer.Next();
    }
  }
  return out;
}

}  // namespace hermetic::scan
