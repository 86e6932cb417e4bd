// hermetic ls [--json] [--kind KIND]... ARCHIVE [PATTERN]: the records with
// their layout and kind, then totals.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/glob.h"
#include "json.h"
#include "record_kind.h"

namespace hermetic::cli {
namespace {

uint64_t Alignment(uint64_t offset) {
  uint64_t a = 1;
  while (a < 4096 && offset % (a * 2) == 0) a *= 2;
  return a;
}

struct Totals {
  size_t records = 0;
  uint64_t size = 0;
  uint64_t stored = 0;
};

void PrintJson(const std::string& archive, const ArchiveReader& reader,
               const std::vector<size_t>& shown,
               const std::vector<RecordKind>& kinds) {
  const auto& records = reader.records();
  std::string out = "{\"archive\": " + JsonString(EscapeName(archive)) +
                    ", \"prefix\": " + JsonString(EscapeName(reader.prefix())) +
                    ", \"records\": [";
  Totals total;
  std::map<RecordKind, Totals> by_kind;
  for (size_t i = 0; i < shown.size(); ++i) {
    const RecordInfo& r = records[shown[i]];
    const RecordKind kind = kinds[shown[i]];
    for (Totals* t : {&total, &by_kind[kind]}) {
      ++t->records;
      t->size += r.size;
      t->stored += r.compressed_size;
    }
    char nums[256];
    std::snprintf(nums, sizeof nums,
                  ", \"size\": %" PRIu64 ", \"compressed_size\": %" PRIu64
                  ", \"method\": %u, \"crc32\": %u, \"header_offset\": "
                  "%" PRIu64 ", \"data_offset\": %" PRIu64
                  ", \"alignment\": %" PRIu64 ", \"kind\": ",
                  r.size, r.compressed_size, r.method, r.crc32, r.header_offset,
                  r.data_offset, Alignment(r.data_offset));
    out.append(i ? ", {\"name\": " : "{\"name\": ")
        .append(JsonString(EscapeName(r.name)))
        .append(nums)
        .append(JsonString(KindName(kind)))
        .append("}");
  }
  auto totals = [](const Totals& t) {
    char buf[128];
    std::snprintf(buf, sizeof buf,
                  "{\"records\": %zu, \"size\": %" PRIu64
                  ", \"compressed_size\": %" PRIu64 "}",
                  t.records, t.size, t.stored);
    return std::string(buf);
  };
  out.append("], \"totals\": ").append(totals(total)).append(", \"kinds\": {");
  bool first = true;
  for (const auto& [kind, t] : by_kind) {
    out.append(first ? "" : ", ")
        .append(JsonString(KindName(kind)))
        .append(": ")
        .append(totals(t));
    first = false;
  }
  out.append("}}\n");
  std::fputs(out.c_str(), stdout);
}

void PrintTable(const ArchiveReader& reader, const std::vector<size_t>& shown,
                const std::vector<RecordKind>& kinds) {
  std::printf("%12s %12s %7s %12s %5s  %-9s  %s\n", "size", "stored", "method",
              "offset", "align", "kind", "name");
  Totals total;
  for (size_t i : shown) {
    const RecordInfo& r = reader.records()[i];
    ++total.records;
    total.size += r.size;
    total.stored += r.compressed_size;
    std::printf("%12" PRIu64 " %12" PRIu64 " %7s %12" PRIu64 " %5" PRIu64
                "  %-9s  %s\n",
                r.size, r.compressed_size, r.method == 0 ? "stored" : "deflate",
                r.data_offset, Alignment(r.data_offset),
                std::string(KindName(kinds[i])).c_str(),
                EscapeName(r.name).c_str());
  }
  // Sizes under their columns; the words where a record has its method, so
  // scripts reading the table know the line ("total:") and skip it.
  std::printf(
      "%12" PRIu64 " %12" PRIu64 " total: %zu record%s, %s (%s stored)\n",
      total.size, total.stored, total.records, total.records == 1 ? "" : "s",
      HumanSize(total.size).c_str(), HumanSize(total.stored).c_str());
}

}  // namespace

int Ls(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "ls",
                             .flags = {"--json"},
                             .options = {"--kind"},
                             .required = {"ARCHIVE"},
                             .optional = {"PATTERN"}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  std::vector<RecordKind> wanted;
  for (const std::string& k : a->Values("--kind")) {
    std::optional<RecordKind> kind = ParseKind(k);
    if (!kind) {
      std::string known;
      for (RecordKind each : kAllKinds) {
        known.append(known.empty() ? "" : ", ").append(KindName(each));
      }
      return UsageError(
          "ls", "unknown kind '" + EscapeName(k) + "' (kinds: " + known + ")");
    }
    wanted.push_back(*kind);
  }
  std::optional<GlobGroup> pattern;
  if (std::optional<std::string> p = a->Optional(kSpec, 0)) {
    Result<GlobGroup> glob = GlobGroup::Create({*p}, {}, '/');
    if (!glob.ok()) {
      return UsageError("ls", "bad PATTERN '" + EscapeName(*p) +
                                  "': " + glob.status().message());
    }
    pattern = std::move(*glob);
  }
  const std::string& path = a->positional[0];
  auto reader = ArchiveReader::OpenPath(path);
  if (!reader.ok()) return Fail(reader.status());
  const std::vector<RecordKind> kinds = ClassifyRecords(**reader);
  std::vector<size_t> shown;
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (!wanted.empty() &&
        std::find(wanted.begin(), wanted.end(), kinds[i]) == wanted.end()) {
      continue;
    }
    if (pattern && !pattern->Matches((*reader)->records()[i].name)) continue;
    shown.push_back(i);
  }
  if (a->Has("--json")) {
    PrintJson(path, **reader, shown, kinds);
  } else {
    PrintTable(**reader, shown, kinds);
  }
  return kExitOk;
}

}  // namespace hermetic::cli
