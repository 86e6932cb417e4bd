#include "hermetic/pickle_scan.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace hermetic {
namespace {

Result<PickleScan> Scan(const std::string& bytes,
                        const PickleScanOptions& options = {}) {
  return ScanPickle(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, options);
}

// Concatenation without operator+, which trips GCC 12's -Wrestrict.
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

std::string Le(uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  return out;
}

// A literal with its NULs.
template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::string ShortUnicode(std::string_view s) {
  return Cat({"\x8c", std::string(1, static_cast<char>(s.size())), s});
}

// pickle.dumps(collections.OrderedDict(), protocol=4): framed, memoized.
const std::string kProtocol4 =
    Cat({std::string_view("\x80\x04\x95\x22\x00\x00\x00\x00\x00\x00\x00", 11),
         "\x8c\x0b"
         "collections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94."});

TEST(PickleScanTest, Protocol4StackGlobal) {
  Result<PickleScan> r = Scan(kProtocol4);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->protocol, 4);
  EXPECT_EQ(r->globals,
            (std::vector<PickleGlobal>{{"collections", "OrderedDict"}}));
}

TEST(PickleScanTest, GlobalInstAndLongMemoGets) {
  // GLOBAL, INST, then a module name stored with LONG_BINPUT (index 3 after
  // four pushes, leaving gaps as old optimizers did) and fetched back with
  // LONG_BINGET for STACK_GLOBAL.
  const std::string head =
      Cat({"\x80\x02", "cmod\nKlass\n", "(imod2\nK2\n", "0", ShortUnicode("m3"),
           "r", Le(3, 4), "0", "j", Le(3, 4), ShortUnicode("N"), "\x93"});
  Result<PickleScan> r = Scan(Cat({head, "cmod\nKlass\n."}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->globals, (std::vector<PickleGlobal>{
                            {"mod", "Klass"}, {"mod2", "K2"}, {"m3", "N"}}));

  Result<PickleScan> missing =
      Scan(Cat({head, "0", std::string_view("h\0", 2), "."}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kCorruptPickle);
  EXPECT_NE(missing.status().message().find("memo index 0 missing"),
            std::string::npos);
}

TEST(PickleScanTest, LongNamesViaBinunicodeAndBinunicode8) {
  std::string name(300, 'n');
  Result<PickleScan> r = Scan(
      Cat({"\x80\x04\x8d", Le(3, 8), "m.x", "X", Le(300, 4), name, "\x93."}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->globals, (std::vector<PickleGlobal>{{"m.x", name}}));
}

TEST(PickleScanTest, NonStringOperandsAreSkipped) {
  Result<PickleScan> r = Scan(Cat({"\x80\x04N", ShortUnicode("x"), "\x93."}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->globals.empty());
}

TEST(PickleScanTest, EveryTruncationIsCorrupt) {
  for (size_t n = 0; n < kProtocol4.size(); ++n) {
    Result<PickleScan> r = Scan(kProtocol4.substr(0, n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruptPickle);
  }
}

TEST(PickleScanTest, MalformedInputMessages) {
  EXPECT_EQ(Scan("\xff.").status().message(),
            "pickle unknown opcode 0xff at byte 0");
  EXPECT_EQ(Scan("N0.").status().message(), "pickle stack underflow at byte 2");
  EXPECT_EQ(Scan("t.").status().message(), "pickle missing MARK at byte 0");
}

TEST(PickleScanTest, StackAndMemoLimits) {
  PickleScanOptions options;
  options.max_stack_depth = 4;
  EXPECT_FALSE(Scan("NNNNN.", options).ok());
  options = {};
  options.max_memo_entries = 2;
  EXPECT_FALSE(Scan("N\x94N\x94N\x94.", options).ok());
  EXPECT_TRUE(Scan("N\x94N\x94.", options).ok());
}

std::string Message(const std::string& bytes,
                    const PickleScanOptions& options = {}) {
  Result<PickleScan> r = Scan(bytes, options);
  if (r.ok()) return "ok";
  EXPECT_EQ(r.status().code(), StatusCode::kCorruptPickle);
  return r.status().message();
}

TEST(PickleScanTest, MemoIndexBeyondTheValuesMadeIsRefused) {
  // 9 bytes that make CPython's memo 2^29 slots (4 GiB).
  EXPECT_EQ(Message(B("\x80\x02Nr\x00\x00\x00\x10.")),
            "pickle memo index 268435456 beyond the values made so far at "
            "byte 3");
  EXPECT_EQ(Message("\x80\x02Nq\x01."),
            "pickle memo index 1 beyond the values made so far at byte 3");
  EXPECT_EQ(Message("Np1\n."),
            "pickle memo index 1 beyond the values made so far at byte 1");
  EXPECT_EQ(Message("Np-1\n."), "pickle negative memo index at byte 1");
  EXPECT_EQ(Message(B("\x80\x02Nq\x00.")), "ok");
  // The largest index the values allow, with gaps below it.
  EXPECT_EQ(Message(B("NNNr\x02\x00\x00\x00j\x02\x00\x00\x00.")), "ok");
  PickleScanOptions options;
  options.max_memo_entries = 2;
  EXPECT_EQ(Message("NNNq\x02.", options),
            "pickle memo larger than the limit at byte 3");
}

TEST(PickleScanTest, LengthsBeyondTheDataAreRefused) {
  const std::string huge = Le(uint64_t{1} << 62, 8);
  EXPECT_EQ(Message(Cat({"\x80\x04\x8e", huge, "."})),
            "pickle truncated argument of opcode 0x8e at byte 2");
  EXPECT_EQ(Message(Cat({"\x80\x04\x8d", huge, "."})),
            "pickle truncated argument of opcode 0x8d at byte 2");
  EXPECT_EQ(Message(Cat({"\x80\x05\x96", huge, "."})),
            "pickle truncated argument of opcode 0x96 at byte 2");
  EXPECT_EQ(Message(Cat({"\x80\x04\x95", huge, "N."})),
            "pickle frame beyond end at byte 2");
  EXPECT_EQ(Message(Cat({"B", Le(0xffffffff, 4), "."})),
            "pickle truncated argument of opcode 0x42 at byte 0");
  EXPECT_EQ(Message(Cat({"T", Le(0x80000000, 4), "."})),
            "pickle negative length at byte 0");
  EXPECT_EQ(Message("\x80\x06N."), "pickle unsupported protocol 6 at byte 0");
}

TEST(PickleScanTest, NestingLimits) {
  PickleScanOptions options;
  options.max_mark_depth = 3;
  EXPECT_EQ(Message("(((N.", options), "ok");
  EXPECT_EQ(Message("((((N.", options),
            "pickle MARKs nested deeper than the limit at byte 3");
  // Closed MARKs (by a container or POP) no longer count.
  EXPECT_EQ(Message("(((0l0((N.", options), "ok");
  options = {};
  options.max_stack_depth = 4;
  EXPECT_EQ(Message("NNNNN.", options),
            "pickle stack deeper than the limit at byte 4");
}

TEST(PickleScanTest, IntegerTextLimit) {
  PickleScanOptions options;
  options.max_int_digits = 5;
  EXPECT_EQ(Message("I-12345\n.", options), "ok");
  EXPECT_EQ(Message("L-12345L\n.", options), "ok");
  EXPECT_EQ(Message("I123456\n.", options),
            "pickle integer text longer than the limit at byte 0");
  EXPECT_EQ(Message("L" + std::string(5000, '9') + "L\n."),
            "pickle integer text longer than the limit at byte 0");
}

TEST(PickleScanTest, ExtensionCodes) {
  Result<PickleScan> r =
      Scan(B("\x82\x01\x83\x00\x01\x84\xff\xff\xff\x7f\x82\x01."));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->extension_codes, (std::vector<int32_t>{1, 256, 0x7fffffff}));
  EXPECT_EQ(Message(std::string("\x82\x00.", 3)),
            "pickle extension code not positive at byte 0");
  EXPECT_EQ(Message("\x84\xff\xff\xff\xff."),
            "pickle extension code not positive at byte 0");
}

TEST(PickleScanTest, PersistentIds) {
  // ('storage', ...) as torch writes it: the kind memoized and fetched back.
  const std::string p = Cat({"\x80\x02(", ShortUnicode("storage"),
                             "q\x01NtQ(h\x01K\x01tQNQPpid\n0", "(NtQ."});
  Result<PickleScan> r = Scan(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->persistent_ids, 5u);
  EXPECT_EQ(r->persistent_id_kinds, (std::vector<std::string>{"storage"}));
  EXPECT_EQ(r->unnamed_persistent_ids, 3u);
  r = Scan(Cat({ShortUnicode("reduce_package"), "N\x86Q."}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->persistent_id_kinds,
            (std::vector<std::string>{"reduce_package"}));
}

TEST(PickleScanTest, Python2StringsNameStackGlobals) {
  // The unpickler decodes SHORT_BINSTRING and BINSTRING to str, which
  // STACK_GLOBAL takes.
  Result<PickleScan> r = Scan(Cat({"U\x02osT", Le(6, 4), "system\x93."}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->globals, (std::vector<PickleGlobal>{{"os", "system"}}));
  EXPECT_EQ(r->unresolved_globals, 0u);
}

TEST(PickleScanTest, UnresolvedGlobalsAreCounted) {
  Result<PickleScan> r =
      Scan(Cat({"S'os'\n", ShortUnicode("system"), "\x93NN\x93."}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->globals.empty());
  EXPECT_EQ(r->unresolved_globals, 2u);
  EXPECT_EQ(r->unresolved_global_offsets, (std::vector<size_t>{14, 17}));
}

TEST(PickleScanTest, FindingsComeWithTheOffsetOfTheirOpcode) {
  // GLOBAL at 0 (a repeat at 12 is not reported again), STACK_GLOBAL at 30,
  // EXT1 at 31, a named persistent id at 43 and an unnamed one at 45.
  Result<PickleScan> r = Scan(Cat(
      {"cos\nsystem\n0", "cos\nsystem\n0", ShortUnicode("m"), ShortUnicode("n"),
       "\x93\x82\x05", ShortUnicode("storage"), "\x85QNQ000."}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->globals,
            (std::vector<PickleGlobal>{{"os", "system"}, {"m", "n"}}));
  EXPECT_EQ(r->global_offsets, (std::vector<size_t>{0, 30}));
  EXPECT_EQ(r->extension_code_offsets, (std::vector<size_t>{31}));
  EXPECT_EQ(r->persistent_id_kind_offsets, (std::vector<size_t>{43}));
  EXPECT_EQ(r->first_unnamed_persistent_id_offset, 45u);
}

TEST(PickleScanTest, GlobalNamesMustBeUtf8) {
  EXPECT_EQ(Message("cm\xff\nn\n."), "pickle global name not UTF-8 at byte 0");
  // A surrogate, which BINUNICODE's surrogatepass would let through.
  EXPECT_EQ(
      Message(Cat({ShortUnicode("m"), ShortUnicode("\xed\xa0\x80"), "\x93."})),
      "pickle global name not UTF-8 at byte 8");
  EXPECT_EQ(Message("cm\xc3\xa9\nn\xf0\x9f\x98\x80\n."), "ok");
}

}  // namespace
}  // namespace hermetic
