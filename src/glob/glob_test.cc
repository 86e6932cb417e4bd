#include "hermetic/glob.h"

#include <gtest/gtest.h>

#include <string>

namespace hermetic {
namespace {

struct Row {
  const char* pattern;
  const char* candidate;
  bool match;
};

// Pattern, candidate and expected match, covering each rule of the contract
// in hermetic/glob.h.
constexpr Row kSpecTable[] = {
    {"torch.**", "torch", true},
    {"torch.**", "torch.nn.functional", true},
    {"torch.**", "torchvision", false},
    {"torch.*", "torch", false},
    {"torch.*", "torch.nn", true},
    {"torch.*", "torch.nn.functional", false},
    {"torch*.**", "torch", true},
    {"torch*.**", "torchvision.models", true},
    {"foo", "foo.bar", false},
    {"*", "foo.bar", false},
    {"a.*", "a.", true},
    {"**", "anything.at.all", true},
    {"**", "", false},
    {"**.nn", "torch.nn", true},
    {"**.nn", "nn", true},
    {"a.**.b", "a.b", true},
    {"a.**.b", "a.x.y.b", true},
    {"a*b", "ab", true},
    {"a*b", "axyb", true},
    {"a*b", "a.b", false},
    {"*", "foo", true},
    {"*", "", true},
    {"a.**", "a.", false},
};

TEST(GlobGroupTest, SpecTable) {
  for (const Row& row : kSpecTable) {
    Result<GlobGroup> g = GlobGroup::Create({row.pattern});
    ASSERT_TRUE(g.ok()) << row.pattern;
    EXPECT_EQ(g->Matches(row.candidate), row.match)
        << row.pattern << " vs '" << row.candidate << "'";
  }
}

TEST(GlobGroupTest, GroupExampleWithExclude) {
  Result<GlobGroup> g =
      GlobGroup::Create({"torch.**", "numpy.**"}, {"torch.nn.**"});
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->Matches("torch"));
  EXPECT_FALSE(g->Matches("torch.nn"));
  EXPECT_FALSE(g->Matches("torch.nn.functional"));
  EXPECT_TRUE(g->Matches("numpy.linalg"));
  EXPECT_FALSE(g->Matches("torchx"));
}

TEST(GlobGroupTest, SlashSeparator) {
  Result<GlobGroup> res = GlobGroup::Create({"res/**"}, {}, '/');
  ASSERT_TRUE(res.ok());
  EXPECT_TRUE(res->Matches("res/a.txt"));
  EXPECT_TRUE(res->Matches("res"));
  EXPECT_FALSE(res->Matches(".data/x"));
  Result<GlobGroup> all = GlobGroup::Create({"**"}, {}, '/');
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Matches(".data/version"));
}

TEST(GlobGroupTest, EmptySegmentNeedsLiteralNotDoubleStar) {
  // "**" consumes only non-empty segments, so the empty middle segment of
  // "a..b" must be matched by the single '*'.
  Result<GlobGroup> g = GlobGroup::Create({"**.*.**"});
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->Matches("a..b"));
  EXPECT_FALSE(GlobGroup::Create({"a.**.b"})->Matches("a..b"));
}

TEST(GlobGroupTest, RejectsPartialDoubleStar) {
  for (const char* bad : {"a**", "**b", "x.a**.y", "***"}) {
    Result<GlobGroup> g = GlobGroup::Create({"ok"}, {bad});
    ASSERT_FALSE(g.ok()) << bad;
    EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(g.status().message(),
              "** can only appear as an entire path segment");
  }
}

TEST(GlobGroupTest, LongPatternsSpillPastInlineStates) {
  std::string pattern, candidate;
  for (int i = 0; i < 400; ++i) {
    pattern += i ? ".**.x" : "x";
    candidate += i ? ".y.x" : "x";
  }
  Result<GlobGroup> g = GlobGroup::Create({pattern});
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->Matches(candidate));
  EXPECT_FALSE(g->Matches(candidate + ".z"));
}

}  // namespace
}  // namespace hermetic
