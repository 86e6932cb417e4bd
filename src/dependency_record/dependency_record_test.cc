#include "hermetic/dependency_record.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hermetic {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

DependencyRecord Sample() {
  DependencyRecord r;
  r.graph.AddEdge("<model.model.pkl>", "model.net");
  r.graph.AddEdge("model.net", "torch");
  r.graph.AddEdge("model.net", "model.util");
  r.graph.AddEdge("model.util", "numpy");
  r.graph.AddEdge("model.util", "model.util");  // a module importing itself
  r.graph.AddEdge("model.net", "_mock");
  r.graph.AddNode("odd name\n\\with\x1b[31m bytes");
  r.kinds = {DependencyKind::kPickle, DependencyKind::kIntern,
             DependencyKind::kExtern, DependencyKind::kIntern,
             DependencyKind::kMock,   DependencyKind::kMockModule,
             DependencyKind::kSkip};
  r.roots = {0, 6};
  return r;
}

std::string Serialized() { return SerializeDependencyRecord(Sample()); }

Status ParseStatus(std::string_view text, DependencyRecordOptions o = {}) {
  return ParseDependencyRecord(Bytes(text), "a.pt", o).status();
}

TEST(DependencyRecordTest, LayoutIsTheDocumentedOne) {
  EXPECT_EQ(Serialized(),
            "hermetic-dependencies 1\n"
            "node pickle <model.model.pkl>\n"
            "node intern model.net\n"
            "node extern torch\n"
            "node intern model.util\n"
            "node mock numpy\n"
            "node mock_module _mock\n"
            "node skip odd name\\x0a\\\\with\\x1b[31m bytes\n"
            "deps 0 1\n"
            "deps 1 2 3 5\n"
            "deps 3 4 3\n"
            "roots 0 6\n"
            "end 7 6\n");
}

TEST(DependencyRecordTest, RoundTripsExactly) {
  const std::string text = Serialized();
  Result<DependencyRecord> parsed = ParseDependencyRecord(Bytes(text), "a.pt");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(SerializeDependencyRecord(*parsed), text);
  EXPECT_EQ(parsed->graph.name(6), "odd name\n\\with\x1b[31m bytes");
  EXPECT_EQ(parsed->kinds, Sample().kinds);
  EXPECT_EQ(parsed->roots, Sample().roots);
  // Predecessors are rebuilt too.
  const DiGraph::NodeId util = *parsed->graph.Find("model.util");
  EXPECT_EQ(parsed->graph.Predecessors(util),
            (std::vector<DiGraph::NodeId>{1, 3}));
}

TEST(DependencyRecordTest, EmptyGraph) {
  DependencyRecord empty;
  const std::string text = SerializeDependencyRecord(empty);
  EXPECT_EQ(text, "hermetic-dependencies 1\nroots\nend 0 0\n");
  EXPECT_TRUE(ParseDependencyRecord(Bytes(text), "a.pt").ok());
}

TEST(DependencyRecordTest, WhyIncludedIsTheShortestChainFromARoot) {
  const DependencyRecord r = Sample();
  auto names = [&](const std::vector<DiGraph::NodeId>& ids) {
    std::vector<std::string> out;
    for (DiGraph::NodeId id : ids) out.push_back(r.graph.name(id));
    return out;
  };
  EXPECT_EQ(names(WhyIncluded(r, *r.graph.Find("numpy"))),
            (std::vector<std::string>{"<model.model.pkl>", "model.net",
                                      "model.util", "numpy"}));
  EXPECT_EQ(names(WhyIncluded(r, 0)),
            (std::vector<std::string>{"<model.model.pkl>"}));
}

// Every way the text can differ from what the serializer writes.
TEST(DependencyRecordTest, RefusesEverythingButTheCanonicalText) {
  const std::string good = Serialized();
  auto with = [&](std::string_view from, std::string_view to) {
    std::string t = good;
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    t.replace(at, from.size(), to);
    return t;
  };
  const std::vector<std::string> bad = {
      "",
      "hermetic-dependencies 1",  // no newline
      with("end 7 6\n", "end 7 6"),
      with("end 7 6\n", "end 7 6\nextra\n"),
      with("end 7 6", "end 7 5"),
      with("end 7 6", "end 8 6"),
      with("node intern model.net", "node bogus model.net"),
      with("node intern model.net", "node intern"),
      with("node intern model.net", "node intern "),
      with("node extern torch", "node extern model.net"),  // twice
      with("\\\\with", "\\with"),                          // lone backslash
      with("\\x0a", "\\x0A"),                              // upper-case hex
      with("\\x0a", "\\xff"),                              // not UTF-8
      with("deps 0 1", "deps 0"),
      with("deps 0 1", "deps 0 7"),    // no node 7
      with("deps 0 1", "deps 0 01"),   // leading zero
      with("deps 0 1", "deps 0  1"),   // two spaces
      with("deps 0 1", "deps 0 1 1"),  // edge twice
      with("deps 0 1", "deps 0 -1"),
      with("deps 0 1", "deps 0 18446744073709551617"),
      with("deps 3 4 3\n", ""),  // edges no longer add up
      with("deps 1 2 3 5\ndeps 3", "deps 3 2 3 5\ndeps 1"),  // order
      with("roots 0 6", "roots 0 0"),
      with("roots 0 6", "roots 0 7"),
      with("roots 0 6", "roots "),
      with("roots 0 6\n", ""),
      with("roots", "root"),
      with("node mock numpy\n", "node mock numpy\r\n"),
  };
  for (const std::string& text : bad) {
    Status s = ParseStatus(text);
    EXPECT_EQ(s.code(), StatusCode::kCorruptArchive) << text;
    EXPECT_NE(s.message().find("record .data/hermetic/dependencies"),
              std::string::npos)
        << s.message();
  }
}

TEST(DependencyRecordTest, NamesTheLineAndTheArchive) {
  const std::string text = "hermetic-dependencies 1\nnode intern a\nbogus\n";
  EXPECT_EQ(ParseStatus(text).message(),
            "archive a.pt, record .data/hermetic/dependencies, line 3: "
            "expected 'roots'");
}

TEST(DependencyRecordTest, AnotherVersionIsUnsupported) {
  Status s = ParseStatus("hermetic-dependencies 2\nwhatever\n");
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("version 2"), std::string::npos);
}

TEST(DependencyRecordTest, LimitsAreOptions) {
  const std::string text = Serialized();
  DependencyRecordOptions o;
  o.max_record_size = text.size() - 1;
  EXPECT_EQ(ParseStatus(text, o).code(), StatusCode::kResourceExhausted);
  o = {};
  o.max_nodes = 6;
  EXPECT_EQ(ParseStatus(text, o).code(), StatusCode::kCorruptArchive);
  o = {};
  o.max_edges = 5;
  EXPECT_EQ(ParseStatus(text, o).code(), StatusCode::kCorruptArchive);
  o = {};
  o.max_name_length = 10;
  EXPECT_EQ(ParseStatus(text, o).code(), StatusCode::kCorruptArchive);
  o.max_name_length = 25;  // the longest name's unescaped length
  EXPECT_TRUE(ParseStatus(text, o).ok());
}

TEST(DependencyRecordTest, ANodeWithManySuccessors) {
  // One node depending on 200 000 others: quadratic de-duplication would
  // take minutes; the parser checks distinctness once per line instead.
  DependencyRecord r;
  constexpr size_t kFanOut = 200000;
  r.graph.AddNode("hub");
  r.kinds.push_back(DependencyKind::kIntern);
  std::vector<DiGraph::NodeId> to;
  for (size_t i = 0; i < kFanOut; ++i) {
    // Appended: GCC 12 misreads "m" + string (-Wrestrict).
    std::string name = "m";
    name += std::to_string(i);
    to.push_back(r.graph.AddNode(name));
    r.kinds.push_back(DependencyKind::kExtern);
  }
  r.graph.AddNewEdges(0, to);
  r.roots = {0};
  const std::string text = SerializeDependencyRecord(r);
  Result<DependencyRecord> parsed = ParseDependencyRecord(Bytes(text), "a.pt");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->graph.Successors(0).size(), kFanOut);
}

}  // namespace
}  // namespace hermetic
