// DiGraph: an insertion-ordered directed graph of names, the structure of
// torch.package's dependency graph (attributes live with the user).
//
// Contract:
//  - Nodes are identified by name and keep the index of their first
//    insertion; iteration, successors and predecessors follow insertion order.
//  - Adding an existing node or edge is a no-op. AddEdge adds missing nodes.
//  - An unknown name is one error wherever a name is looked up (Lookup,
//    AllPathsDot, the export engine's node queries): InvalidArgument "The
//    node <n> is not in the digraph.", torch's ValueError text.
//  - Closures treat src as one node (torch's character-iteration bug is
//    fixed).
#ifndef HERMETIC_GRAPH_H_
#define HERMETIC_GRAPH_H_

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hermetic/status.h"

namespace hermetic {

class DiGraph {
 public:
  using NodeId = size_t;

  // Returns the node's id, adding it if new.
  NodeId AddNode(std::string_view name);
  void AddEdge(std::string_view from, std::string_view to);
  void AddEdge(NodeId from, NodeId to);
  // Edges from -> each of `to`, for callers that know them new and distinct
  // (a parser that has checked so): no de-duplication, so a node with many
  // successors costs linear, not quadratic, time. Not checked.
  void AddNewEdges(NodeId from, std::span<const NodeId> to);

  std::optional<NodeId> Find(std::string_view name) const;
  // Find, or the unknown-node error.
  Result<NodeId> Lookup(std::string_view name) const;
  // The unknown-node error for `name` (e.g. the text of a key that cannot be
  // a name at all).
  static Status UnknownNode(std::string_view name);
  bool Contains(std::string_view name) const { return Find(name).has_value(); }
  size_t size() const { return names_.size(); }
  const std::string& name(NodeId id) const { return names_[id]; }

  const std::vector<NodeId>& Successors(NodeId id) const { return succ_[id]; }
  const std::vector<NodeId>& Predecessors(NodeId id) const { return pred_[id]; }

  // Nodes reachable from src (excluding src unless on a cycle through it),
  // in breadth-first order.
  std::vector<NodeId> ForwardTransitiveClosure(NodeId src) const;
  std::vector<NodeId> BackwardTransitiveClosure(NodeId src) const;

  // torch's first_path: from dst walk back choosing the predecessor with the
  // smallest insertion index until a node without predecessors (or a node
  // already on the path); returned root first.
  std::vector<NodeId> FirstPath(NodeId dst) const;

  // A shortest path (fewest edges) from any of `sources` to dst, that
  // source first: breadth-first from all sources at once, in the order
  // given and then successor order, so ties go to the earlier source and
  // edge. {dst} when dst is a source; empty when no source reaches it.
  std::vector<NodeId> ShortestPath(std::span<const NodeId> sources,
                                   NodeId dst) const;

  // DOT text in torch's layout: "digraph G {\nrankdir = LR;\nnode
  // [shape=box];\n" + one "\"u\" -> \"v\";\n" line per edge + "}\n".
  std::string ToDot() const;
  // DOT text of the edges lying on some path src -> dst.
  Result<std::string> AllPathsDot(std::string_view src,
                                  std::string_view dst) const;

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<NodeId>> succ_;
  std::vector<std::vector<NodeId>> pred_;
  std::unordered_map<std::string, NodeId> index_;
};

}  // namespace hermetic

#endif  // HERMETIC_GRAPH_H_
