#include "string_literal.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace hermetic {
namespace {

TEST(StringLiteralTest, DecodesEscapesAndRejectsBytes) {
  EXPECT_EQ(DecodeStringLiteral(R"('a\x2eb\n')"), "a.b\n");
  EXPECT_EQ(DecodeStringLiteral(R"(r'a\x')"), "a\\x");
  EXPECT_EQ(DecodeStringLiteral(R"("""t\u00e9""")"), "t\xc3\xa9");
  EXPECT_EQ(DecodeStringLiteral("b'x'"), std::nullopt);
  EXPECT_EQ(DecodeStringLiteral(R"('\N{DASH}')"), std::nullopt);
  EXPECT_FALSE(ParseStringPrefix("ub").has_value());
  EXPECT_TRUE(ParseStringPrefix("Rb").has_value());
}

TEST(StringLiteralTest, AppendUtf8AndHexValue) {
  std::string out;
  AppendUtf8(0x41, &out);
  AppendUtf8(0xe9, &out);
  AppendUtf8(0x20ac, &out);
  AppendUtf8(0x1f600, &out);
  EXPECT_EQ(out, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(HexValue('0'), 0);
  EXPECT_EQ(HexValue('f'), 15);
  EXPECT_EQ(HexValue('F'), 15);
  EXPECT_EQ(HexValue('g'), -1);
}

}  // namespace
}  // namespace hermetic
