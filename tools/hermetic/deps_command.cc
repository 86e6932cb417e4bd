// hermetic deps ARCHIVE [MODULE]: the dependency graph the exporter stored
// in the archive (.data/hermetic/dependencies, docs/format.md section 12):
// a summary, a module's dependencies and dependents, the shortest chain
// from a saved module that explains why a module is in, as text, JSON, DOT
// or SVG (DOT drawn by Graphviz's dot program, run as a child process).
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/dependency_record.h"
#include "hermetic/posix_file.h"
#include "json.h"

namespace hermetic::cli {
namespace {

using NodeId = DiGraph::NodeId;

// A whole graph with more nodes than this is drawn by package (module
// names cut to fewer components, every extern in one box) so that the
// picture stays readable; packages are cut as deep as still gives at most
// kMaxDrawnGroups boxes.
constexpr size_t kMaxDrawnNodes = 120;
constexpr size_t kMaxDrawnGroups = 60;
constexpr size_t kTopListed = 5;

struct DepsView {
  std::string path;
  DependencyRecord record;
  std::vector<bool> is_root;

  const std::string& Name(NodeId id) const { return record.graph.name(id); }
  std::string Shown(NodeId id) const { return EscapeName(Name(id)); }
  std::string_view Kind(NodeId id) const {
    return DependencyKindName(record.kinds[id]);
  }
};

std::string JsonName(const DepsView& d, NodeId id) {
  return JsonString(d.Shown(id));
}

std::string JsonNames(const DepsView& d, const std::vector<NodeId>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    out.append(i ? ", " : "").append(JsonName(d, ids[i]));
  }
  return out + "]";
}

// "model.net  intern" lines, names padded to line up.
void PrintNodeList(const DepsView& d, const std::vector<NodeId>& ids) {
  size_t width = 0;
  for (NodeId id : ids) width = std::max(width, d.Shown(id).size());
  width = std::min<size_t>(width, 60);
  for (NodeId id : ids) {
    std::printf("  %-*s  %s%s\n", static_cast<int>(width), d.Shown(id).c_str(),
                std::string(d.Kind(id)).c_str(),
                d.is_root[id] ? " (saved)" : "");
  }
}

// --- DOT ---------------------------------------------------------------

// A name inside a DOT string: escaped for the terminal first (so nothing
// invisible reaches a picture either), then for DOT's quoting.
std::string DotQuoted(std::string_view text) {
  std::string out = "\"";
  for (char c : EscapeName(text)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string_view KindStyle(DependencyKind kind) {
  switch (kind) {
    case DependencyKind::kIntern:
      return "style=filled, fillcolor=\"#dbe9f6\"";
    case DependencyKind::kExtern:
      return "style=\"filled,dashed\", fillcolor=\"#eeeeee\"";
    case DependencyKind::kMock:
      return "style=filled, fillcolor=\"#fde2c8\"";
    case DependencyKind::kPickle:
      return "shape=note, style=filled, fillcolor=\"#d9f2d0\"";
    case DependencyKind::kMockModule:
    case DependencyKind::kSkip:
      return "style=dotted";
  }
  return "";
}

std::string_view TopLevel(std::string_view name) {
  if (name.starts_with("<")) return "";  // a pickle: not in a package
  return name.substr(0, name.find('.'));
}

// `name` cut to its first `depth` dotted components.
std::string_view Prefix(std::string_view name, size_t depth) {
  size_t end = 0;
  for (size_t i = 0; i < depth; ++i) {
    end = name.find('.', i == 0 ? 0 : end + 1);
    if (end == std::string_view::npos) return name;
  }
  return name.substr(0, end);
}

const char kDotHeader[] =
    "digraph dependencies {\n"
    "  rankdir=LR;\n"
    "  ranksep=0.6;\n"
    "  concentrate=true;\n"
    "  node [shape=box, fontname=\"Helvetica\", fontsize=10, height=0.25];\n"
    "  edge [color=\"#555555\", arrowsize=0.6];\n";

const char kLegend[] =
    "  subgraph cluster_legend {\n"
    "    label=\"kinds\"; fontname=\"Helvetica\"; fontsize=10; "
    "color=\"#bbbbbb\";\n"
    "    legend_intern [label=\"interned\", style=filled, "
    "fillcolor=\"#dbe9f6\"];\n"
    "    legend_extern [label=\"extern\", style=\"filled,dashed\", "
    "fillcolor=\"#eeeeee\"];\n"
    "    legend_mock [label=\"mocked\", style=filled, "
    "fillcolor=\"#fde2c8\"];\n"
    "    legend_pickle [label=\"pickle\", shape=note, style=filled, "
    "fillcolor=\"#d9f2d0\"];\n"
    "  }\n";

// The cluster a node is drawn in: its top-level package, or one box for
// every extern (mostly the standard library: one box keeps them out of
// the package's structure), or none (a pickle).
std::string ClusterOf(const DepsView& d, NodeId id) {
  if (d.record.kinds[id] == DependencyKind::kExtern) {
    return "\x01extern";  // sorts first, cannot be a package name
  }
  return std::string(TopLevel(d.Name(id)));
}

// The subgraph of `nodes` (and the edges among them), each top-level
// package a cluster, the externs in one, saved roots in bold; edges to
// externs are light, so the package's own structure stands out.
// With `chain`, `nodes` is a path and only its edges are drawn.
std::string NodesDot(const DepsView& d, const std::vector<NodeId>& nodes,
                     bool chain = false) {
  std::vector<bool> drawn(d.record.graph.size(), false);
  for (NodeId id : nodes) drawn[id] = true;
  std::map<std::string, std::vector<NodeId>> clusters;
  for (NodeId id : nodes) clusters[ClusterOf(d, id)].push_back(id);
  std::string out = kDotHeader;
  size_t n = 0;
  for (const auto& [package, ids] : clusters) {
    const bool boxed = !package.empty() && ids.size() > 1;
    std::string indent = boxed ? "    " : "  ";
    if (boxed) {
      out.append("  subgraph cluster_")
          .append(std::to_string(n++))
          .append(" {\n");
      out.append("    label=")
          .append(package == "\x01extern"
                      ? std::string("\"extern (from the loading environment)\"")
                      : DotQuoted(package))
          .append(
              "; fontname=\"Helvetica\"; fontsize=11; color=\"#999999\";\n");
    }
    for (NodeId id : ids) {
      out.append(indent).append(DotQuoted(d.Name(id))).append(" [");
      out.append(KindStyle(d.record.kinds[id]));
      if (d.is_root[id]) out.append(", penwidth=2");
      out.append("];\n");
    }
    if (boxed) out.append("  }\n");
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeId u = nodes[i];
    for (NodeId v : d.record.graph.Successors(u)) {
      const bool next = i + 1 < nodes.size() && v == nodes[i + 1];
      if (!drawn[v] || (chain && !next)) continue;
      out.append("  ").append(DotQuoted(d.Name(u))).append(" -> ");
      out.append(DotQuoted(d.Name(v)));
      if (d.record.kinds[v] == DependencyKind::kExtern) {
        out.append(" [color=\"#c8c8c8\"]");
      }
      out.append(";\n");
    }
  }
  return out + kLegend + "}\n";
}

// The whole graph with modules merged into packages of `depth` components
// ("sympy.core" for depth 2), each labelled with its module count; a group
// takes the kind of its first module, pickles stay as they are.
// The box a node is drawn in when the graph is drawn by package.
std::string_view GroupKey(const DepsView& d, NodeId id, size_t depth) {
  std::string_view name = d.Name(id);
  if (d.record.kinds[id] == DependencyKind::kExtern) return "externs";
  return name.starts_with("<") ? name : Prefix(name, depth);
}

std::string GroupedDot(const DepsView& d, size_t depth) {
  const DiGraph& g = d.record.graph;
  DiGraph groups;
  std::vector<NodeId> group_of(g.size());
  std::vector<size_t> members;
  std::vector<DependencyKind> kinds;
  std::vector<bool> roots;
  for (NodeId id = 0; id < g.size(); ++id) {
    const NodeId group = groups.AddNode(GroupKey(d, id, depth));
    if (group == members.size()) {
      members.push_back(0);
      kinds.push_back(d.record.kinds[id]);
      roots.push_back(false);
    }
    ++members[group];
    roots[group] = roots[group] || d.is_root[id];
    group_of[id] = group;
  }
  std::string out = kDotHeader;
  for (NodeId gid = 0; gid < groups.size(); ++gid) {
    std::string label = EscapeName(groups.name(gid));
    if (members[gid] > 1) label += " (" + std::to_string(members[gid]) + ")";
    out.append("  ").append(DotQuoted(groups.name(gid))).append(" [label=");
    out.append(DotQuoted(label)).append(", ").append(KindStyle(kinds[gid]));
    if (roots[gid]) out.append(", penwidth=2");
    out.append("];\n");
  }
  for (NodeId u = 0; u < g.size(); ++u) {
    for (NodeId v : g.Successors(u)) {
      if (group_of[u] != group_of[v]) groups.AddEdge(group_of[u], group_of[v]);
    }
  }
  for (NodeId u = 0; u < groups.size(); ++u) {
    for (NodeId v : groups.Successors(u)) {
      out.append("  ").append(DotQuoted(groups.name(u))).append(" -> ");
      out.append(DotQuoted(groups.name(v)));
      if (kinds[v] == DependencyKind::kExtern) {
        out.append(" [color=\"#c8c8c8\"]");
      }
      out.append(";\n");
    }
  }
  out.append("  label=")
      .append(DotQuoted(std::to_string(g.size()) +
                        " nodes drawn by package (module count in brackets); "
                        "hermetic deps ARCHIVE MODULE draws one module"));
  out.append("; fontname=\"Helvetica\"; fontsize=10;\n");
  return out + kLegend + "}\n";
}

// The whole graph, merged by package when it has too many nodes to read.
std::string WholeDot(const DepsView& d) {
  const DiGraph& g = d.record.graph;
  if (g.size() <= kMaxDrawnNodes) {
    std::vector<NodeId> all(g.size());
    for (NodeId id = 0; id < g.size(); ++id) all[id] = id;
    return NodesDot(d, all);
  }
  // The deepest grouping that still fits, at least by top-level package.
  for (size_t depth = 3; depth > 1; --depth) {
    DiGraph probe;
    for (NodeId id = 0; id < g.size(); ++id) {
      probe.AddNode(GroupKey(d, id, depth));
    }
    if (probe.size() <= kMaxDrawnGroups) return GroupedDot(d, depth);
  }
  return GroupedDot(d, 1);
}

// DOT on standard output, or SVG through Graphviz's dot.
int Emit(std::string_view format, const std::string& dot) {
  if (format == "dot") {
    std::fputs(dot.c_str(), stdout);
    return kExitOk;
  }
  std::fflush(stdout);
  Result<ProgramExit> run =
      RunProgram({"dot", "-Tsvg"}, dot, "running Graphviz's dot");
  if (!run.ok()) return Fail(run.status());
  if (run->not_found) {
    std::fprintf(stderr,
                 "hermetic deps: --format svg needs Graphviz's 'dot' program, "
                 "which is not on PATH (Debian: apt-get install graphviz); "
                 "--format dot prints the graph for rendering elsewhere\n");
    return kExitOther;
  }
  if (run->status != 0) {
    std::fprintf(stderr, "hermetic deps: Graphviz's dot failed (status %d)\n",
                 run->status);
    return kExitOther;
  }
  return kExitOk;
}

// --- the three views ---------------------------------------------------

int Summary(const DepsView& d, bool json, std::string_view format) {
  const DiGraph& g = d.record.graph;
  if (format != "text") return Emit(format, WholeDot(d));
  std::vector<size_t> counts(std::size(kAllDependencyKinds), 0);
  size_t edges = 0;
  for (NodeId id = 0; id < g.size(); ++id) {
    ++counts[static_cast<size_t>(d.record.kinds[id])];
    edges += g.Successors(id).size();
  }
  std::vector<NodeId> by_dependents(g.size());
  for (NodeId id = 0; id < g.size(); ++id) by_dependents[id] = id;
  std::stable_sort(by_dependents.begin(), by_dependents.end(),
                   [&](NodeId a, NodeId b) {
                     return g.Predecessors(a).size() > g.Predecessors(b).size();
                   });
  if (by_dependents.size() > kTopListed) by_dependents.resize(kTopListed);
  if (json) {
    std::string out =
        "{\"archive\": " + JsonString(EscapeName(d.path)) + ", \"kinds\": {";
    for (size_t k = 0; k < counts.size(); ++k) {
      out.append(k ? ", " : "")
          .append(JsonString(DependencyKindName(kAllDependencyKinds[k])))
          .append(": ")
          .append(std::to_string(counts[k]));
    }
    out.append("}, \"nodes\": [");
    for (NodeId id = 0; id < g.size(); ++id) {
      out.append(id ? ", " : "")
          .append("{\"name\": ")
          .append(JsonName(d, id))
          .append(", \"kind\": ")
          .append(JsonString(d.Kind(id)))
          .append(", \"dependencies\": ")
          .append(JsonNames(d, g.Successors(id)))
          .append("}");
    }
    out.append("], \"edges\": ").append(std::to_string(edges));
    out.append(", \"roots\": ").append(JsonNames(d, d.record.roots));
    out.append("}\n");
    std::fputs(out.c_str(), stdout);
    return kExitOk;
  }
  std::string kinds;
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] == 0) continue;
    kinds.append(kinds.empty() ? "" : ", ")
        .append(std::to_string(counts[k]))
        .append(" ")
        .append(DependencyKindName(kAllDependencyKinds[k]));
  }
  std::printf("%s: %zu nodes (%s), %zu edges\n", EscapeName(d.path).c_str(),
              g.size(), kinds.c_str(), edges);
  std::printf("saved (roots of every chain): %zu\n", d.record.roots.size());
  std::vector<NodeId> roots = d.record.roots;
  if (roots.size() > 2 * kTopListed) roots.resize(2 * kTopListed);
  PrintNodeList(d, roots);
  if (roots.size() < d.record.roots.size()) {
    std::printf("  ... and %zu more (--json lists them all)\n",
                d.record.roots.size() - roots.size());
  }
  std::printf("most depended on:\n");
  for (NodeId id : by_dependents) {
    std::printf("  %-40s  %zu dependents\n", d.Shown(id).c_str(),
                g.Predecessors(id).size());
  }
  std::printf(
      "(hermetic deps ARCHIVE MODULE for one module, --why MODULE for why it "
      "is in)\n");
  return kExitOk;
}

int OneModule(const DepsView& d, NodeId id, bool json,
              std::string_view format) {
  const DiGraph& g = d.record.graph;
  const std::vector<NodeId>& deps = g.Successors(id);
  const std::vector<NodeId>& dependents = g.Predecessors(id);
  const std::vector<NodeId> why = WhyIncluded(d.record, id);
  if (format != "text") {
    std::vector<NodeId> nodes = {id};
    for (const auto* list : {&deps, &dependents, &why}) {
      for (NodeId n : *list) {
        if (std::find(nodes.begin(), nodes.end(), n) == nodes.end()) {
          nodes.push_back(n);
        }
      }
    }
    return Emit(format, NodesDot(d, nodes));
  }
  if (json) {
    std::printf(
        "{\"module\": %s, \"kind\": %s, \"saved\": %s, \"dependencies\": %s, "
        "\"dependents\": %s, \"why\": %s}\n",
        JsonName(d, id).c_str(), JsonString(d.Kind(id)).c_str(),
        d.is_root[id] ? "true" : "false", JsonNames(d, deps).c_str(),
        JsonNames(d, dependents).c_str(), JsonNames(d, why).c_str());
    return kExitOk;
  }
  std::printf("%s: %s%s\n", d.Shown(id).c_str(),
              std::string(d.Kind(id)).c_str(), d.is_root[id] ? " (saved)" : "");
  std::printf("depends on (%zu):\n", deps.size());
  PrintNodeList(d, deps);
  std::printf("needed by (%zu):\n", dependents.size());
  PrintNodeList(d, dependents);
  return kExitOk;
}

int Why(const DepsView& d, NodeId id, bool json, std::string_view format) {
  const std::vector<NodeId> chain = WhyIncluded(d.record, id);
  if (format != "text") {
    return Emit(format,
                NodesDot(d, chain.empty() ? std::vector<NodeId>{id} : chain,
                         /*chain=*/true));
  }
  if (json) {
    std::printf("{\"module\": %s, \"kind\": %s, \"chain\": %s}\n",
                JsonName(d, id).c_str(), JsonString(d.Kind(id)).c_str(),
                JsonNames(d, chain).c_str());
    return kExitOk;
  }
  if (chain.empty()) {
    std::printf("%s (%s): no chain from a saved module reaches it\n",
                d.Shown(id).c_str(), std::string(d.Kind(id)).c_str());
    return kExitOk;
  }
  std::printf("%s (%s) is in the package because:\n", d.Shown(id).c_str(),
              std::string(d.Kind(id)).c_str());
  size_t width = 0;
  for (NodeId n : chain) width = std::max(width, d.Shown(n).size());
  width = std::min<size_t>(width, 60);
  for (size_t i = 0; i < chain.size(); ++i) {
    std::printf("  %s%-*s  %s%s\n", i ? "-> " : "   ", static_cast<int>(width),
                d.Shown(chain[i]).c_str(),
                std::string(d.Kind(chain[i])).c_str(),
                d.is_root[chain[i]] ? " (saved)" : "");
  }
  return kExitOk;
}

}  // namespace

int Deps(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "deps",
                             .flags = {"--json"},
                             .options = {"--why", "--format"},
                             .required = {"ARCHIVE"},
                             .optional = {"MODULE"}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  const std::vector<std::string>& formats = a->Values("--format");
  const std::vector<std::string>& whys = a->Values("--why");
  const std::string format = formats.empty() ? "text" : formats.back();
  if (format != "text" && format != "dot" && format != "svg") {
    return UsageError("deps", "--format must be text, dot or svg, not '" +
                                  EscapeName(format) + "'");
  }
  if (formats.size() > 1 || whys.size() > 1) {
    return UsageError("deps", "--format and --why are given at most once");
  }
  const std::optional<std::string> module = a->Optional(kSpec, 0);
  if (module && !whys.empty()) {
    return UsageError("deps", "give MODULE or --why MODULE, not both");
  }
  if (a->Has("--json") && format != "text") {
    return UsageError("deps", "--json prints text data; not with --format " +
                                  EscapeName(format));
  }

  DepsView d;
  d.path = a->positional[0];
  auto reader = ArchiveReader::OpenPath(d.path);
  if (!reader.ok()) return Fail(reader.status());
  Result<std::optional<DependencyRecord>> record =
      ReadDependencyRecord(**reader, d.path);
  if (!record.ok()) return Fail(record.status());
  if (!*record) {
    std::fprintf(stderr,
                 "hermetic deps: %s does not record its dependency graph (no "
                 "%s: written by torch.package, or exported without "
                 "PackageExporter(..., graph=True))\n",
                 EscapeName(d.path).c_str(),
                 std::string(kDependencyRecord).c_str());
    return kExitIo;
  }
  d.record = std::move(**record);
  d.is_root.assign(d.record.graph.size(), false);
  for (NodeId r : d.record.roots) d.is_root[r] = true;

  const bool json = a->Has("--json");
  const std::optional<std::string> target =
      module         ? module
      : whys.empty() ? std::nullopt
                     : std::optional<std::string>(whys[0]);
  if (!target) return Summary(d, json, format);
  const std::optional<NodeId> id = d.record.graph.Find(*target);
  if (!id) {
    std::fprintf(stderr,
                 "hermetic deps: %s is not in the dependency graph of %s\n",
                 EscapeName(*target).c_str(), EscapeName(d.path).c_str());
    return kExitIo;
  }
  return module ? OneModule(d, *id, json, format) : Why(d, *id, json, format);
}

}  // namespace hermetic::cli
