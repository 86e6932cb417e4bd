#include "hermetic/pickle_scan.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "string_literal.h"

namespace hermetic {
namespace {

// A stack or memo value as the model sees it, in 4 bytes as there can be
// millions: a MARK, an opaque value, the str strings_[code - kFirstString],
// or (kTuple set) a tuple whose first item is that str, which is what names
// the kind of a persistent id. In the memo, kMark stands for "no entry"
// (MARKs are never memoized).
struct Slot {
  static constexpr uint32_t kMark = 0;
  static constexpr uint32_t kOpaque = 1;
  static constexpr uint32_t kFirstString = 2;
  static constexpr uint32_t kTuple = uint32_t{1} << 31;
  bool is_string() const { return code >= kFirstString && code < kTuple; }
  bool is_named_tuple() const { return code >= kTuple; }
  uint32_t code = kOpaque;
};

// Strict UTF-8 (no surrogates, no overlong forms), as the unpickler decodes
// GLOBAL's lines and as module and attribute names must be.
bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint8_t lo = 0x80, hi = 0xbf;  // range of the second byte
    if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      if (b == 0xe0) lo = 0xa0;
      if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      if (b == 0xf0) lo = 0x90;
      if (b == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto c = static_cast<uint8_t>(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf)) return false;
    }
    i += n + 1;
  }
  return true;
}

class Scanner {
 public:
  Scanner(std::span<const uint8_t> data, const PickleScanOptions& options)
      : data_(reinterpret_cast<const char*>(data.data()), data.size()),
        options_(options),
        max_stack_(options.max_stack_depth),
        max_memo_(options.max_memo_entries),
        max_marks_(options.max_mark_depth) {}

  Result<PickleScan> Run();

 private:
  // Records why the scan stopped; the hot path only passes bools around.
  bool Fail(std::string_view what, size_t at) {
    error_ = Status::CorruptPickle("pickle " + std::string(what) + " at byte " +
                                   std::to_string(at));
    return false;
  }
  bool Truncated() {
    return Fail("truncated argument of opcode 0x" + Hex(op_), op_pos_);
  }
  static std::string Hex(uint8_t byte) {
    static constexpr char kDigits[] = "0123456789abcdef";
    return {kDigits[byte >> 4], kDigits[byte & 15]};
  }

  // Argument readers; each advances pos_ or fails without moving it.
  bool Bytes(size_t n, std::string_view* out) {
    if (data_.size() - pos_ < n) return Truncated();
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // A fixed width, so the read compiles to one load (a byte-wise copy into
  // a wider integer stalls store-to-load forwarding on every opcode).
  template <size_t N>
  bool LittleEndian(uint64_t* out) {
    std::string_view raw;
    if (!Bytes(N, &raw)) return false;
    *out = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out, raw.data(), N);
    } else {
      for (size_t i = N; i-- > 0;) {
        *out = (*out << 8) | static_cast<uint8_t>(raw[i]);
      }
    }
    return true;
  }
  // A length-prefixed argument whose length field has `width` bytes; 4-byte
  // lengths of the old string opcodes are signed.
  template <size_t Width>
  bool Counted(bool is_signed, std::string_view* out) {
    uint64_t n = 0;
    if (!LittleEndian<Width>(&n)) return false;
    if (is_signed && Width == 4 && (n & 0x80000000u)) {
      return Fail("negative length", op_pos_);
    }
    return Bytes(n, out);
  }
  bool Line(std::string_view* out) {
    size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) return Truncated();
    *out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return true;
  }
  // Text memo indices; their own digits, not Python's int() syntax, which
  // picklers never need.
  bool Decimal(int64_t* out) {
    std::string_view line;
    if (!Line(&line)) return false;
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
    return true;
  }

  bool Push(Slot slot) {
    if (stack_.size() >= max_stack_) {
      return Fail("stack deeper than the limit", op_pos_);
    }
    stack_.push_back(slot);
    ++pushes_;
    return true;
  }
  bool PushMark() {
    if (marks_ >= max_marks_) {
      return Fail("MARKs nested deeper than the limit", op_pos_);
    }
    ++marks_;
    return Push(Slot{Slot::kMark});
  }
  bool PushOpaque() { return Push(Slot{}); }
  bool SkipThenPush(size_t n) {
    std::string_view skipped;
    if (!Bytes(n, &skipped)) return false;
    return PushOpaque();
  }
  bool Pop(Slot* out = nullptr) {
    if (stack_.empty() || stack_.back().code == Slot::kMark) {
      return Fail("stack underflow", op_pos_);
    }
    if (out) *out = stack_.back();
    stack_.pop_back();
    return true;
  }
  bool PopN(int n) {
    for (int i = 0; i < n; ++i)
      if (!Pop()) return false;
    return true;
  }
  // Pops down to and including the topmost MARK; *first is the item just
  // above it (opaque if none).
  bool PopMark(Slot* first = nullptr) {
    Slot above;
    while (!stack_.empty() && stack_.back().code != Slot::kMark) {
      above = stack_.back();
      stack_.pop_back();
    }
    if (stack_.empty()) return Fail("missing MARK", op_pos_);
    stack_.pop_back();
    --marks_;
    if (first) *first = above;
    return true;
  }
  bool PushTuple(Slot first) {
    return Push(first.is_string() ? Slot{first.code | Slot::kTuple} : Slot{});
  }
  bool Top(Slot* out) {
    if (stack_.empty() || stack_.back().code == Slot::kMark) {
      return Fail("stack underflow", op_pos_);
    }
    *out = stack_.back();
    return true;
  }
  // The unpickler sizes its memo by the largest index stored (twice it, a
  // pointer each), not by the entries: an index must name a value the stream
  // made before, so the memo stays proportional to the pickle. Picklers
  // number entries 0, 1, 2, ...; pickletools.optimize renumbers them the same
  // way, and older optimizers left gaps, never an index beyond the values
  // made so far.
  bool Memoize(int64_t index) {
    Slot top;
    if (!Top(&top)) return false;
    if (index < 0) return Fail("negative memo index", op_pos_);
    const auto i = static_cast<uint64_t>(index);
    if (i >= pushes_) {
      return Fail("memo index " + std::to_string(index) +
                      " beyond the values made so far",
                  op_pos_);
    }
    if (i >= max_memo_) return Fail("memo larger than the limit", op_pos_);
    if (i >= memo_.size()) memo_.resize(i + 1, Slot{Slot::kMark});
    if (memo_[i].code == Slot::kMark) ++memo_size_;
    memo_[i] = top;
    return true;
  }
  bool Get(int64_t index) {
    const Slot* slot = index >= 0 && static_cast<uint64_t>(index) < memo_.size()
                           ? &memo_[static_cast<size_t>(index)]
                           : nullptr;
    if (slot == nullptr || slot->code == Slot::kMark) {
      return Fail("memo index " + std::to_string(index) + " missing", op_pos_);
    }
    return Push(*slot);
  }
  bool Record(std::string_view module, std::string_view name) {
    if (!IsUtf8(module) || !IsUtf8(name)) {
      return Fail("global name not UTF-8", op_pos_);
    }
    // Length-prefixed so that no two (module, name) pairs share a key.
    std::string key = std::to_string(module.size());
    key.append(1, ':').append(module).append(name);
    if (seen_.insert(std::move(key)).second) {
      result_.globals.push_back({std::string(module), std::string(name)});
      result_.global_offsets.push_back(op_pos_);
    }
    return true;
  }
  // The argument of GLOBAL and INST: "module\nname\n".
  bool GlobalArgument() {
    std::string_view module, name;
    if (!Line(&module)) return false;
    if (!Line(&name)) return false;
    return Record(module, name);
  }
  bool PersistentId(Slot id) {
    ++result_.persistent_ids;
    if (!id.is_named_tuple()) {
      if (result_.unnamed_persistent_ids++ == 0) {
        result_.first_unnamed_persistent_id_offset = op_pos_;
      }
      return true;
    }
    std::string_view kind = String(Slot{id.code & ~Slot::kTuple});
    if (kinds_seen_.insert(std::string(kind)).second) {
      result_.persistent_id_kinds.emplace_back(kind);
      result_.persistent_id_kind_offsets.push_back(op_pos_);
    }
    return true;
  }
  bool Extension(uint64_t code, size_t width) {
    // EXT4's code is signed; the unpickler refuses codes <= 0.
    const auto value = static_cast<int64_t>(
        width == 4 ? static_cast<int32_t>(code) : static_cast<int64_t>(code));
    if (value <= 0) return Fail("extension code not positive", op_pos_);
    const auto c = static_cast<int32_t>(value);
    if (std::find(result_.extension_codes.begin(),
                  result_.extension_codes.end(),
                  c) == result_.extension_codes.end()) {
      result_.extension_codes.push_back(c);
      result_.extension_code_offsets.push_back(op_pos_);
    }
    return PushOpaque();
  }
  // INT and LONG text: CPython converts decimal text in quadratic time.
  bool IntegerLine() {
    std::string_view line;
    if (!Line(&line)) return false;
    size_t digits = line.size();
    if (!line.empty() && (line[0] == '-' || line[0] == '+')) --digits;
    if (op_ == 'L' && !line.empty() && line.back() == 'L') --digits;
    if (digits > options_.max_int_digits) {
      return Fail("integer text longer than the limit", op_pos_);
    }
    return PushOpaque();
  }
  bool PushString(std::string_view text) {
    // Codes from kTuple up are tuples: more strs than that are opaque.
    if (strings_.size() >= Slot::kTuple - Slot::kFirstString)
      return PushOpaque();
    strings_.push_back(text);
    return Push(
        Slot{static_cast<uint32_t>(strings_.size() - 1 + Slot::kFirstString)});
  }
  std::string_view String(Slot slot) const {
    return strings_[slot.code - Slot::kFirstString];
  }
  bool RawUnicodeEscape(std::string_view raw);

  // Inlined into the opcode loop: a call per opcode costs a register
  // save and restore that is a large part of a cheap opcode.
  [[gnu::always_inline]] inline bool Step(uint8_t op);

  std::string_view data_;
  const PickleScanOptions& options_;
  Status error_;
  // Copies of the limits: the hot path then reads no memory behind a
  // reference that stores through vectors might alias.
  size_t max_stack_;
  size_t max_memo_;
  size_t max_marks_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<Slot> stack_;
  std::vector<std::string_view> strings_;  // every str pushed, by Slot code
  std::vector<Slot> memo_;
  size_t memo_size_ = 0;  // distinct indices stored, as len(memo)
  uint64_t pushes_ = 0;   // values (and MARKs) pushed so far
  size_t marks_ = 0;      // MARKs on the stack
  // Strings the model had to decode (UNICODE's escapes); deque keeps views
  // into earlier entries valid.
  std::deque<std::string> decoded_;
  std::unordered_set<std::string> seen_;
  std::unordered_set<std::string> kinds_seen_;
  PickleScan result_;
};

// Protocol 0's UNICODE argument is raw-unicode-escape: Latin-1 bytes plus
// \uXXXX and \UXXXXXXXX escapes. Decoded to UTF-8 like every other name.
bool Scanner::RawUnicodeEscape(std::string_view raw) {
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

bool Scanner::Step(uint8_t op) {
  std::string_view arg;
  uint64_t n;
  int64_t index = 0;
  switch (op) {
    // Scalars and byte strings: skip the argument, push an opaque value.
    case 'I':
    case 'L':
      return IntegerLine();
    case 'F':
    case 'S':
      if (!Line(&arg)) return false;
      return PushOpaque();
    case 'P':
      if (!Line(&arg)) return false;
      if (!PersistentId(Slot{})) return false;
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
    case 'C':
      if (!Counted<1>(false, &arg)) return false;
      return PushOpaque();
    case 0x8b:
      if (!Counted<4>(true, &arg)) return false;
      return PushOpaque();
    // Python 2 strs: the unpickler decodes them (ASCII by default), so they
    // are str operands of STACK_GLOBAL as much as BINUNICODE is.
    case 'U':
      if (!Counted<1>(false, &arg)) return false;
      return PushString(arg);
    case 'T':
      if (!Counted<4>(true, &arg)) return false;
      return PushString(arg);
    case 'B':
      if (!Counted<4>(false, &arg)) return false;
      return PushOpaque();
    case 0x8e:
    case 0x96:
      if (!Counted<8>(false, &arg)) return false;
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
    // EXT*: copyreg extension codes, globals by number.
    case 0x82:
      if (!LittleEndian<1>(&n)) return false;
      return Extension(n, 1);
    case 0x83:
      if (!LittleEndian<2>(&n)) return false;
      return Extension(n, 2);
    case 0x84:
      if (!LittleEndian<4>(&n)) return false;
      return Extension(n, 4);

    // The str opcodes, the only operands STACK_GLOBAL accepts.
    case 'V':
      if (!Line(&arg)) return false;
      return RawUnicodeEscape(arg);
    case 0x8c:
      if (!Counted<1>(false, &arg)) return false;
      return PushString(arg);
    case 'X':
      if (!Counted<4>(false, &arg)) return false;
      return PushString(arg);
    case 0x8d:
      if (!Counted<8>(false, &arg)) return false;
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
    case 'd':
    case 0x91:
      if (!PopMark()) return false;
      return PushOpaque();
    case 't': {
      Slot first;
      if (!PopMark(&first)) return false;
      return PushTuple(first);
    }
    case 0x85:
    case 0x86:
    case 0x87: {
      Slot first;
      for (int i = op - 0x84; i > 0; --i) {
        if (!Pop(&first)) return false;
      }
      return PushTuple(first);
    }
    case 's':
      return PopN(2);
    case '0':
      // POP discards a MARK too when one is on top, as the unpickler does.
      if (stack_.empty()) return Fail("stack underflow", op_pos_);
      if (stack_.back().code == Slot::kMark) --marks_;
      stack_.pop_back();
      return true;
    case '2': {
      Slot top;
      if (!Top(&top)) return false;
      return Push(top);
    }
    case '(':
      return PushMark();

    // Memo.
    case 'g':
      if (!Decimal(&index)) return false;
      return Get(index);
    case 'h':
      if (!LittleEndian<1>(&n)) return false;
      return Get(static_cast<int64_t>(n));
    case 'j':
      if (!LittleEndian<4>(&n)) return false;
      return Get(static_cast<int64_t>(n));
    case 'p':
      if (!Decimal(&index)) return false;
      return Memoize(index);
    case 'q':
      if (!LittleEndian<1>(&n)) return false;
      return Memoize(static_cast<int64_t>(n));
    case 'r':
      if (!LittleEndian<4>(&n)) return false;
      return Memoize(static_cast<int64_t>(n));
    case 0x94:
      return Memoize(static_cast<int64_t>(memo_size_));

    // Globals and object construction.
    case 'c':
      if (!GlobalArgument()) return false;
      return PushOpaque();
    case 'i':
      if (!GlobalArgument()) return false;
      if (!PopMark()) return false;
      return PushOpaque();
    case 0x93: {
      Slot name, module;
      if (!Pop(&name)) return false;
      if (!Pop(&module)) return false;
      if (module.is_string() && name.is_string()) {
        if (!Record(String(module), String(name))) return false;
      } else {
        ++result_.unresolved_globals;
        result_.unresolved_global_offsets.push_back(op_pos_);
      }
      return PushOpaque();
    }
    case 'o':
      if (!PopMark()) return false;
      return PushOpaque();
    case 'R':
    case 'b':
    case 0x81:
      if (!PopN(2)) return false;
      return PushOpaque();
    case 0x92:
      if (!PopN(3)) return false;
      return PushOpaque();
    case 'Q': {
      Slot id;
      if (!Pop(&id)) return false;
      if (!PersistentId(id)) return false;
      return PushOpaque();
    }
    case 0x98:
      if (!Pop()) return false;
      return PushOpaque();

    // Framing.
    case 0x80:
      if (!LittleEndian<1>(&n)) return false;
      if (n > 5)
        return Fail("unsupported protocol " + std::to_string(n), op_pos_);
      result_.protocol = static_cast<int>(n);
      return true;
    case 0x95:
      // A frame only groups the opcodes that follow; it must fit the data.
      if (!LittleEndian<8>(&n)) return false;
      if (n > data_.size() - pos_) return Fail("frame beyond end", op_pos_);
      return true;
  }
  return Fail("unknown opcode 0x" + Hex(op), op_pos_);
}

Result<PickleScan> Scanner::Run() {
  // Address space only: pages are touched as entries arrive.
  constexpr size_t kReserve = size_t{1} << 20;
  memo_.reserve(
      std::min({data_.size() / 2, options_.max_memo_entries, kReserve}));
  stack_.reserve(std::min({data_.size(), options_.max_stack_depth, kReserve}));
  while (pos_ < data_.size()) {
    op_pos_ = pos_;
    op_ = static_cast<uint8_t>(data_[pos_++]);
    if (op_ == '.') {
      if (!Pop()) return error_;
      return std::move(result_);
    }
    if (!Step(op_)) return error_;
  }
  Fail("data ends without STOP", pos_);
  return error_;
}

}  // namespace

Result<PickleScan> ScanPickle(std::span<const uint8_t> data,
                              const PickleScanOptions& options) {
  return Scanner(data, options).Run();
}

}  // namespace hermetic
