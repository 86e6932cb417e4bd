#include "hermetic/graph.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hermetic {
namespace {

std::vector<std::string> Names(const DiGraph& g,
                               const std::vector<DiGraph::NodeId>& ids) {
  std::vector<std::string> out;
  for (DiGraph::NodeId id : ids) out.push_back(g.name(id));
  return out;
}

TEST(DiGraphTest, InsertionOrderAndNoOpDuplicates) {
  DiGraph g;
  EXPECT_EQ(g.AddNode("z"), 0u);
  g.AddEdge("b", "c");
  g.AddEdge("a", "c");
  g.AddEdge("b", "c");
  EXPECT_EQ(g.AddNode("b"), 1u);
  EXPECT_EQ(g.size(), 4u);
  EXPECT_EQ(Names(g, g.Predecessors(*g.Find("c"))),
            (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(g.Successors(*g.Find("b")).size(), 1u);
  EXPECT_FALSE(g.Contains("q"));
}

TEST(DiGraphTest, ToDotExactText) {
  DiGraph g;
  EXPECT_EQ(g.ToDot(), "digraph G {\nrankdir = LR;\nnode [shape=box];\n\n}\n");
  g.AddEdge("a", "b");
  g.AddEdge("c", "a");
  g.AddEdge("a", "c");
  EXPECT_EQ(g.ToDot(),
            "digraph G {\nrankdir = LR;\nnode [shape=box];\n"
            "\"a\" -> \"b\";\n\"a\" -> \"c\";\n\"c\" -> \"a\";\n}\n");
}

TEST(DiGraphTest, ClosuresUseWholeNameAndBreadthFirstOrder) {
  DiGraph g;
  g.AddEdge("extra.mod", "b");
  g.AddEdge("b", "c");
  g.AddEdge("c", "b");
  g.AddEdge("b", "d");
  EXPECT_EQ(Names(g, g.ForwardTransitiveClosure(*g.Find("extra.mod"))),
            (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(Names(g, g.BackwardTransitiveClosure(*g.Find("d"))),
            (std::vector<std::string>{"b", "extra.mod", "c"}));
  // On a cycle the source reaches itself.
  EXPECT_EQ(Names(g, g.ForwardTransitiveClosure(*g.Find("c"))),
            (std::vector<std::string>{"b", "c", "d"}));
}

TEST(DiGraphTest, FirstPathPicksEarliestPredecessorAndStopsOnCycles) {
  DiGraph g;
  g.AddEdge("root", "mid");
  g.AddEdge("other", "mid");
  g.AddEdge("mid", "leaf");
  g.AddEdge("leaf", "root");  // cycle back to the start
  EXPECT_EQ(Names(g, g.FirstPath(*g.Find("mid"))),
            (std::vector<std::string>{"leaf", "root", "mid"}));
}

TEST(DiGraphTest, ShortestPathFromTheNearestSource) {
  DiGraph g;
  g.AddEdge("a", "b");
  g.AddEdge("b", "c");
  g.AddEdge("c", "d");
  g.AddEdge("x", "c");
  g.AddEdge("d", "a");  // a cycle must not loop forever
  g.AddNode("island");
  const DiGraph::NodeId a = *g.Find("a"), x = *g.Find("x");
  const std::vector<DiGraph::NodeId> both = {a, x};
  EXPECT_EQ(Names(g, g.ShortestPath(both, *g.Find("d"))),
            (std::vector<std::string>{"x", "c", "d"}));
  EXPECT_EQ(Names(g, g.ShortestPath(both, *g.Find("b"))),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Names(g, g.ShortestPath(both, x)), (std::vector<std::string>{"x"}));
  EXPECT_TRUE(g.ShortestPath(both, *g.Find("island")).empty());
  // Equally short: the earlier source wins.
  g.AddEdge("x", "b");
  const std::vector<DiGraph::NodeId> x_first = {x, a};
  EXPECT_EQ(Names(g, g.ShortestPath(x_first, *g.Find("b"))),
            (std::vector<std::string>{"x", "b"}));
}

TEST(DiGraphTest, AllPathsDotKeepsOnlyEdgesOnPaths) {
  DiGraph g;
  g.AddEdge("a", "b");
  g.AddEdge("b", "d");
  g.AddEdge("a", "c");
  g.AddEdge("c", "d");
  g.AddEdge("x", "d");
  g.AddEdge("d", "b");  // a cycle must not loop forever
  Result<std::string> dot = g.AllPathsDot("a", "d");
  ASSERT_TRUE(dot.ok());
  EXPECT_EQ(*dot,
            "digraph G {\nrankdir = LR;\nnode [shape=box];\n"
            "\"b\" -> \"d\";\n\"d\" -> \"b\";\n\"c\" -> \"d\";\n"
            "\"a\" -> \"b\";\n\"a\" -> \"c\";\n}\n");
  Result<std::string> none = g.AllPathsDot("d", "x");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, DiGraph().ToDot());
}

TEST(DiGraphTest, UnknownNodeIsOneInvalidArgumentError) {
  DiGraph g;
  g.AddNode("a");
  Result<std::string> dot = g.AllPathsDot("a", "nope");
  ASSERT_FALSE(dot.ok());
  EXPECT_EQ(dot.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dot.status().message(), "The node nope is not in the digraph.");
  Result<DiGraph::NodeId> id = g.Lookup("nope");
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), dot.status().code());
  EXPECT_EQ(id.status().message(), dot.status().message());
  ASSERT_TRUE(g.Lookup("a").ok());
  EXPECT_EQ(*g.Lookup("a"), 0u);
}

}  // namespace
}  // namespace hermetic
