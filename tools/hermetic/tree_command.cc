// hermetic tree ARCHIVE: the records as a tree, drawn as torch.package's
// file_structure() prints it (python/hermetic/file_structure_representation.py
// is the same drawing in Python).
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/glob.h"
#include "json.h"

namespace hermetic::cli {
namespace {

constexpr std::string_view kRoot = "\u2500\u2500\u2500 ";
constexpr std::string_view kTee = "\u251c\u2500\u2500 ";
constexpr std::string_view kLast = "\u2514\u2500\u2500 ";
constexpr std::string_view kPipe = "\u2502   ";
constexpr std::string_view kBlank = "    ";

// A folder; children sorted by name bytes, which for UTF-8 names is the
// code point order Python sorts them in.
struct Folder {
  std::map<std::string, std::unique_ptr<Folder>> folders;
  std::map<std::string, uint64_t> files;  // name -> size

  void Add(std::string_view path, uint64_t size) {
    Folder* node = this;
    for (size_t slash; (slash = path.find('/')) != std::string_view::npos;) {
      auto& child = node->folders[std::string(path.substr(0, slash))];
      if (!child) child = std::make_unique<Folder>();
      node = child.get();
      path.remove_prefix(slash + 1);
    }
    node->files[std::string(path)] = size;
  }
};

void Draw(const Folder& folder, const std::string& name, std::string indent,
          std::string_view connector, std::string& out) {
  out.append(indent).append(connector).append(name).append("\n");
  // Only a folder drawn with a tee has siblings below it, so only then does
  // its subtree need the vertical bar.
  indent.append(connector == kTee ? kPipe : kBlank);
  size_t left = folder.folders.size() + folder.files.size();
  for (const auto& [child, node] : folder.folders) {
    Draw(*node, EscapeName(child), indent, --left == 0 ? kLast : kTee, out);
  }
  for (const auto& [file, size] : folder.files) {
    out.append(indent)
        .append(--left == 0 ? kLast : kTee)
        .append(EscapeName(file))
        .append("\n");
  }
}

std::string Json(const Folder& folder) {
  std::string out = "{";
  bool first = true;
  for (const auto& [child, node] : folder.folders) {
    out.append(first ? "" : ", ")
        .append(JsonString(EscapeName(child)))
        .append(": ")
        .append(Json(*node));
    first = false;
  }
  for (const auto& [file, size] : folder.files) {
    out.append(first ? "" : ", ")
        .append(JsonString(EscapeName(file)))
        .append(": ")
        .append(std::to_string(size));
    first = false;
  }
  return out + "}";
}

}  // namespace

int Tree(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "tree",
                             .flags = {"--json"},
                             .options = {"--include", "--exclude"},
                             .required = {"ARCHIVE"},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  std::vector<std::string> include = a->Values("--include");
  if (include.empty()) include.push_back("**");
  Result<GlobGroup> glob =
      GlobGroup::Create(include, a->Values("--exclude"), '/');
  if (!glob.ok()) {
    return UsageError("tree", "bad pattern: " + glob.status().message());
  }
  const std::string& path = a->positional[0];
  auto reader = ArchiveReader::OpenPath(path);
  if (!reader.ok()) return Fail(reader.status());
  Folder root;
  for (const RecordInfo& r : (*reader)->records()) {
    if (glob->Matches(r.name)) root.Add(r.name, r.size);
  }
  std::string out;
  if (a->Has("--json")) {
    out = "{\"archive\": " + JsonString(EscapeName(path)) +
          ", \"tree\": " + Json(root) + "}\n";
  } else {
    Draw(root, EscapeName(path), "", kRoot, out);
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace hermetic::cli
