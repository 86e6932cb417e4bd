// Feeds arbitrary bytes to ParseDependencyRecord, and what parses back
// through SerializeDependencyRecord: the format has one encoding, so the
// two must agree; the chain WhyIncluded gives must be a path of the graph.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "hermetic/dependency_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hermetic::DependencyRecordOptions options;
  options.max_nodes = 1 << 10;
  options.max_edges = 1 << 14;
  options.max_name_length = 256;
  auto parsed = hermetic::ParseDependencyRecord(
      std::span<const uint8_t>(data, size), "fuzz.pt", options);
  if (!parsed.ok()) return 0;
  const std::string text = hermetic::SerializeDependencyRecord(*parsed);
  if (text.size() != size || !std::equal(text.begin(), text.end(),
                                         reinterpret_cast<const char*>(data))) {
    std::abort();
  }
  const hermetic::DiGraph& g = parsed->graph;
  for (hermetic::DiGraph::NodeId id = 0; id < g.size(); ++id) {
    const auto chain = hermetic::WhyIncluded(*parsed, id);
    if (chain.empty()) continue;
    if (chain.back() != id) std::abort();
    for (size_t i = 1; i < chain.size(); ++i) {
      const auto& succ = g.Successors(chain[i - 1]);
      if (std::find(succ.begin(), succ.end(), chain[i]) == succ.end()) {
        std::abort();
      }
    }
  }
  return 0;
}
