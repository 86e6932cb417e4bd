#include "hermetic/pickle_scan.h"

#include <cstring>
#include <deque>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "imports/string_literal.h"

namespace hermetic {
namespace {

// What the model knows about one stack or memo slot: a str it can name, or
// an opaque value. MARKs only ever live on the stack.
struct Slot {
  enum Kind : uint8_t { kOpaque, kString, kMark } kind = kOpaque;
  std::string_view text;
};

class Scanner {
 public:
  Scanner(std::span<const uint8_t> data, const PickleScanOptions& options)
      : data_(reinterpret_cast<const char*>(data.data()), data.size()),
        options_(options) {}

  Result<PickleScan> Run();

 private:
  Status Fail(std::string_view what, size_t at) const {
    return Status::Corrupt("pickle " + std::string(what) + " at byte " +
                           std::to_string(at));
  }
  Status Truncated() const {
    return Fail("truncated argument of opcode 0x" + Hex(op_), op_pos_);
  }
  static std::string Hex(uint8_t byte) {
    static constexpr char kDigits[] = "0123456789abcdef";
    return {kDigits[byte >> 4], kDigits[byte & 15]};
  }

  // Argument readers; each advances pos_ or fails without moving it.
  Status Bytes(size_t n, std::string_view* out) {
    if (data_.size() - pos_ < n) return Truncated();
    *out = data_.substr(pos_, n);
    pos_ += n;
    return Status::Ok();
  }
  Status LittleEndian(size_t n, uint64_t* out) {
    std::string_view raw;
    HERMETIC_RETURN_IF_ERROR(Bytes(n, &raw));
    *out = 0;
    for (size_t i = n; i-- > 0;) {
      *out = (*out << 8) | static_cast<uint8_t>(raw[i]);
    }
    return Status::Ok();
  }
  // A length-prefixed argument whose length field has `width` bytes; 4-byte
  // lengths of the old string opcodes are signed.
  Status Counted(size_t width, bool is_signed, std::string_view* out) {
    uint64_t n;
    HERMETIC_RETURN_IF_ERROR(LittleEndian(width, &n));
    if (is_signed && width == 4 && (n & 0x80000000u)) {
      return Fail("negative length", op_pos_);
    }
    return Bytes(n, out);
  }
  Status Line(std::string_view* out) {
    size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) return Truncated();
    *out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return Status::Ok();
  }
  Status Decimal(int64_t* out) {
    std::string_view line;
    HERMETIC_RETURN_IF_ERROR(Line(&line));
    bool negative = !line.empty() && line[0] == '-';
    if (!line.empty() && (line[0] == '-' || line[0] == '+')) {
      line.remove_prefix(1);
    }
    if (line.empty() || line.size() > 18)
      return Fail("bad memo index", op_pos_);
    int64_t v = 0;
    for (char c : line) {
      if (c < '0' || c > '9') return Fail("bad memo index", op_pos_);
      v = v * 10 + (c - '0');
    }
    *out = negative ? -v : v;
    return Status::Ok();
  }

  Status Push(Slot slot) {
    if (stack_.size() >= options_.max_stack_depth) {
      return Fail("stack deeper than the limit", op_pos_);
    }
    stack_.push_back(slot);
    return Status::Ok();
  }
  Status PushOpaque() { return Push(Slot{}); }
  Status SkipThenPush(size_t n) {
    std::string_view skipped;
    HERMETIC_RETURN_IF_ERROR(Bytes(n, &skipped));
    return PushOpaque();
  }
  Status Pop(Slot* out = nullptr) {
    if (stack_.empty() || stack_.back().kind == Slot::kMark) {
      return Fail("stack underflow", op_pos_);
    }
    if (out) *out = stack_.back();
    stack_.pop_back();
    return Status::Ok();
  }
  Status PopN(int n) {
    for (int i = 0; i < n; ++i) HERMETIC_RETURN_IF_ERROR(Pop());
    return Status::Ok();
  }
  Status PopMark() {
    while (!stack_.empty() && stack_.back().kind != Slot::kMark) {
      stack_.pop_back();
    }
    if (stack_.empty()) return Fail("missing MARK", op_pos_);
    stack_.pop_back();
    return Status::Ok();
  }
  Status Top(Slot* out) {
    if (stack_.empty() || stack_.back().kind == Slot::kMark) {
      return Fail("stack underflow", op_pos_);
    }
    *out = stack_.back();
    return Status::Ok();
  }
  Status Memoize(int64_t index) {
    Slot top;
    HERMETIC_RETURN_IF_ERROR(Top(&top));
    if (memo_.size() >= options_.max_memo_entries && !memo_.contains(index)) {
      return Fail("memo larger than the limit", op_pos_);
    }
    memo_[index] = top;
    return Status::Ok();
  }
  Status Get(int64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) {
      return Fail("memo index " + std::to_string(index) + " missing", op_pos_);
    }
    return Push(it->second);
  }
  void Record(std::string_view module, std::string_view name) {
    // Length-prefixed so that no two (module, name) pairs share a key.
    std::string key = std::to_string(module.size());
    key.append(1, ':').append(module).append(name);
    if (seen_.insert(std::move(key)).second) {
      result_.globals.push_back({std::string(module), std::string(name)});
    }
  }
  // The argument of GLOBAL and INST: "module\nname\n".
  Status GlobalArgument() {
    std::string_view module, name;
    HERMETIC_RETURN_IF_ERROR(Line(&module));
    HERMETIC_RETURN_IF_ERROR(Line(&name));
    Record(module, name);
    return Status::Ok();
  }
  Status PushString(std::string_view text) {
    return Push(Slot{Slot::kString, text});
  }
  Status RawUnicodeEscape(std::string_view raw);

  Status Step(uint8_t op);

  std::string_view data_;
  const PickleScanOptions& options_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<Slot> stack_;
  std::unordered_map<int64_t, Slot> memo_;
  // Strings the model had to decode (UNICODE's escapes); deque keeps views
  // into earlier entries valid.
  std::deque<std::string> decoded_;
  std::unordered_set<std::string> seen_;
  PickleScan result_;
};

// Protocol 0's UNICODE argument is raw-unicode-escape: Latin-1 bytes plus
// \uXXXX and \UXXXXXXXX escapes. Decoded to UTF-8 like every other name.
Status Scanner::RawUnicodeEscape(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size();) {
    size_t digits = 0;
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      if (raw[i + 1] == 'u') digits = 4;
      if (raw[i + 1] == 'U') digits = 8;
    }
    if (digits == 0) {
      AppendUtf8(static_cast<uint8_t>(raw[i]), &out);
      ++i;
      continue;
    }
    if (raw.size() - i - 2 < digits) return Fail("bad \\u escape", op_pos_);
    uint32_t cp = 0;
    for (size_t k = 0; k < digits; ++k) {
      int h = HexValue(raw[i + 2 + k]);
      if (h < 0) return Fail("bad \\u escape", op_pos_);
      cp = cp * 16 + static_cast<uint32_t>(h);
    }
    if (cp > 0x10FFFF) return Fail("bad \\u escape", op_pos_);
    AppendUtf8(cp, &out);
    i += 2 + digits;
  }
  decoded_.push_back(std::move(out));
  return PushString(decoded_.back());
}

Status Scanner::Step(uint8_t op) {
  std::string_view arg;
  uint64_t n;
  int64_t index;
  switch (op) {
    // Scalars and byte strings: skip the argument, push an opaque value.
    case 'I':
    case 'L':
    case 'F':
    case 'S':
    case 'P':
      HERMETIC_RETURN_IF_ERROR(Line(&arg));
      return PushOpaque();
    case 'J':
      return SkipThenPush(4);
    case 'K':
      return SkipThenPush(1);
    case 'M':
      return SkipThenPush(2);
    case 'G':
      return SkipThenPush(8);
    case 0x8a:
    case 'U':
    case 'C':
      HERMETIC_RETURN_IF_ERROR(Counted(1, false, &arg));
      return PushOpaque();
    case 0x8b:
    case 'T':
      HERMETIC_RETURN_IF_ERROR(Counted(4, true, &arg));
      return PushOpaque();
    case 'B':
      HERMETIC_RETURN_IF_ERROR(Counted(4, false, &arg));
      return PushOpaque();
    case 0x8e:
    case 0x96:
      HERMETIC_RETURN_IF_ERROR(Counted(8, false, &arg));
      return PushOpaque();
    case 'N':
    case 0x88:
    case 0x89:
    case ']':
    case ')':
    case '}':
    case 0x8f:
    case 0x97:
      return PushOpaque();
    // EXT*: copyreg extension codes, not names.
    case 0x82:
      return SkipThenPush(1);
    case 0x83:
      return SkipThenPush(2);
    case 0x84:
      return SkipThenPush(4);

    // The str opcodes, the only operands STACK_GLOBAL accepts.
    case 'V':
      HERMETIC_RETURN_IF_ERROR(Line(&arg));
      return RawUnicodeEscape(arg);
    case 0x8c:
      HERMETIC_RETURN_IF_ERROR(Counted(1, false, &arg));
      return PushString(arg);
    case 'X':
      HERMETIC_RETURN_IF_ERROR(Counted(4, false, &arg));
      return PushString(arg);
    case 0x8d:
      HERMETIC_RETURN_IF_ERROR(Counted(8, false, &arg));
      return PushString(arg);

    // Containers.
    case 'a':
      return Pop();
    case 'e':
    case 'u':
    case 0x90:
    case '1':
      return PopMark();
    case 'l':
    case 't':
    case 'd':
    case 0x91:
      HERMETIC_RETURN_IF_ERROR(PopMark());
      return PushOpaque();
    case 0x85:
    case 0x86:
    case 0x87:
      HERMETIC_RETURN_IF_ERROR(PopN(op - 0x84));
      return PushOpaque();
    case 's':
      return PopN(2);
    case '0':
      // POP discards a MARK too when one is on top, as the unpickler does.
      if (stack_.empty()) return Fail("stack underflow", op_pos_);
      stack_.pop_back();
      return Status::Ok();
    case '2': {
      Slot top;
      HERMETIC_RETURN_IF_ERROR(Top(&top));
      return Push(top);
    }
    case '(':
      return Push(Slot{Slot::kMark, {}});

    // Memo.
    case 'g':
      HERMETIC_RETURN_IF_ERROR(Decimal(&index));
      return Get(index);
    case 'h':
    case 'j':
      HERMETIC_RETURN_IF_ERROR(LittleEndian(op == 'h' ? 1 : 4, &n));
      return Get(static_cast<int64_t>(n));
    case 'p':
      HERMETIC_RETURN_IF_ERROR(Decimal(&index));
      return Memoize(index);
    case 'q':
    case 'r':
      HERMETIC_RETURN_IF_ERROR(LittleEndian(op == 'q' ? 1 : 4, &n));
      return Memoize(static_cast<int64_t>(n));
    case 0x94:
      return Memoize(static_cast<int64_t>(memo_.size()));

    // Globals and object construction.
    case 'c':
      HERMETIC_RETURN_IF_ERROR(GlobalArgument());
      return PushOpaque();
    case 'i':
      HERMETIC_RETURN_IF_ERROR(GlobalArgument());
      HERMETIC_RETURN_IF_ERROR(PopMark());
      return PushOpaque();
    case 0x93: {
      Slot name, module;
      HERMETIC_RETURN_IF_ERROR(Pop(&name));
      HERMETIC_RETURN_IF_ERROR(Pop(&module));
      if (module.kind == Slot::kString && name.kind == Slot::kString) {
        Record(module.text, name.text);
      }
      return PushOpaque();
    }
    case 'o':
      HERMETIC_RETURN_IF_ERROR(PopMark());
      return PushOpaque();
    case 'R':
    case 'b':
    case 0x81:
      HERMETIC_RETURN_IF_ERROR(PopN(2));
      return PushOpaque();
    case 0x92:
      HERMETIC_RETURN_IF_ERROR(PopN(3));
      return PushOpaque();
    case 'Q':
    case 0x98:
      HERMETIC_RETURN_IF_ERROR(Pop());
      return PushOpaque();

    // Framing.
    case 0x80:
      HERMETIC_RETURN_IF_ERROR(LittleEndian(1, &n));
      if (n > 5)
        return Fail("unsupported protocol " + std::to_string(n), op_pos_);
      result_.protocol = static_cast<int>(n);
      return Status::Ok();
    case 0x95:
      // A frame only groups the opcodes that follow; it must fit the data.
      HERMETIC_RETURN_IF_ERROR(LittleEndian(8, &n));
      if (n > data_.size() - pos_) return Fail("frame beyond end", op_pos_);
      return Status::Ok();
  }
  return Fail("unknown opcode 0x" + Hex(op), op_pos_);
}

Result<PickleScan> Scanner::Run() {
  while (pos_ < data_.size()) {
    op_pos_ = pos_;
    op_ = static_cast<uint8_t>(data_[pos_++]);
    if (op_ == '.') {
      HERMETIC_RETURN_IF_ERROR(Pop());
      return std::move(result_);
    }
    HERMETIC_RETURN_IF_ERROR(Step(op_));
  }
  return Fail("data ends without STOP", pos_);
}

}  // namespace

Result<PickleScan> ScanPickle(std::span<const uint8_t> data,
                              const PickleScanOptions& options) {
  return Scanner(data, options).Run();
}

}  // namespace hermetic
