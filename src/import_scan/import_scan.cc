#include "hermetic/import_scan.h"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_set>
#include <utility>

#include "import_call.h"
#include "string_literal.h"
#include "token.h"

namespace hermetic {

std::string ImportPackageOf(std::string_view module_name, bool is_package) {
  if (is_package) return std::string(module_name);
  size_t dot = module_name.rfind('.');
  return std::string(
      dot == std::string_view::npos ? module_name : module_name.substr(0, dot));
}

Result<std::string> ResolveRelative(std::string_view name,
                                    std::string_view package, int level) {
  // Dropping level-1 trailing components needs level components in all.
  std::string_view base = package;
  for (int i = 1; i < level; ++i) {
    size_t dot = base.rfind('.');
    if (dot == std::string_view::npos) {
      return Status::InvalidArgument(
          "attempted relative import beyond top-level package");
    }
    base = base.substr(0, dot);
  }
  std::string out(base);
  if (!name.empty()) out.append(1, '.').append(name);
  return out;
}

namespace import_scan {
namespace {

char OpCode(std::string_view text) {
  if (text.size() == 1) return text[0];
  if (text == "...") return 'E';
  if (text == ":=") return 'W';
  return 'O';
}

// Keywords packed little-endian into a word each: one integer compare per
// candidate instead of a string compare.
constexpr uint64_t Pack(std::string_view w) {
  uint64_t v = 0;
  for (size_t i = w.size(); i-- > 0;) {
    v = (v << 8) | static_cast<unsigned char>(w[i]);
  }
  return v;
}

constexpr std::array<uint64_t, 32> kKeywordList = {
    Pack("and"),    Pack("as"),      Pack("assert"),   Pack("async"),
    Pack("await"),  Pack("break"),   Pack("class"),    Pack("continue"),
    Pack("def"),    Pack("del"),     Pack("elif"),     Pack("else"),
    Pack("except"), Pack("finally"), Pack("for"),      Pack("from"),
    Pack("global"), Pack("if"),      Pack("import"),   Pack("in"),
    Pack("is"),     Pack("lambda"),  Pack("nonlocal"), Pack("not"),
    Pack("or"),     Pack("pass"),    Pack("raise"),    Pack("return"),
    Pack("try"),    Pack("while"),   Pack("with"),     Pack("yield")};

// Every name is looked up, so the keywords sit in a table indexed by a
// multiplicative hash of the packed word that no two keywords share (the
// multiplier was searched for; kKeywordsCollide checks it at compile time):
// one probe and one compare per name.
constexpr uint64_t kKeywordMultiplier = 0x35a35fa367741713;
constexpr size_t KeywordSlot(uint64_t packed) {
  return static_cast<size_t>((packed * kKeywordMultiplier) >> 58);
}
constexpr std::array<uint64_t, 64> kKeywordTable = [] {
  std::array<uint64_t, 64> t{};
  for (uint64_t k : kKeywordList) t[KeywordSlot(k)] = k;
  return t;
}();
constexpr bool kKeywordsCollide = [] {
  for (uint64_t k : kKeywordList) {
    if (kKeywordTable[KeywordSlot(k)] != k) return true;
  }
  return false;
}();
static_assert(!kKeywordsCollide);

// `w` lies in a buffer ending at `end`.
bool IsKeyword(std::string_view w, const char* end) {
  if (w.size() < 2 || w.size() > 8 || w[0] < 'a' || w[0] > 'y') return false;
  uint64_t v;
  if constexpr (std::endian::native == std::endian::little) {
    if (end - w.data() >= 8) {
      std::memcpy(&v, w.data(), 8);
      v &= ~uint64_t{0} >> (64 - 8 * w.size());
    } else {
      v = Pack(w);
    }
  } else {
    v = Pack(w);
  }
  return kKeywordTable[KeywordSlot(v)] == v;
}

// Bit 1: may start an identifier; bit 2: may continue one. Every non-ASCII
// byte counts as a letter (Python's XID tables are not reproduced).
constexpr std::array<uint8_t, 256> kNameClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool start = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 c >= 0x80;
    t[c] =
        static_cast<uint8_t>((start ? 3 : 0) | (c >= '0' && c <= '9' ? 2 : 0));
  }
  return t;
}();
bool IsNameStart(unsigned char c) { return kNameClass[c] & 1; }
bool IsNameChar(unsigned char c) { return kNameClass[c] & 2; }

// Operator characters: 1 for those that always stand alone, 2 for those
// that may begin a longer operator, 4 for those that may continue one.
constexpr std::array<uint8_t, 256> kOpClass = [] {
  std::array<uint8_t, 256> t{};
  for (char c : std::string_view("()[]{},;:.~")) t[c] |= 1;
  for (char c : std::string_view("+-*/%@&|^<>=!")) t[c] |= 2;
  for (char c : std::string_view("*/<>=")) t[c] |= 4;
  return t;
}();
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

// What the lexer skips or ends a line on between tokens.
constexpr std::array<bool, 256> kLayoutChar = [] {
  std::array<bool, 256> t{};
  for (char c : std::string_view(" \t\f\r#\\\n")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}();

// One open bracket (or the module itself, or an f-string and its fields).
// Findings of the primary expression being scanned at this level wait in
// `pending`: a later call trailer (`x.f()`) makes them arguments-of-a-call's
// callee, which torch's visitor never descends into, so they are dropped.
enum class LevelKind : uint8_t {
  kModule,
  kParen,
  kBracket,
  kBrace,
  kCall,
  kFString,     // lexing the literal part of an f-string
  kField,       // an expression inside an f-string's braces
  kFormatSpec,  // the format spec after ':' in a field
  kParams,      // the parameter list of a def
};

// The tokens Scanner::Reorder acts on; it ignores the others, which are
// most tokens (plain names, literals, most operators), so they skip the call.
constexpr std::array<bool, 256> kReorderOps = [] {
  std::array<bool, 256> t{};
  for (char c : std::string_view(";@,=:*WO"))
    t[static_cast<unsigned char>(c)] = true;
  return t;
}();
bool MayReorder(const Token& tok) {
  switch (tok.kind) {
    case TokenKind::kNewline:
    case TokenKind::kEnd:
      return true;
    case TokenKind::kName:
      return tok.keyword;
    case TokenKind::kOp:
      return kReorderOps[static_cast<unsigned char>(tok.op)];
    default:
      return false;
  }
}

// Where a level files its findings: the AST visits some children in another
// order than the source shows them (dict keys before values; a def's
// annotations, then keyword-only defaults, then the ** annotation, then the
// positional defaults), so findings are tagged and stably sorted by tag when
// the level closes.
enum Bucket : uint8_t {
  kMain,
  kDictValues,
  kParamAnnotations,
  kParamKwDefaults,
  kParamKwargAnnotation,
  kParamDefaults,
  // A lambda's keyword-only defaults precede its positional ones; both are
  // retagged with the enclosing bucket at the lambda's ':'.
  kLambdaKwDefaults,
  kLambdaDefaults,
};

struct Finding {
  uint8_t bucket;
  ImportRef ref;
};

// A lambda whose ':' has not come yet. Lambdas nest in each other's
// defaults, so a level keeps a stack of them.
struct OpenLambda {
  uint8_t saved_bucket;     // the enclosing expression's
  size_t start;             // of its findings in the level's `found`
  bool after_star = false;  // parameters are keyword-only from here
};

// What a Level holds besides its findings: reset whenever one is opened.
struct LevelState {
  LevelKind kind = LevelKind::kModule;
  char open = 0;
  int line = 0;
  // For kFString and kFormatSpec: the literal's quote character, whether
  // triple-quoted and raw.
  char quote = 0;
  bool triple = false;
  bool raw = false;
  uint8_t bucket = kMain;
  // `A if B else C` is visited B, A, C: where the current expression's
  // findings begin in `found`, and where A and B begin once `if` is seen.
  // Buckets only change where an expression begins, so these ranges hold
  // findings of one bucket.
  size_t expr_start = 0;
  size_t if_start = kNoIf;
  size_t test_start = 0;
  bool for_seen = false;       // a `for` whose `in` has not come yet
  bool comprehension = false;  // later `if`s filter a comprehension
  bool after_star = false;     // a def's parameters are keyword-only
  bool kwarg = false;          // the parameter after `**`
  static constexpr size_t kNoIf = SIZE_MAX;
};

struct Level : LevelState {
  std::vector<Finding> pending;  // buckets are set when committed
  std::vector<Finding> found;    // committed, in source order
  std::vector<OpenLambda> lambdas;

  // Keeps the vectors' buffers: see LevelStack.
  void Reset(LevelKind k, char o, int l) {
    static_cast<LevelState&>(*this) = LevelState{k, o, l};
    pending.clear();
    found.clear();
    lambdas.clear();
  }
};

// The open levels, innermost last. A bracket opens and closes a level, and
// most brackets hold no findings: a closed level's storage is kept for the
// next level opened at its depth, so that opening one allocates nothing.
class LevelStack {
 public:
  size_t size() const { return size_; }
  Level& front() { return storage_.front(); }
  Level& back() { return storage_[size_ - 1]; }
  const Level& back() const { return storage_[size_ - 1]; }
  Level& operator[](size_t i) { return storage_[i]; }
  const Level& operator[](size_t i) const { return storage_[i]; }

  // Invalidates references to levels, as a vector's push_back does.
  Level& Push(LevelKind kind, char open, int line) {
    if (size_ == storage_.size()) storage_.emplace_back();
    Level& level = storage_[size_++];
    level.Reset(kind, open, line);
    return level;
  }
  // The level closed, valid until the next Push.
  Level& Pop() { return storage_[--size_]; }

 private:
  std::vector<Level> storage_;
  size_t size_ = 0;
};

// A decorated (or annotated) def or class: the AST visits its decorators
// and then its return annotation after the body, so their findings wait
// here until a line indented no deeper than the header ends the body.
struct Deferred {
  explicit Deferred(size_t i) : indent(i) {}
  size_t indent;
  bool body_started = false;
  std::vector<ImportRef> decorators;
  std::vector<ImportRef> returns;
};

class Scanner {
 public:
  Scanner(std::string_view source, std::string_view module_name,
          bool is_package, const ImportScanOptions& options)
      : src_(source),
        package_(ImportPackageOf(module_name, is_package)),
        options_(options) {}

  Result<std::vector<ImportRef>> Run();

 private:
  Status SyntaxError(std::string_view reason, int line) const {
    return Status::InvalidArgument(std::string(reason) + " (<unknown>, line " +
                                   std::to_string(line) + ")");
  }

  // Lexing.
  // src_[start, end), without substr's bounds check.
  std::string_view Text(size_t start, size_t end) const {
    return std::string_view(src_.data() + start, end - start);
  }
  Status Lex(Token* tok);
  Status LexCode(Token* tok);
  // The position of the next `quote` or backslash of a triple-quoted
  // string's text from `p` (or the end), counting the lines passed.
  size_t SkipTripleQuotedText(size_t p, char quote);
  Status LexStringBody(size_t start, size_t body, char quote, bool triple,
                       Token* tok);
  // `enclosing` levels are searched for an f-string the literal is in.
  Status Unterminated(bool triple, int start_line, size_t enclosing) const;
  Status LexFStringPart(Token* tok);
  void SkipNumber();
  bool AtFieldTop() const {
    return levels_.size() > 1 && levels_.back().kind == LevelKind::kField;
  }

  // Parsing.
  Status Handle(const Token& tok);
  Status Open(LevelKind kind, char open, int line);
  Status Close(char close, int line);
  void CommitPending(Level& level);
  void MoveFindings(Level& from, std::vector<Finding>* to);
  void FlushModule();
  void Reorder(const Token& tok, Level& level);
  void StartLogicalLine();
  void BeginDeferred();
  void ReleaseDeferred();  // the innermost
  void Emit(ImportRef ref);
  Status HandleImportStatement(const Token& tok);
  bool EndsExpression(const Token& tok) const;

  std::string_view src_;
  std::string package_;
  const ImportScanOptions& options_;
  size_t pos_ = 0;
  int line_ = 1;

  LevelStack levels_;
  int call_depth_ = 0;
  // The current token and the four before it, newest first, in five slots
  // that rotate: the lexer writes each token into the slot of the one that
  // has just become too old (copying four tokens along per token was a
  // measurable share of a scan). Default tokens are statement boundaries,
  // which is what precedes the first.
  std::array<Token, 5> slots_;
  Token* current_ = &slots_[0];
  Token* prev_ = &slots_[1];
  Token* prev2_ = &slots_[2];
  Token* prev3_ = &slots_[3];
  Token* prev4_ = &slots_[4];

  // Decorator and def/class bookkeeping (see Deferred).
  std::vector<Deferred> deferred_;
  // Where module findings go: named, not pointed to, since deferred_ grows.
  // A decorator or a header never spans a statement boundary, which resets
  // both.
  enum class Capture : uint8_t { kNone, kDecorators, kReturns };
  Capture capture_ = Capture::kNone;
  bool in_header_ = false;
  size_t indent_ = 0;  // of the current logical line
  // The lexer measures the indentation of each logical line's first
  // physical line (a line may continue with a backslash before its first
  // token).
  bool at_line_start_ = true;
  size_t line_indent_ = 0;

  // The import statement being parsed, if any.
  enum class StmtState : uint8_t {
    kNone,
    kImportName,  // import a.b [as c], ...
    kImportAlias,
    kFromModule,  // from ..a.b
    kFromNames,   // import x [as y], ...
    kFromAlias,
  } stmt_ = StmtState::kNone;
  std::string dotted_;
  int from_level_ = 0;
  std::string from_module_;

  // Tokens of the arguments of a candidate `__import__(...)` or
  // `importlib.import_module(...)` call, recorded while it is open.
  Callee candidate_ = Callee::kNone;
  size_t candidate_level_ = 0;
  int fstring_nesting_in_candidate_ = 0;
  std::vector<Token> args_;

  std::vector<ImportRef> out_;
  // module, then "\1" + name or "\0" for none: source holds no NUL bytes.
  std::unordered_set<std::string> seen_;

  // Name uses, tracked only for a callback (see NameUse).
 public:
  void set_name_callback(const NameUseCallback* on_name) { on_name_ = on_name; }

 private:
  struct OpenBracket {
    bool call = false;
    bool constant = true;
    std::string name;  // of the callee
    int line = 0;
    std::string_view first_argument;
    std::vector<std::string_view> strings;
  };
  void TrackName(const Token& tok);
  // What the token after a bare name argument says of it.
  void SettlePending(const Token& tok, OpenBracket& bracket);
  void ArgumentToken(const Token& tok, OpenBracket& bracket);
  void PushBracket(bool call);
  void PopBracket();
  const NameUseCallback* on_name_ = nullptr;
  std::vector<OpenBracket> brackets_;  // entries past open_ keep capacity
  size_t open_ = 0;
  enum class Chain : uint8_t { kNone, kIn, kAfterDot } chain_ = Chain::kNone;
  // The chain so far: its first name, and once a '.' follows, the whole
  // dotted name (most names are never dotted, and are not copied).
  std::string_view chain_first_;
  std::string chain_name_;
  bool chain_dotted_ = false;
  int chain_line_ = 0;
  std::string_view ChainName() const {
    return chain_dotted_ ? std::string_view(chain_name_) : chain_first_;
  }
  bool name_pending_ = false;   // a bare name argument: constant if '=' next
  bool first_pending_ = false;  // the first argument so far is a bare name
  bool at_first_ = false;       // the next token starts the first argument
};

void Scanner::SkipNumber() {
  size_t p = pos_;
  if (src_[p] == '0' && p + 1 < src_.size() &&
      std::string_view("xXoObB").find(src_[p + 1]) != std::string_view::npos) {
    p += 2;
    while (p < src_.size() && IsNameChar(src_[p])) ++p;
    pos_ = p;
    return;
  }
  while (p < src_.size() &&
         (IsDigit(src_[p]) || src_[p] == '_' || src_[p] == '.')) {
    ++p;
  }
  if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
    ++p;
    if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
    while (p < src_.size() && (IsDigit(src_[p]) || src_[p] == '_')) ++p;
  }
  if (p < src_.size() && (src_[p] == 'j' || src_[p] == 'J')) ++p;
  pos_ = p;
}

// Python 3.11 reads an f-string as one token, so a broken literal inside
// one is reported as a broken f-string.
Status Scanner::Unterminated(bool triple, int start_line,
                             size_t enclosing) const {
  for (size_t i = enclosing; i-- > 1;) {
    if (levels_[i].kind == LevelKind::kFString) {
      return SyntaxError("f-string: expecting '}'", levels_[i].line);
    }
  }
  return SyntaxError(std::string(triple ? "unterminated triple-quoted string"
                                        : "unterminated string") +
                         " literal (detected at line " + std::to_string(line_) +
                         ")",
                     start_line);
}

// Scans a plain (non-f) string from `body` (just after the opening quote)
// to its closing quote.
Status Scanner::LexStringBody(size_t start, size_t body, char quote,
                              bool triple, Token* tok) {
  int start_line = line_;
  size_t p = body;
  while (true) {
    if (triple) p = SkipTripleQuotedText(p, quote);
    if (p >= src_.size()) {
      return Unterminated(triple, start_line, levels_.size());
    }
    char c = src_[p];
    if (c == '\\') {
      // A backslash always protects the next character from ending the
      // literal, raw or not.
      if (p + 1 < src_.size() && src_[p + 1] == '\n') ++line_;
      p += 2;
      continue;
    }
    if (c == '\n') {
      if (!triple) return Unterminated(false, start_line, levels_.size());
      ++line_;
    } else if (c == quote) {
      if (!triple) break;
      if (p + 2 < src_.size() && src_[p + 1] == quote && src_[p + 2] == quote) {
        p += 2;
        break;
      }
    }
    ++p;
  }
  pos_ = p + 1;
  tok->kind = TokenKind::kString;
  tok->text = Text(start, pos_);
  tok->line = start_line;
  return Status::Ok();
}

size_t Scanner::SkipTripleQuotedText(size_t p, char quote) {
  // Docstrings are most of many modules' text: jump between quotes with
  // memchr and count the lines in between, as the byte loop would.
  if (p >= src_.size()) return p;
  const char* data = src_.data();
  const char* end = data + src_.size();
  const char* from = data + p;
  const void* found = std::memchr(from, quote, end - from);
  const char* stop = found ? static_cast<const char*>(found) : end;
  const void* backslash = std::memchr(from, '\\', stop - from);
  if (backslash) stop = static_cast<const char*>(backslash);
  // A plain loop the compiler vectorises (std::count's predicate it did
  // not).
  int lines = 0;
  for (const char* c = from; c < stop; ++c) lines += *c == '\n';
  line_ += lines;
  return stop - data;
}

// Lexes the literal text of an f-string (or of a format spec) up to the
// next replacement field or the end of the literal.
Status Scanner::LexFStringPart(Token* tok) {
  Level& top = levels_.back();
  bool spec = top.kind == LevelKind::kFormatSpec;
  const Level& str = top;  // a spec carries its literal's quoting
  size_t p = pos_;
  while (true) {
    if (p >= src_.size()) {
      if (spec) return SyntaxError("f-string: expecting '}'", line_);
      return Unterminated(str.triple, str.line, levels_.size() - 1);
    }
    char c = src_[p];
    if (c == '\\') {
      if (!str.raw && p + 2 < src_.size() && src_[p + 1] == 'N' &&
          src_[p + 2] == '{') {
        size_t close = src_.find('}', p);
        if (close == std::string_view::npos) break;
        p = close + 1;
        continue;
      }
      if (p + 1 < src_.size() && src_[p + 1] == '\n') ++line_;
      if (p + 1 < src_.size() && src_[p + 1] != '{' && src_[p + 1] != '}') {
        ++p;
      }
      ++p;
      continue;
    }
    if (c == '\n') {
      if (!str.triple) {
        if (spec) return SyntaxError("f-string: expecting '}'", line_);
        return Unterminated(false, str.line, levels_.size() - 1);
      }
      ++line_;
    } else if (c == str.quote && (!str.triple || (p + 2 < src_.size() &&
                                                  src_[p + 1] == str.quote &&
                                                  src_[p + 2] == str.quote))) {
      if (spec) return SyntaxError("f-string: expecting '}'", line_);
      pos_ = p + (str.triple ? 3 : 1);
      tok->kind = TokenKind::kOp;
      tok->text = "\"";  // end of the f-string
      tok->op = '"';
      tok->line = line_;
      return Status::Ok();
    } else if (c == '{') {
      if (!spec && p + 1 < src_.size() && src_[p + 1] == '{') {
        p += 2;
        continue;
      }
      pos_ = p + 1;
      tok->kind = TokenKind::kOp;
      tok->text = "{";  // opens a field
      tok->op = '{';
      tok->line = line_;
      return Status::Ok();
    } else if (c == '}') {
      if (spec) {
        pos_ = p + 1;
        tok->kind = TokenKind::kOp;
        tok->text = "}";
        tok->op = '}';
        tok->line = line_;
        return Status::Ok();
      }
      if (p + 1 < src_.size() && src_[p + 1] == '}') {
        p += 2;
        continue;
      }
      return SyntaxError("f-string: single '}' is not allowed", line_);
    }
    ++p;
  }
  return SyntaxError("f-string: expecting '}'", line_);
}

Status Scanner::Lex(Token* tok) {
  LevelKind k = levels_.back().kind;
  if (k == LevelKind::kFString || k == LevelKind::kFormatSpec) {
    return LexFStringPart(tok);
  }
  return LexCode(tok);
}

Status Scanner::LexCode(Token* tok) {
  while (pos_ < src_.size()) {
    unsigned char c = src_[pos_];
    // One test for the bytes that begin a token (most), and the chain only
    // for whitespace, comments and line ends.
    if (kLayoutChar[c]) {
      if (c == ' ') {
        // Runs of spaces (indentation, alignment) are most of the whitespace.
        size_t end = pos_ + 1;
        while (end < src_.size() && src_[end] == ' ') ++end;
        if (at_line_start_) line_indent_ += end - pos_;
        pos_ = end;
        continue;
      }
      if (c == '\t' || c == '\f' || c == '\r') {
        // Indentation as Python's tokenizer counts it: tabs to the next
        // multiple of 8, form feed restarts, and a backslash continuation
        // before the first token keeps counting on the next line.
        if (at_line_start_) {
          if (c == '\t') line_indent_ = (line_indent_ / 8 + 1) * 8;
          if (c == '\f') line_indent_ = 0;
        }
        ++pos_;
        continue;
      }
      if (c == '#') {
        const void* newline =
            std::memchr(src_.data() + pos_, '\n', src_.size() - pos_);
        pos_ = newline ? static_cast<const char*>(newline) - src_.data()
                       : src_.size();
        continue;
      }
      if (c == '\\') {
        size_t p = pos_ + 1;
        if (p < src_.size() && src_[p] == '\r') ++p;
        if (p >= src_.size()) {
          return SyntaxError("unexpected EOF while parsing", line_);
        }
        if (src_[p] != '\n') {
          return SyntaxError(
              "unexpected character after line continuation character", line_);
        }
        pos_ = p + 1;
        ++line_;
        continue;
      }
      if (c == '\n') {
        ++pos_;
        ++line_;
        if (levels_.size() == 1) {
          at_line_start_ = true;
          line_indent_ = 0;
          tok->kind = TokenKind::kNewline;
          tok->text = "\n";
          tok->line = line_ - 1;
          return Status::Ok();
        }
        continue;
      }
    }
    at_line_start_ = false;
    tok->line = line_;
    size_t start = pos_;
    if (IsNameStart(c)) {
      // Locals: a char load may alias the members, which would be
      // reloaded and stored on every byte.
      const char* data = src_.data();
      size_t end = pos_ + 1;
      while (end < src_.size() && IsNameChar(data[end])) ++end;
      pos_ = end;
      std::string_view word = Text(start, pos_);
      if (pos_ < src_.size() && (src_[pos_] == '\'' || src_[pos_] == '"')) {
        std::optional<StringPrefix> prefix = ParseStringPrefix(word);
        if (prefix) {
          char quote = src_[pos_];
          bool triple = pos_ + 2 < src_.size() && src_[pos_ + 1] == quote &&
                        src_[pos_ + 2] == quote;
          size_t body = pos_ + (triple ? 3 : 1);
          if (prefix->f) {
            pos_ = body;
            tok->kind = TokenKind::kFString;
            tok->text = Text(start, body);
            return Status::Ok();
          }
          return LexStringBody(start, body, quote, triple, tok);
        }
      }
      tok->kind = TokenKind::kName;
      tok->text = word;
      tok->keyword = IsKeyword(word, src_.data() + src_.size());
      return Status::Ok();
    }
    if (c == '\'' || c == '"') {
      bool triple =
          pos_ + 2 < src_.size() && src_[pos_ + 1] == c && src_[pos_ + 2] == c;
      return LexStringBody(start, pos_ + (triple ? 3 : 1), c, triple, tok);
    }
    if (IsDigit(c) ||
        (c == '.' && pos_ + 1 < src_.size() && IsDigit(src_[pos_ + 1]))) {
      SkipNumber();
      tok->kind = TokenKind::kNumber;
      tok->text = Text(start, pos_);
      return Status::Ok();
    }
    tok->kind = TokenKind::kOp;
    if (c == '.' && src_.size() - pos_ >= 3 && src_[pos_ + 1] == '.' &&
        src_[pos_ + 2] == '.') {
      pos_ += 3;
    } else if (kOpClass[c] & 1) {
      ++pos_;
      // Inside an f-string field, ':' and '!' end the expression; '!='
      // and ':=' never occur at a field's top level unparenthesised.
      if (c == ':' && pos_ < src_.size() && src_[pos_] == '=' &&
          !AtFieldTop()) {
        ++pos_;
      }
    } else if (kOpClass[c] & 2) {
      // Multi-character operators; only "=" versus "==" and "*" versus
      // "**" matter to the scanner, so their exact split is not modelled.
      ++pos_;
      while (pos_ < src_.size() && pos_ - start < 3 &&
             (kOpClass[static_cast<unsigned char>(src_[pos_])] & 4)) {
        ++pos_;
      }
    } else {
      return SyntaxError("invalid syntax", line_);
    }
    tok->text = Text(start, pos_);
    tok->op = OpCode(tok->text);
    return Status::Ok();
  }
  tok->kind = TokenKind::kEnd;
  tok->text = {};
  tok->line = line_;
  return Status::Ok();
}

bool Scanner::EndsExpression(const Token& tok) const {
  switch (tok.kind) {
    case TokenKind::kName:
      return !tok.keyword;
    case TokenKind::kNumber:
    case TokenKind::kString:
      return true;
    case TokenKind::kOp:
      return tok.op == ')' || tok.op == ']' || tok.op == '}' || tok.op == '"' ||
             tok.op == 'E';
    default:
      return false;
  }
}

void Scanner::Emit(ImportRef ref) {
  std::string key = ref.module;
  if (ref.name) {
    key.append(1, '\1').append(*ref.name);
  } else {
    key.append(1, '\0');
  }
  if (seen_.insert(std::move(key)).second) out_.push_back(std::move(ref));
}

// Appends `from` to `to`, emptying `from`. Findings climb one level per
// closing bracket, so hostile nesting around many findings moves each up to
// max_bracket_depth times: into an empty vector, which is the usual case,
// the buffer is handed over instead.
void AppendFindings(std::vector<Finding>* from, std::vector<Finding>* to) {
  if (to->empty()) {
    to->swap(*from);
  } else {
    to->insert(to->end(), std::make_move_iterator(from->begin()),
               std::make_move_iterator(from->end()));
  }
  from->clear();
}

void Scanner::CommitPending(Level& level) {
  if (level.pending.empty()) return;
  for (Finding& f : level.pending) f.bucket = level.bucket;
  AppendFindings(&level.pending, &level.found);
}

void Scanner::MoveFindings(Level& from, std::vector<Finding>* to) {
  CommitPending(from);
  auto by_bucket = [](const Finding& a, const Finding& b) {
    return a.bucket < b.bucket;
  };
  if (!std::is_sorted(from.found.begin(), from.found.end(), by_bucket)) {
    std::stable_sort(from.found.begin(), from.found.end(), by_bucket);
  }
  AppendFindings(&from.found, to);
}

// Module-level findings are held until a statement boundary so that an
// IfExp can still reorder them.
void Scanner::FlushModule() {
  Level& module = levels_.front();
  CommitPending(module);
  std::vector<ImportRef>* sink = nullptr;
  if (capture_ != Capture::kNone && !deferred_.empty()) {
    sink = capture_ == Capture::kDecorators ? &deferred_.back().decorators
                                            : &deferred_.back().returns;
  }
  for (Finding& f : module.found) {
    if (sink) {
      sink->push_back(std::move(f.ref));
    } else {
      Emit(std::move(f.ref));
    }
  }
  // Every index into `found` is void now. A lambda still open here never
  // got its ':' (the source is broken): it ends with the findings it held.
  module.found.clear();
  module.expr_start = 0;
  module.if_start = Level::kNoIf;
  if (!module.lambdas.empty()) {
    module.bucket = module.lambdas.front().saved_bucket;
    module.lambdas.clear();
  }
}

// Tracks, at one level, where expressions begin and which bucket findings
// go to; called for every token that is not a trailer.
void Scanner::Reorder(const Token& tok, Level& level) {
  bool module = &level == &levels_.front();
  auto reset = [&level] {
    level.expr_start = level.found.size();
    level.if_start = Level::kNoIf;
  };
  if (tok.kind == TokenKind::kNewline || tok.kind == TokenKind::kEnd ||
      tok.op == ';') {
    if (module) {
      FlushModule();
      capture_ = Capture::kNone;
      in_header_ = false;
    }
    level.for_seen = false;
    reset();
    return;
  }
  bool at_start = prev_->kind == TokenKind::kNewline ||
                  prev_->kind == TokenKind::kEnd || prev_->op == ';';
  if (tok.kind == TokenKind::kName && tok.keyword) {
    std::string_view word = tok.text;
    if (word == "if" && !(module && at_start) && !level.comprehension) {
      level.if_start = level.expr_start;
      level.test_start = level.found.size();
      return;
    }
    if (word == "else" && level.if_start != Level::kNoIf) {
      std::vector<Finding>& f = level.found;
      std::rotate(f.begin() + level.if_start, f.begin() + level.test_start,
                  f.end());
    } else if (word == "for") {
      level.for_seen = true;
      if (!module) level.comprehension = true;
    } else if (word == "in") {
      if (!level.for_seen) return;  // a comparison, inside the expression
      level.for_seen = false;
    } else if (word == "lambda") {
      // Beyond the bracket limit (deeper than Python parses) a lambda is
      // not tracked, which bounds the stack.
      if (level.lambdas.size() < options_.max_bracket_depth) {
        level.lambdas.push_back({level.bucket, level.found.size()});
        level.bucket = kLambdaDefaults;
      }
    } else if (word == "not" || word == "and" || word == "or" || word == "is" ||
               word == "await") {
      return;
    } else if ((word == "def" || word == "class") && module &&
               (at_start || (prev_->text == "async" &&
                             (prev2_->kind == TokenKind::kNewline ||
                              prev2_->kind == TokenKind::kEnd)))) {
      bool decorated = !deferred_.empty() && !deferred_.back().body_started &&
                       deferred_.back().indent == indent_;
      if (!decorated) BeginDeferred();
      in_header_ = true;
    }
    reset();
    return;
  }
  if (tok.kind != TokenKind::kOp) return;
  bool param_start =
      prev_->op == '(' || prev_->op == ',' ||
      (prev_->kind == TokenKind::kName && prev_->text == "lambda");
  bool in_params = level.kind == LevelKind::kParams && level.lambdas.empty();
  switch (tok.op) {
    case '@':
      if (module && at_start) {
        if (deferred_.empty() || deferred_.back().body_started ||
            deferred_.back().indent != indent_) {
          BeginDeferred();
        }
        capture_ = Capture::kDecorators;
        reset();
      }
      return;  // otherwise matrix multiplication, inside an expression
    case ',':
      if (level.kind == LevelKind::kBrace && level.lambdas.empty()) {
        level.bucket = kMain;
      }
      if (in_params) {
        level.bucket = kParamAnnotations;
        level.kwarg = false;
      }
      reset();
      return;
    case '=':
      if (!level.lambdas.empty()) {
        level.bucket = level.lambdas.back().after_star ? kLambdaKwDefaults
                                                       : kLambdaDefaults;
      } else if (in_params) {
        level.bucket = level.after_star ? kParamKwDefaults : kParamDefaults;
      }
      reset();
      return;
    case ':':
      if (!level.lambdas.empty()) {
        const OpenLambda lambda = level.lambdas.back();
        level.lambdas.pop_back();
        auto first = level.found.begin() + lambda.start;
        std::stable_partition(first, level.found.end(), [](const Finding& f) {
          return f.bucket == kLambdaKwDefaults;
        });
        for (auto it = first; it != level.found.end(); ++it) {
          it->bucket = lambda.saved_bucket;
        }
        level.bucket = lambda.saved_bucket;
      } else if (level.kind == LevelKind::kBrace) {
        level.bucket = kDictValues;
      } else if (in_params) {
        level.bucket = level.kwarg ? kParamKwargAnnotation : kParamAnnotations;
      } else if (module) {
        FlushModule();
        if (in_header_) {
          capture_ = Capture::kNone;
          deferred_.back().body_started = true;
          in_header_ = false;
        }
      }
      reset();
      return;
    case '*':
      if (param_start && !level.lambdas.empty()) {
        level.lambdas.back().after_star = true;
      } else if (param_start && in_params) {
        level.after_star = true;
      }
      // A star in operand position unpacks; after an operand it multiplies.
      if (!EndsExpression(*prev_)) reset();
      return;
    case 'W':
      reset();
      return;
    case 'O':
      if (tok.text == "**") {
        if (in_params && param_start) level.kwarg = true;
        if (level.kind == LevelKind::kBrace &&
            (prev_->op == '{' || prev_->op == ',')) {
          level.bucket = kDictValues;
        }
        if (!EndsExpression(*prev_)) reset();
      } else if (tok.text == "->") {
        if (module && in_header_) {
          FlushModule();
          capture_ = Capture::kReturns;
        }
        reset();
      } else if (tok.text.back() == '=' && tok.text != "==" &&
                 tok.text != "<=" && tok.text != ">=" && tok.text != "!=") {
        reset();  // augmented assignment
      }
      return;
    default:
      return;
  }
}

// At the first token of each logical line of the module: a line indented no
// deeper than a def/class header ends its body, which releases the
// header's decorator and return-annotation findings.
void Scanner::StartLogicalLine() {
  size_t indent = indent_ = line_indent_;
  while (!deferred_.empty() && deferred_.back().body_started &&
         indent <= deferred_.back().indent) {
    ReleaseDeferred();
  }
}

// Only the innermost entry may still wait for its body: one that broken
// source left waiting (decorators or a header followed by something else) is
// released when the next begins, so entries cannot pile up.
void Scanner::BeginDeferred() {
  if (!deferred_.empty() && !deferred_.back().body_started) ReleaseDeferred();
  deferred_.emplace_back(indent_);
}

void Scanner::ReleaseDeferred() {
  Deferred done = std::move(deferred_.back());
  deferred_.pop_back();
  for (ImportRef& ref : done.decorators) Emit(std::move(ref));
  for (ImportRef& ref : done.returns) Emit(std::move(ref));
}

Status Scanner::Open(LevelKind kind, char open, int line) {
  if (levels_.size() > options_.max_bracket_depth) {
    return SyntaxError("too many nested parentheses", line);
  }
  levels_.Push(kind, open, line);
  if (kind == LevelKind::kCall) ++call_depth_;
  return Status::Ok();
}

Status Scanner::Close(char close, int line) {
  Level& top = levels_.back();
  char expected = top.kind == LevelKind::kField ? '}'
                  : top.open == '('             ? ')'
                  : top.open == '['             ? ']'
                  : top.open == '{'             ? '}'
                                                : 0;
  if (top.kind == LevelKind::kModule) {
    return SyntaxError(std::string("unmatched '") + close + "'", line);
  }
  if (close != expected) {
    std::string reason = std::string("closing parenthesis '") + close +
                         "' does not match opening parenthesis '" + top.open +
                         "'";
    if (top.line != line) reason += " on line " + std::to_string(top.line);
    return SyntaxError(reason, line);
  }
  Level& closed = levels_.Pop();
  Level& parent = levels_.back();
  if (closed.kind == LevelKind::kCall) {
    --call_depth_;
    if (candidate_ != Callee::kNone && candidate_level_ == levels_.size()) {
      std::vector<ImportRef> refs;
      ReadImportCall(candidate_, args_, package_, &refs);
      candidate_ = Callee::kNone;
      for (ImportRef& ref : refs)
        parent.pending.push_back({kMain, std::move(ref)});
    }
    return Status::Ok();
  }
  MoveFindings(closed, &parent.pending);
  return Status::Ok();
}

Status Scanner::HandleImportStatement(const Token& tok) {
  // Only keywords can begin an import statement.
  if (stmt_ == StmtState::kNone && !tok.keyword) return Status::Ok();
  bool end = tok.kind == TokenKind::kNewline || tok.kind == TokenKind::kEnd ||
             tok.op == ';';
  bool name = tok.kind == TokenKind::kName;
  switch (stmt_) {
    case StmtState::kNone:
      break;
    case StmtState::kImportName:
    case StmtState::kImportAlias:
      if (end || tok.op == ',') {
        if (!dotted_.empty()) Emit({dotted_, std::nullopt});
        dotted_.clear();
        stmt_ = end ? StmtState::kNone : StmtState::kImportName;
      } else if (tok.text == "as") {
        stmt_ = StmtState::kImportAlias;
      } else if (stmt_ == StmtState::kImportName && (name || tok.op == '.')) {
        dotted_.append(tok.text);
      }
      break;
    case StmtState::kFromModule:
      if (tok.text == "import") {
        if (from_level_ > 0) {
          HERMETIC_ASSIGN_OR_RETURN(
              from_module_, ResolveRelative(dotted_, package_, from_level_));
        } else {
          from_module_ = dotted_;
        }
        dotted_.clear();
        stmt_ = StmtState::kFromNames;
      } else if (tok.op == '.' && dotted_.empty()) {
        ++from_level_;
      } else if (tok.op == 'E' && dotted_.empty()) {
        from_level_ += 3;
      } else if (name || tok.op == '.') {
        dotted_.append(tok.text);
      } else if (end) {
        stmt_ = StmtState::kNone;
      }
      break;
    case StmtState::kFromNames:
    case StmtState::kFromAlias:
      if (end) {
        stmt_ = StmtState::kNone;
      } else if (tok.text == "as") {
        stmt_ = StmtState::kFromAlias;
      } else if (tok.op == ',') {
        stmt_ = StmtState::kFromNames;
      } else if (stmt_ == StmtState::kFromNames && tok.op == '*') {
        Emit({from_module_, std::nullopt});
      } else if (stmt_ == StmtState::kFromNames && name) {
        Emit({from_module_, std::string(tok.text)});
      }
      break;
  }
  if (stmt_ != StmtState::kNone || levels_.size() != 1) return Status::Ok();
  // `import` and `from` begin a statement only right after a statement
  // boundary; elsewhere `from` belongs to `yield from` / `raise ... from`.
  bool at_start = prev_->kind == TokenKind::kNewline ||
                  prev_->kind == TokenKind::kEnd || prev_->op == ';' ||
                  prev_->op == ':';
  if (!at_start || tok.kind != TokenKind::kName) return Status::Ok();
  if (tok.text == "import") {
    stmt_ = StmtState::kImportName;
    dotted_.clear();
  } else if (tok.text == "from") {
    stmt_ = StmtState::kFromModule;
    dotted_.clear();
    from_level_ = 0;
  }
  return Status::Ok();
}

Status Scanner::Handle(const Token& tok) {
  Level& level = levels_.back();
  bool recording = candidate_ != Callee::kNone;
  if (recording && fstring_nesting_in_candidate_ == 0 &&
      levels_.size() > candidate_level_ &&
      !(levels_.size() == candidate_level_ + 1 && tok.op == ')')) {
    if (args_.size() == options_.max_call_tokens) {
      return Status::ResourceExhausted(
          "import call at line " +
          std::to_string(levels_[candidate_level_].line) + " has more than " +
          std::to_string(options_.max_call_tokens) +
          " argument tokens (ImportScanOptions::max_call_tokens)");
    }
    args_.push_back(tok);
  }
  bool ends = EndsExpression(*prev_);
  // Tokens that continue the current primary: call, subscript and
  // attribute trailers, and string literals implicitly concatenated to it.
  bool after_string = prev_->kind == TokenKind::kString || prev_->op == '"';
  bool trailer = (ends && tok.kind == TokenKind::kOp &&
                  (tok.op == '(' || tok.op == '[' || tok.op == '.')) ||
                 (tok.kind == TokenKind::kName && prev_->op == '.' &&
                  prev_->kind == TokenKind::kOp) ||
                 (after_string && (tok.kind == TokenKind::kString ||
                                   tok.kind == TokenKind::kFString));
  if (!trailer) {
    CommitPending(level);
    if (level.kind != LevelKind::kFString &&
        level.kind != LevelKind::kFormatSpec && MayReorder(tok)) {
      Reorder(tok, level);
    }
  }

  if (tok.kind == TokenKind::kFString) {
    if (recording) ++fstring_nesting_in_candidate_;
    std::string_view t = tok.text;
    HERMETIC_RETURN_IF_ERROR(Open(LevelKind::kFString, '"', tok.line));
    Level& str = levels_.back();
    str.triple = t.size() >= 3 && t[t.size() - 2] == t.back() &&
                 t[t.size() - 3] == t.back();
    str.quote = t.back();
    std::optional<StringPrefix> prefix =
        ParseStringPrefix(t.substr(0, t.find_first_of("'\"")));
    str.raw = prefix && prefix->raw;
    return Status::Ok();
  }
  if (tok.kind != TokenKind::kOp) return Status::Ok();
  char op = tok.op;
  LevelKind kind = level.kind;
  if (kind == LevelKind::kFString) {
    if (op == '{') return Open(LevelKind::kField, '{', tok.line);
    // The closing quote: the f-string is one atom of the enclosing level.
    Level& closed = levels_.Pop();
    MoveFindings(closed, &levels_.back().pending);
    if (recording && fstring_nesting_in_candidate_ > 0) {
      --fstring_nesting_in_candidate_;
    }
    return Status::Ok();
  }
  if (kind == LevelKind::kFormatSpec) {
    if (op == '{') return Open(LevelKind::kField, '{', tok.line);
    // The '}' ending the spec also ends its field.
    Level& spec = levels_.Pop();
    MoveFindings(spec, &levels_.back().pending);
    return Close('}', tok.line);
  }
  if (kind == LevelKind::kField && op == ':') {
    CommitPending(level);
    // The spec's text is lexed as its literal's: a spec's field may hold a
    // spec too, so the literal is not at a fixed distance below.
    const Level& literal = levels_[levels_.size() - 2];
    const char quote = literal.quote;
    const bool triple = literal.triple, raw = literal.raw;
    Level& spec = levels_.Push(LevelKind::kFormatSpec, ':', tok.line);
    spec.quote = quote;
    spec.triple = triple;
    spec.raw = raw;
    return Status::Ok();
  }
  if (op == '(' && trailer) {
    level.pending.clear();
    Callee callee = Callee::kNone;
    if (call_depth_ == 0 && prev_->kind == TokenKind::kName) {
      if (prev_->text == "__import__" && prev2_->op != '.') {
        callee = Callee::kDunderImport;
      } else if (prev_->text == "import_module" && prev2_->op == '.' &&
                 prev3_->text == "importlib" && prev4_->op != '.') {
        callee = Callee::kImportModule;
      }
    }
    // `def f(` and `class C(` open parameter and base lists, not calls.
    LevelKind opens = LevelKind::kCall;
    if (prev_->kind == TokenKind::kName && prev2_->text == "def") {
      opens = LevelKind::kParams;
    } else if (prev_->kind == TokenKind::kName && prev2_->text == "class") {
      opens = LevelKind::kParen;
    }
    HERMETIC_RETURN_IF_ERROR(Open(opens, '(', tok.line));
    if (callee != Callee::kNone) {
      candidate_ = callee;
      candidate_level_ = levels_.size() - 1;
      args_.clear();
      fstring_nesting_in_candidate_ = 0;
    }
    return Status::Ok();
  }
  if (op == '(') return Open(LevelKind::kParen, '(', tok.line);
  if (op == '[') return Open(LevelKind::kBracket, '[', tok.line);
  if (op == '{') return Open(LevelKind::kBrace, '{', tok.line);
  if (op == ')' || op == ']' || op == '}') return Close(op, tok.line);
  return Status::Ok();
}

void Scanner::PushBracket(bool call) {
  if (open_ == brackets_.size()) brackets_.emplace_back();
  OpenBracket& b = brackets_[open_++];
  b.call = call;
  b.constant = true;
  b.first_argument = {};
  b.strings.clear();
  if (call) {
    b.name.assign(ChainName());
    b.line = chain_line_;
    at_first_ = true;
  }
  first_pending_ = false;
  name_pending_ = false;
}

void Scanner::PopBracket() {
  if (open_ == 0) return;
  OpenBracket& b = brackets_[--open_];
  if (b.call) {
    NameUse use;
    use.name = b.name;
    use.line = b.line;
    use.called = true;
    use.constant_arguments = b.constant;
    use.first_argument = b.first_argument;
    use.string_arguments = b.strings;
    (*on_name_)(use);
  }
  // A call is not a literal, nor is a container of non-literals.
  if (open_ > 0 && (b.call || !b.constant))
    brackets_[open_ - 1].constant = false;
  at_first_ = first_pending_ = name_pending_ = false;
}

void Scanner::SettlePending(const Token& tok, OpenBracket& b) {
  const bool is_op = tok.kind == TokenKind::kOp;
  if (name_pending_ && !(is_op && tok.op == '=')) b.constant = false;
  name_pending_ = false;
  if (first_pending_ && !(is_op && (tok.op == ',' || tok.op == ')'))) {
    b.first_argument = {};
  }
  first_pending_ = false;
}

void Scanner::ArgumentToken(const Token& tok, OpenBracket& b) {
  const bool first = at_first_;
  at_first_ = false;
  switch (tok.kind) {
    case TokenKind::kString:
      if (b.call && b.strings.size() < NameUse::kMaxStringArguments) {
        b.strings.push_back(tok.text);
      }
      break;
    case TokenKind::kName:
      if (tok.keyword) {
        b.constant = false;
      } else if (tok.text != "True" && tok.text != "False" &&
                 tok.text != "None") {
        name_pending_ = true;
        if (first && b.call) {
          b.first_argument = tok.text;
          first_pending_ = true;
        }
      }
      break;
    case TokenKind::kFString:
      b.constant = false;
      break;
    default:
      break;
  }
}

void Scanner::TrackName(const Token& tok) {
  const bool is_op = tok.kind == TokenKind::kOp;
  const bool is_name = tok.kind == TokenKind::kName && !tok.keyword;
  if (open_ > 0) SettlePending(tok, brackets_[open_ - 1]);
  if (chain_ == Chain::kAfterDot && is_name) {
    if (!chain_dotted_) chain_name_.assign(chain_first_);
    chain_dotted_ = true;
    chain_name_.append(1, '.').append(tok.text);
    chain_ = Chain::kIn;
    return;
  }
  if (chain_ == Chain::kIn && is_op && tok.op == '.') {
    chain_ = Chain::kAfterDot;
    return;
  }
  const bool chain_ended = chain_ != Chain::kNone;
  chain_ = Chain::kNone;
  if (chain_ended && is_op && tok.op == '(') {
    PushBracket(/*call=*/true);
    return;
  }
  // A keyword argument's name is no use of it.
  const bool keyword_argument =
      is_op && tok.op == '=' && open_ > 0 && brackets_[open_ - 1].call;
  if (chain_ended && !keyword_argument) {
    NameUse use;
    use.name = ChainName();
    use.line = chain_line_;
    (*on_name_)(use);
  }
  if (open_ > 0) ArgumentToken(tok, brackets_[open_ - 1]);
  if (is_name) {
    const bool attribute = prev_->kind == TokenKind::kOp && prev_->op == '.';
    const bool defined = prev_->kind == TokenKind::kName && prev_->keyword &&
                         (prev_->text == "def" || prev_->text == "class");
    if (!attribute && !defined && stmt_ == StmtState::kNone) {
      chain_first_ = tok.text;
      chain_dotted_ = false;
      chain_line_ = tok.line;
      chain_ = Chain::kIn;
    }
    return;
  }
  if (!is_op) return;
  if (tok.op == '(' || tok.op == '[' || tok.op == '{') {
    PushBracket(/*call=*/false);
  } else if (tok.op == ')' || tok.op == ']' || tok.op == '}') {
    PopBracket();
  }
}

Result<std::vector<ImportRef>> Scanner::Run() {
  // Line numbers are ints, and a source may have a line per byte.
  if (src_.size() > std::min<size_t>(options_.max_source_bytes, INT_MAX)) {
    return Status::ResourceExhausted("source of " +
                                     std::to_string(src_.size()) +
                                     " bytes is larger than the scan limit "
                                     "(ImportScanOptions::max_source_bytes)");
  }
  // Python refuses a NUL anywhere, strings and comments included, naming
  // no line.
  if (src_.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(
        "source code string cannot contain null bytes");
  }
  if (src_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  levels_.Push(LevelKind::kModule, 0, 1);
  while (true) {
    Token& tok = *current_;
    tok = Token{};
    HERMETIC_RETURN_IF_ERROR(Lex(&tok));
    if (tok.kind == TokenKind::kEnd) {
      if (levels_.size() > 1) {
        const Level& open = levels_[1];
        if (open.kind == LevelKind::kFString) {
          return SyntaxError("f-string: expecting '}'", open.line);
        }
        return SyntaxError(std::string("'") + open.open + "' was never closed",
                           open.line);
      }
    }
    if (levels_.size() == 1 && tok.kind != TokenKind::kNewline &&
        tok.kind != TokenKind::kEnd &&
        (prev_->kind == TokenKind::kNewline ||
         prev_->kind == TokenKind::kEnd)) {
      StartLogicalLine();
    }
    HERMETIC_RETURN_IF_ERROR(HandleImportStatement(tok));
    HERMETIC_RETURN_IF_ERROR(Handle(tok));
    if (on_name_ != nullptr) TrackName(tok);
    if (tok.kind == TokenKind::kEnd) {
      // The end of the source ends every open body.
      while (!deferred_.empty()) ReleaseDeferred();
      break;
    }
    current_ = prev4_;
    prev4_ = prev3_;
    prev3_ = prev2_;
    prev2_ = prev_;
    prev_ = &tok;
  }
  return std::move(out_);
}

}  // namespace
}  // namespace import_scan

Result<std::vector<ImportRef>> ScanImports(std::string_view source,
                                           std::string_view module_name,
                                           bool is_package,
                                           const ImportScanOptions& options) {
  return import_scan::Scanner(source, module_name, is_package, options).Run();
}

Result<std::vector<ImportRef>> ScanImports(std::string_view source,
                                           std::string_view module_name,
                                           bool is_package,
                                           const ImportScanOptions& options,
                                           const NameUseCallback& on_name) {
  import_scan::Scanner scanner(source, module_name, is_package, options);
  scanner.set_name_callback(&on_name);
  return scanner.Run();
}

}  // namespace hermetic
