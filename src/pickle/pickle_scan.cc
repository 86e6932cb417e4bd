#include "hermetic/pickle_scan.h"

#include <algorithm>
#include <bit>
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
// A stack or memo value as the model sees it, in 4 bytes as there can be
// millions: a MARK, an opaque value, or the str strings_[code - kFirstString].
// In the memo, kMark stands for "no entry" (MARKs are never memoized).
struct Slot {
  static constexpr uint32_t kMark = 0;
  static constexpr uint32_t kOpaque = 1;
  static constexpr uint32_t kFirstString = 2;
  bool is_string() const { return code >= kFirstString; }
  uint32_t code = kOpaque;
};

class Scanner {
 public:
  Scanner(std::span<const uint8_t> data, const PickleScanOptions& options)
      : data_(reinterpret_cast<const char*>(data.data()), data.size()),
        options_(options),
        max_stack_(options.max_stack_depth),
        max_memo_(options.max_memo_entries) {}

  Result<PickleScan> Run();

 private:
  // Records why the scan stopped; the hot path only passes bools around.
  bool Fail(std::string_view what, size_t at) {
    error_ = Status::Corrupt("pickle " + std::string(what) + " at byte " +
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
    return true;
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
  bool PopMark() {
    while (!stack_.empty() && stack_.back().code != Slot::kMark) {
      stack_.pop_back();
    }
    if (stack_.empty()) return Fail("missing MARK", op_pos_);
    stack_.pop_back();
    return true;
  }
  bool Top(Slot* out) {
    if (stack_.empty() || stack_.back().code == Slot::kMark) {
      return Fail("stack underflow", op_pos_);
    }
    *out = stack_.back();
    return true;
  }
  // Picklers number memo entries 0, 1, 2, ...: those live in a vector (an
  // absent entry is a kMark slot, which is never memoized); far-off indices
  // of hand-made pickles go to a map so they cannot force a huge vector.
  Slot* MemoSlot(int64_t index, bool create) {
    if (index >= 0 && static_cast<uint64_t>(index) < dense_memo_.size()) {
      return &dense_memo_[index];
    }
    if (!create) {
      auto it = sparse_memo_.find(index);
      return it == sparse_memo_.end() ? nullptr : &it->second;
    }
    if (static_cast<uint64_t>(index) == dense_memo_.size()) {
      return &dense_memo_.emplace_back();
    }
    if (index >= 0 && static_cast<uint64_t>(index) <= 2 * memo_size_ + 4096) {
      dense_memo_.resize(index + 1, Slot{Slot::kMark});
      return &dense_memo_[index];
    }
    return &sparse_memo_[index];
  }
  bool Memoize(int64_t index) {
    Slot top;
    if (!Top(&top)) return false;
    Slot* slot = MemoSlot(index, false);
    if (slot == nullptr || slot->code == Slot::kMark) {
      if (memo_size_ >= max_memo_) {
        return Fail("memo larger than the limit", op_pos_);
      }
      ++memo_size_;
      slot = MemoSlot(index, true);
    }
    *slot = top;
    return true;
  }
  bool Get(int64_t index) {
    const Slot* slot = MemoSlot(index, false);
    if (slot == nullptr || slot->code == Slot::kMark) {
      return Fail("memo index " + std::to_string(index) + " missing", op_pos_);
    }
    return Push(*slot);
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
  bool GlobalArgument() {
    std::string_view module, name;
    if (!Line(&module)) return false;
    if (!Line(&name)) return false;
    Record(module, name);
    return true;
  }
  bool PushString(std::string_view text) {
    if (strings_.size() >= UINT32_MAX - Slot::kFirstString) return PushOpaque();
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
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<Slot> stack_;
  std::vector<std::string_view> strings_;  // every str pushed, by Slot code
  std::vector<Slot> dense_memo_;
  std::unordered_map<int64_t, Slot> sparse_memo_;
  size_t memo_size_ = 0;  // distinct indices stored, as len(memo)
  // Strings the model had to decode (UNICODE's escapes); deque keeps views
  // into earlier entries valid.
  std::deque<std::string> decoded_;
  std::unordered_set<std::string> seen_;
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
    case 'F':
    case 'S':
    case 'P':
      if (!Line(&arg)) return false;
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
      if (!Counted<1>(false, &arg)) return false;
      return PushOpaque();
    case 0x8b:
    case 'T':
      if (!Counted<4>(true, &arg)) return false;
      return PushOpaque();
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
    // EXT*: copyreg extension codes, not names.
    case 0x82:
      return SkipThenPush(1);
    case 0x83:
      return SkipThenPush(2);
    case 0x84:
      return SkipThenPush(4);

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
    case 't':
    case 'd':
    case 0x91:
      if (!PopMark()) return false;
      return PushOpaque();
    case 0x85:
    case 0x86:
    case 0x87:
      if (!PopN(op - 0x84)) return false;
      return PushOpaque();
    case 's':
      return PopN(2);
    case '0':
      // POP discards a MARK too when one is on top, as the unpickler does.
      if (stack_.empty()) return Fail("stack underflow", op_pos_);
      stack_.pop_back();
      return true;
    case '2': {
      Slot top;
      if (!Top(&top)) return false;
      return Push(top);
    }
    case '(':
      return Push(Slot{Slot::kMark});

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
        Record(String(module), String(name));
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
    case 'Q':
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
  dense_memo_.reserve(
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
