#include "hermetic/graph.h"

#include <algorithm>
#include <deque>

namespace hermetic {

DiGraph::NodeId DiGraph::AddNode(std::string_view name) {
  auto [it, inserted] = index_.try_emplace(std::string(name), names_.size());
  if (inserted) {
    names_.emplace_back(name);
    succ_.emplace_back();
    pred_.emplace_back();
  }
  return it->second;
}

void DiGraph::AddEdge(std::string_view from, std::string_view to) {
  NodeId u = AddNode(from);
  AddEdge(u, AddNode(to));
}

void DiGraph::AddEdge(NodeId from, NodeId to) {
  std::vector<NodeId>& out = succ_[from];
  // Linear de-dup keeps insertion order; fan-out of a module is small.
  if (std::find(out.begin(), out.end(), to) != out.end()) return;
  out.push_back(to);
  pred_[to].push_back(from);
}

void DiGraph::AddNewEdges(NodeId from, std::span<const NodeId> to) {
  std::vector<NodeId>& out = succ_[from];
  out.insert(out.end(), to.begin(), to.end());
  for (NodeId v : to) pred_[v].push_back(from);
}

std::optional<DiGraph::NodeId> DiGraph::Find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

Status DiGraph::UnknownNode(std::string_view name) {
  return Status::InvalidArgument("The node " + std::string(name) +
                                 " is not in the digraph.");
}

Result<DiGraph::NodeId> DiGraph::Lookup(std::string_view name) const {
  if (std::optional<NodeId> id = Find(name)) return *id;
  return UnknownNode(name);
}

namespace {

// Breadth-first walk over `next` from src; src itself is only reported when
// it is reached again through a cycle.
std::vector<DiGraph::NodeId> Closure(
    size_t node_count, DiGraph::NodeId src,
    const std::vector<std::vector<DiGraph::NodeId>>& next) {
  std::vector<bool> seen(node_count, false);
  std::vector<DiGraph::NodeId> order;
  std::deque<DiGraph::NodeId> work = {src};
  while (!work.empty()) {
    DiGraph::NodeId cur = work.front();
    work.pop_front();
    for (DiGraph::NodeId n : next[cur]) {
      if (seen[n]) continue;
      seen[n] = true;
      order.push_back(n);
      work.push_back(n);
    }
  }
  return order;
}

std::string DotText(
    const std::vector<std::pair<std::string_view, std::string_view>>& edges) {
  std::string out = "digraph G {\nrankdir = LR;\nnode [shape=box];\n";
  for (size_t i = 0; i < edges.size(); ++i) {
    if (i > 0) out += '\n';
    out += '"';
    out += edges[i].first;
    out += "\" -> \"";
    out += edges[i].second;
    out += "\";";
  }
  out += "\n}\n";
  return out;
}

}  // namespace

std::vector<DiGraph::NodeId> DiGraph::ForwardTransitiveClosure(
    NodeId src) const {
  return Closure(size(), src, succ_);
}

std::vector<DiGraph::NodeId> DiGraph::BackwardTransitiveClosure(
    NodeId src) const {
  return Closure(size(), src, pred_);
}

std::vector<DiGraph::NodeId> DiGraph::FirstPath(NodeId dst) const {
  std::vector<bool> on_path(size(), false);
  std::vector<NodeId> path;
  std::optional<NodeId> cur = dst;
  while (cur && !on_path[*cur]) {
    on_path[*cur] = true;
    path.push_back(*cur);
    const std::vector<NodeId>& preds = pred_[*cur];
    // Node ids are insertion indices, so the smallest id is the earliest.
    auto it = std::min_element(preds.begin(), preds.end());
    cur = it == preds.end() ? std::nullopt : std::optional<NodeId>(*it);
  }
  std::reverse(path.begin(), path.end());
  return path;
}

std::vector<DiGraph::NodeId> DiGraph::ShortestPath(
    std::span<const NodeId> sources, NodeId dst) const {
  constexpr NodeId kUnseen = static_cast<NodeId>(-1);
  // parent[n] is the node n was first reached from (itself for a source).
  std::vector<NodeId> parent(size(), kUnseen);
  std::deque<NodeId> work;
  for (NodeId s : sources) {
    if (parent[s] != kUnseen) continue;
    parent[s] = s;
    work.push_back(s);
  }
  while (!work.empty() && parent[dst] == kUnseen) {
    NodeId cur = work.front();
    work.pop_front();
    for (NodeId n : succ_[cur]) {
      if (parent[n] != kUnseen) continue;
      parent[n] = cur;
      work.push_back(n);
    }
  }
  std::vector<NodeId> path;
  if (parent[dst] == kUnseen) return path;
  for (NodeId cur = dst;; cur = parent[cur]) {
    path.push_back(cur);
    if (parent[cur] == cur) break;
  }
  std::reverse(path.begin(), path.end());
  return path;
}

std::string DiGraph::ToDot() const {
  std::vector<std::pair<std::string_view, std::string_view>> edges;
  for (NodeId u = 0; u < size(); ++u) {
    for (NodeId v : succ_[u]) edges.emplace_back(names_[u], names_[v]);
  }
  return DotText(edges);
}

Result<std::string> DiGraph::AllPathsDot(std::string_view src,
                                         std::string_view dst) const {
  HERMETIC_ASSIGN_OR_RETURN(const NodeId s, Lookup(src));
  HERMETIC_ASSIGN_OR_RETURN(const NodeId d, Lookup(dst));
  std::vector<bool> from_src(size(), false);
  from_src[s] = true;
  for (NodeId n : ForwardTransitiveClosure(s)) from_src[n] = true;
  // The result is itself an insertion-ordered graph (as torch builds one), so
  // its DOT lists edges grouped by the order their sources were first added.
  DiGraph paths;
  if (from_src[d]) {
    std::vector<bool> visited(size(), false);
    std::deque<NodeId> work = {d};
    visited[d] = true;
    while (!work.empty()) {
      NodeId cur = work.front();
      work.pop_front();
      for (NodeId n : pred_[cur]) {
        if (!from_src[n]) continue;
        paths.AddEdge(names_[n], names_[cur]);
        if (!visited[n]) {
          visited[n] = true;
          work.push_back(n);
        }
      }
    }
  }
  return paths.ToDot();
}

}  // namespace hermetic
