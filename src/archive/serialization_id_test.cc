#include "serialization_id.h"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>
#include <vector>

namespace hermetic {
namespace {

std::vector<std::string> Names(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    // Lengths 1 to 20, so both the 8-byte words and every tail length occur.
    out.push_back("m/" + std::to_string(i * 7919) + std::string(i % 13, 'x'));
  }
  return out;
}

TEST(SerializationIdTest, EmptyRecordsLeaveTheCrcHalfAlone) {
  SerializationIdHasher with_empty;
  with_empty.Add("a", 1, 0x8cdc1683);
  with_empty.Add("b", 0, 0);
  SerializationIdHasher without;
  without.Add("a", 1, 0x8cdc1683);
  without.Add("c", 0, 0);
  EXPECT_EQ(with_empty.Text().substr(20), without.Text().substr(20));
  // A written CRC of 0 (compute_crc32 off) still counts.
  without.Add("d", 4, 0);
  EXPECT_NE(with_empty.Text().substr(20), without.Text().substr(20));
}

TEST(SerializationIdTest, MatchesAnArchiveTorchWrote) {
  // torch 2.13's PyTorchFileWriter, min version 6, records "a" = "x" then
  // its own ".data/version" = "6\n" and "byteorder" = "little".
  SerializationIdHasher id;
  id.Add("a", 1, 0x8cdc1683);
  id.Add(".data/version", 2, 0x28106a94);
  id.Add("byteorder", 6, 0x19e33d85);
  EXPECT_EQ(id.Text(), "1030812266366653602800000020451800000118");
}

#if defined(__GLIBCXX__) && SIZE_MAX == UINT64_MAX
// Where hermetic is built with the library torch's wheels use, the
// reproduction must agree with the library itself, through every rehash.
TEST(SerializationIdTest, AgreesWithLibstdcxx) {
  const std::vector<std::string> names = Names(3000);
  for (const std::string& name : names) {
    ASSERT_EQ(LibstdcxxStringHash(name), std::hash<std::string>{}(name))
        << name;
  }
  SerializationIdHasher id;
  std::unordered_set<std::string> set;
  for (size_t n = 0; n < names.size(); ++n) {
    id.Add(names[n], 1, 7);
    set.insert(names[n]);
    if (n % 97 != 0 && n > 64) continue;
    uint64_t name_hash = 0;
    for (const std::string& s : set) {
      name_hash = HashCombine(name_hash, std::hash<std::string>{}(s));
    }
    std::string digits = std::to_string(name_hash);
    ASSERT_EQ(id.Text().substr(0, 20),
              std::string(20 - digits.size(), '0') + digits)
        << n + 1 << " names";
  }
}
#endif

}  // namespace
}  // namespace hermetic
