// The dependency record: the exporter's dependency graph kept in the archive
// (".data/hermetic/dependencies", docs/format.md section 12), so that tools
// can say what a package holds and why without the exporting interpreter.
//
// Contract:
//  - The record holds names and edges only: every node of the exporter's
//    graph with its kind (what the export did with it), the edges in the
//    graph's order, and the roots (the modules and pickles the exporter
//    was asked to save, in the order asked), from which every chain that
//    explains a node starts. No sources, no attributes.
//  - Exactly one byte sequence encodes a DependencyRecord
//    (SerializeDependencyRecord); ParseDependencyRecord accepts only that
//    sequence, so the record is deterministic and a reader cannot be given
//    two readings of it.
//  - Everything read from an archive is untrusted: the parser checks every
//    line against the format and DependencyRecordOptions' limits before
//    using it, and refuses anything else as kCorruptArchive naming the archive,
//    the record and the line. Memory is bounded by the limits (a record is
//    read whole, at most max_record_size bytes). A version it does not know
//    is kUnsupported.
//  - torch.package's importer skips every ".data/" record, so an archive
//    with this record loads there unchanged.
#ifndef HERMETIC_DEPENDENCY_RECORD_H_
#define HERMETIC_DEPENDENCY_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/graph.h"
#include "hermetic/status.h"

namespace hermetic {

inline constexpr std::string_view kDependencyRecord =
    ".data/hermetic/dependencies";

// What the export did with a node. The export engine's actions, except
// that a pickle (torch's "<package.resource>" node) is its own kind.
enum class DependencyKind {
  kIntern,      // source in the package
  kExtern,      // taken from the loading environment
  kMock,        // replaced by a stub
  kPickle,      // a pickle record
  kMockModule,  // "_mock", the stubs' shared module
  kSkip,        // "torch_package_importer", provided by the importer
};

inline constexpr DependencyKind kAllDependencyKinds[] = {
    DependencyKind::kIntern, DependencyKind::kExtern,     DependencyKind::kMock,
    DependencyKind::kPickle, DependencyKind::kMockModule, DependencyKind::kSkip,
};

// The kind's word in the record: "intern", "extern", "mock", "pickle",
// "mock_module", "skip".
std::string_view DependencyKindName(DependencyKind kind);

struct DependencyRecord {
  DiGraph graph;                       // node names unescaped
  std::vector<DependencyKind> kinds;   // one per node, by node id
  std::vector<DiGraph::NodeId> roots;  // distinct, in the order saved
};

// Limits on a record read from an archive.
struct DependencyRecordOptions {
  uint64_t max_record_size = uint64_t{64} << 20;
  uint64_t max_nodes = uint64_t{1} << 20;
  uint64_t max_edges = uint64_t{1} << 24;
  uint64_t max_name_length = 4096;  // unescaped bytes
};

// The canonical bytes of `record` (kinds.size() == graph.size(), roots
// distinct and in range, names non-empty; not checked).
std::string SerializeDependencyRecord(const DependencyRecord& record);

// The record encoded by `bytes`, read from `archive` (used in messages).
Result<DependencyRecord> ParseDependencyRecord(
    std::span<const uint8_t> bytes, std::string_view archive,
    const DependencyRecordOptions& options = {});

// The archive's record, parsed; nullopt when the archive has none (written
// by torch.package, or exported without it). A record larger than
// max_record_size is kResourceExhausted.
Result<std::optional<DependencyRecord>> ReadDependencyRecord(
    ArchiveReader& reader, std::string_view archive,
    const DependencyRecordOptions& options = {});

// Why `node` is in the package: a shortest chain from a root to it, root
// first ({node} for a root); empty if no root reaches it.
std::vector<DiGraph::NodeId> WhyIncluded(const DependencyRecord& record,
                                         DiGraph::NodeId node);

}  // namespace hermetic

#endif  // HERMETIC_DEPENDENCY_RECORD_H_
