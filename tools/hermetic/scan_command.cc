#include "scan_command.h"

#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string_view>

#include "hermetic/archive.h"
#include "hermetic/scan.h"
#include "json.h"

namespace hermetic::cli {

const char kScanUsage[] =
    "usage: hermetic scan [--json] [--all] [--fail-on SEVERITY] ARCHIVE\n"
    "Report what loading ARCHIVE would do, without running any of it: the\n"
    "globals every pickle names, persistent ids, risky names in packaged\n"
    "sources (with their line), imports, externs, mocks, bytecode and\n"
    "records the format does not define. Each finding has a severity\n"
    "(info, low, medium, high, critical), a rule id, the record and a\n"
    "position (byte offset in a pickle, line in a source). Text output\n"
    "shows findings from low up (--all: info too); --json prints one JSON\n"
    "object with every finding. Exits 1 when a finding is at or above\n"
    "--fail-on (default: high), 0 otherwise.\n";

namespace {

constexpr int kExitClean = 0;
constexpr int kExitFindings = 1;
constexpr int kExitUsage = 2;

int ScanUsage() {
  std::fputs(kScanUsage, stderr);
  return kExitUsage;
}

void PrintJson(const std::string& archive, const ScanReport& report,
               Severity fail_on) {
  std::string out = "{\"archive\": ";
  out.append(JsonString(EscapeName(archive)))
      .append(", \"records\": ")
      .append(std::to_string(report.records))
      .append(", \"pickles\": ")
      .append(std::to_string(report.pickles))
      .append(", \"sources\": ")
      .append(std::to_string(report.sources))
      .append(", \"fail_on\": ")
      .append(JsonString(SeverityName(fail_on)))
      .append(", \"findings\": [");
  for (size_t i = 0; i < report.findings.size(); ++i) {
    const Finding& f = report.findings[i];
    if (i > 0) out.append(", ");
    out.append("{\"severity\": ")
        .append(JsonString(SeverityName(f.severity)))
        .append(", \"rule\": ")
        .append(JsonString(EscapeName(f.rule)))
        .append(", \"record\": ")
        .append(JsonString(EscapeName(f.record)))
        .append(", \"position\": ")
        .append(f.position < 0 ? std::string("null")
                               : std::to_string(f.position))
        .append(", \"message\": ")
        .append(JsonString(f.message))
        .append("}");
  }
  out.append("]}\n");
  std::fputs(out.c_str(), stdout);
}

void PrintText(const std::string& archive, const ScanReport& report, bool all) {
  std::printf("%s: %zu records, %zu pickles, %zu sources\n",
              EscapeName(archive).c_str(), report.records, report.pickles,
              report.sources);
  size_t hidden = 0;
  for (const Finding& f : report.findings) {
    if (!all && f.severity == Severity::kInfo) {
      ++hidden;
      continue;
    }
    std::string where = EscapeName(f.record);
    if (f.position >= 0) where.append(":").append(std::to_string(f.position));
    std::printf("%-8s %s  %s  %s\n",
                std::string(SeverityName(f.severity)).c_str(),
                EscapeName(f.rule).c_str(), where.c_str(), f.message.c_str());
  }
  std::printf("%zu findings:", report.findings.size());
  for (Severity s : {Severity::kCritical, Severity::kHigh, Severity::kMedium,
                     Severity::kLow, Severity::kInfo}) {
    size_t n = 0;
    for (const Finding& f : report.findings) n += f.severity == s;
    std::printf(" %zu %s", n, std::string(SeverityName(s)).c_str());
  }
  std::printf(hidden ? " (info not shown: --all)\n" : "\n");
}

}  // namespace

int ScanCommand(const std::vector<std::string>& args,
                int (*fail)(const Status&)) {
  bool json = false, all = false;
  Severity fail_on = Severity::kHigh;
  std::optional<std::string> path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json") {
      json = true;
    } else if (args[i] == "--all") {
      all = true;
    } else if (args[i] == "--fail-on") {
      if (i + 1 == args.size()) return ScanUsage();
      std::optional<Severity> s = ParseSeverity(args[++i]);
      if (!s) return ScanUsage();
      fail_on = *s;
    } else if (path || args[i].starts_with("--")) {
      return ScanUsage();
    } else {
      path = args[i];
    }
  }
  if (!path) return ScanUsage();
  auto reader = ArchiveReader::OpenPath(*path);
  if (!reader.ok()) return fail(reader.status());
  Result<ScanReport> report = ScanArchive(**reader);
  if (!report.ok()) return fail(report.status());
  if (json) {
    PrintJson(*path, *report, fail_on);
  } else {
    PrintText(*path, *report, all);
  }
  return report->CountAtLeast(fail_on) > 0 ? kExitFindings : kExitClean;
}

}  // namespace hermetic::cli
