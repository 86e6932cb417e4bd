#include "hermetic/dependency_record.h"

#include <charconv>
#include <unordered_set>

namespace hermetic {
namespace {

constexpr std::string_view kMagic = "hermetic-dependencies ";
constexpr std::string_view kVersion = "1";

struct KindWord {
  DependencyKind kind;
  std::string_view word;
};

constexpr KindWord kKindWords[] = {
    {DependencyKind::kIntern, "intern"},
    {DependencyKind::kExtern, "extern"},
    {DependencyKind::kMock, "mock"},
    {DependencyKind::kPickle, "pickle"},
    {DependencyKind::kMockModule, "mock_module"},
    {DependencyKind::kSkip, "skip"},
};

std::optional<DependencyKind> KindOf(std::string_view word) {
  for (const KindWord& k : kKindWords) {
    if (k.word == word) return k.kind;
  }
  return std::nullopt;
}

// Splits bytes into lines, each of which must end in '\n'.
class Lines {
 public:
  explicit Lines(std::string_view text) : rest_(text) {}
  // The next line without its '\n'; nullopt at the end, or for a last line
  // without '\n' (then `unterminated` is set).
  std::optional<std::string_view> Next() {
    if (rest_.empty()) return std::nullopt;
    const size_t end = rest_.find('\n');
    if (end == std::string_view::npos) {
      unterminated_ = true;
      return std::nullopt;
    }
    std::string_view line = rest_.substr(0, end);
    rest_.remove_prefix(end + 1);
    ++number_;
    return line;
  }
  size_t number() const { return number_; }
  bool unterminated() const { return unterminated_; }

 private:
  std::string_view rest_;
  size_t number_ = 0;
  bool unterminated_ = false;
};

// A canonical decimal (no sign, no leading zero) below `bound`.
std::optional<uint64_t> ParseIndex(std::string_view text, uint64_t bound) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value >= bound) {
    return std::nullopt;
  }
  return value;
}

// The space-separated numbers after `head` ("deps", "roots"), each below
// `bound`; nullopt if a field is not one.
std::optional<std::vector<uint64_t>> ParseIndices(std::string_view fields,
                                                  uint64_t bound,
                                                  uint64_t max_count) {
  std::vector<uint64_t> out;
  while (!fields.empty()) {
    if (fields[0] != ' ' || out.size() >= max_count) return std::nullopt;
    fields.remove_prefix(1);
    const size_t end = fields.find(' ');
    std::optional<uint64_t> v = ParseIndex(fields.substr(0, end), bound);
    if (!v) return std::nullopt;
    out.push_back(*v);
    fields.remove_prefix(end == std::string_view::npos ? fields.size() : end);
  }
  return out;
}

template <typename T>
bool Distinct(const std::vector<T>& values) {
  std::unordered_set<T> seen;
  for (T v : values) {
    if (!seen.insert(v).second) return false;
  }
  return true;
}

}  // namespace

std::string_view DependencyKindName(DependencyKind kind) {
  for (const KindWord& k : kKindWords) {
    if (k.kind == kind) return k.word;
  }
  return "?";
}

std::string SerializeDependencyRecord(const DependencyRecord& record) {
  const DiGraph& g = record.graph;
  std::string out;
  out.append(kMagic).append(kVersion).append("\n");
  for (DiGraph::NodeId id = 0; id < g.size(); ++id) {
    out.append("node ")
        .append(DependencyKindName(record.kinds[id]))
        .append(" ")
        .append(EscapeName(g.name(id)))
        .append("\n");
  }
  size_t edges = 0;
  for (DiGraph::NodeId id = 0; id < g.size(); ++id) {
    const std::vector<DiGraph::NodeId>& succ = g.Successors(id);
    if (succ.empty()) continue;
    out.append("deps ").append(std::to_string(id));
    for (DiGraph::NodeId to : succ) out.append(" ").append(std::to_string(to));
    out.append("\n");
    edges += succ.size();
  }
  out.append("roots");
  for (DiGraph::NodeId root : record.roots) {
    out.append(" ").append(std::to_string(root));
  }
  out.append("\nend ")
      .append(std::to_string(g.size()))
      .append(" ")
      .append(std::to_string(edges))
      .append("\n");
  return out;
}

Result<DependencyRecord> ParseDependencyRecord(
    std::span<const uint8_t> bytes, std::string_view archive,
    const DependencyRecordOptions& options) {
  const std::string where = "archive " + EscapeName(archive) + ", record " +
                            std::string(kDependencyRecord);
  if (bytes.size() > options.max_record_size) {
    return Status::ResourceExhausted(where + ": " +
                                     std::to_string(bytes.size()) +
                                     " bytes, more than the limit of " +
                                     std::to_string(options.max_record_size));
  }
  Lines lines(std::string_view(reinterpret_cast<const char*>(bytes.data()),
                               bytes.size()));
  auto corrupt = [&](std::string_view what) {
    return Status::Corrupt(where + ", line " + std::to_string(lines.number()) +
                           ": " + std::string(what));
  };
  std::optional<std::string_view> line = lines.Next();
  if (!line || !line->starts_with(kMagic)) {
    return corrupt("not a dependency record (no 'hermetic-dependencies 1')");
  }
  if (line->substr(kMagic.size()) != kVersion) {
    return Status::Unsupported(where + ": version " +
                               EscapeName(line->substr(kMagic.size())) +
                               " (this hermetic reads version 1)");
  }

  DependencyRecord record;
  line = lines.Next();
  while (line && line->starts_with("node ")) {
    if (record.graph.size() >= options.max_nodes) {
      return corrupt("more than " + std::to_string(options.max_nodes) +
                     " nodes");
    }
    std::string_view rest = line->substr(5);
    const size_t space = rest.find(' ');
    if (space == std::string_view::npos) return corrupt("a node without name");
    std::optional<DependencyKind> kind = KindOf(rest.substr(0, space));
    if (!kind) {
      return corrupt("unknown kind '" + EscapeName(rest.substr(0, space)) +
                     "'");
    }
    std::optional<std::string> name = UnescapeName(rest.substr(space + 1));
    if (!name || name->empty() || !IsValidUtf8(*name)) {
      return corrupt("a name not as written (escaped UTF-8)");
    }
    if (name->size() > options.max_name_length) {
      return corrupt("a name longer than " +
                     std::to_string(options.max_name_length) + " bytes");
    }
    if (record.graph.Contains(*name)) {
      return corrupt("node " + EscapeName(*name) + " listed twice");
    }
    record.graph.AddNode(*name);
    record.kinds.push_back(*kind);
    line = lines.Next();
  }

  const uint64_t nodes = record.graph.size();
  uint64_t edges = 0;
  std::optional<uint64_t> last_from;
  while (line && line->starts_with("deps ")) {
    std::optional<std::vector<uint64_t>> ids =
        ParseIndices(line->substr(4), nodes, options.max_edges - edges + 1);
    if (!ids || ids->size() < 2) {
      return corrupt("a deps line needs node numbers below " +
                     std::to_string(nodes) + ", at most " +
                     std::to_string(options.max_edges) + " edges in all");
    }
    const uint64_t from = (*ids)[0];
    if (last_from && from <= *last_from) {
      return corrupt("deps lines out of order");
    }
    last_from = from;
    const std::vector<DiGraph::NodeId> to(ids->begin() + 1, ids->end());
    if (!Distinct(to)) return corrupt("an edge listed twice");
    record.graph.AddNewEdges(from, to);
    edges += to.size();
    line = lines.Next();
  }

  if (!line || !(*line == "roots" || line->starts_with("roots "))) {
    return corrupt("expected 'roots'");
  }
  std::optional<std::vector<uint64_t>> roots =
      ParseIndices(line->substr(5), nodes, nodes);
  if (!roots || !Distinct(*roots)) {
    return corrupt("roots must be distinct node numbers below " +
                   std::to_string(nodes));
  }
  record.roots.assign(roots->begin(), roots->end());

  line = lines.Next();
  const std::string end =
      "end " + std::to_string(nodes) + " " + std::to_string(edges);
  if (!line || *line != end) {
    return corrupt("expected '" + end + "'");
  }
  if (lines.Next() || lines.unterminated()) {
    return corrupt("bytes after the end line");
  }
  return record;
}

Result<std::optional<DependencyRecord>> ReadDependencyRecord(
    ArchiveReader& reader, std::string_view archive,
    const DependencyRecordOptions& options) {
  const RecordInfo* info = reader.Find(kDependencyRecord);
  if (info == nullptr) return std::optional<DependencyRecord>();
  if (info->size > options.max_record_size) {
    return Status::ResourceExhausted(
        "archive " + EscapeName(archive) + ", record " +
        std::string(kDependencyRecord) + ": " + std::to_string(info->size) +
        " bytes, more than the limit of " +
        std::to_string(options.max_record_size));
  }
  HERMETIC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                            reader.Read(kDependencyRecord));
  HERMETIC_ASSIGN_OR_RETURN(DependencyRecord record,
                            ParseDependencyRecord(bytes, archive, options));
  return std::optional<DependencyRecord>(std::move(record));
}

std::vector<DiGraph::NodeId> WhyIncluded(const DependencyRecord& record,
                                         DiGraph::NodeId node) {
  return record.graph.ShortestPath(record.roots, node);
}

}  // namespace hermetic
