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
  // GLOBAL, INST, then a module name stored with LONG_BINPUT and fetched
  // back with LONG_BINGET for STACK_GLOBAL.
  const std::string head = Cat({"\x80\x02", "cmod\nKlass\n", "(imod2\nK2\n",
                                "0", ShortUnicode("m3"), "r", Le(70000, 4), "0",
                                "j", Le(70000, 4), ShortUnicode("N"), "\x93"});
  Result<PickleScan> r = Scan(Cat({head, "cmod\nKlass\n."}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->globals, (std::vector<PickleGlobal>{
                            {"mod", "Klass"}, {"mod2", "K2"}, {"m3", "N"}}));

  Result<PickleScan> missing =
      Scan(Cat({head, "0", std::string_view("h\0", 2), "."}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kCorruptArchive);
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
    EXPECT_EQ(r.status().code(), StatusCode::kCorruptArchive);
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
  EXPECT_FALSE(Scan("N\x94\x94\x94.", options).ok());
  EXPECT_TRUE(Scan("N\x94\x94.", options).ok());
}

TEST(PickleScanTest, SparseMemoIndicesDoNotGrowMemory) {
  // Each index doubles the last: a dense table would reach 2^32 entries.
  std::string p = "\x80\x02N";
  uint64_t index = 4096;
  std::vector<uint64_t> used;
  while (index <= UINT32_MAX) {
    p += Cat({"r", Le(index, 4)});
    used.push_back(index);
    index = 2 * index + 4096;
  }
  for (uint64_t i : used) p += Cat({"j", Le(i, 4), "0"});
  p += ".";
  Result<PickleScan> r = Scan(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

}  // namespace
}  // namespace hermetic
