// hermetic: inspect, verify and unpack torch.package-compatible archives.
// Uses only the public API in include/hermetic/.
#include <cinttypes>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/manifest.h"
#include "hermetic/posix_file.h"
#include "json.h"
#include "progress.h"
#include "scan_command.h"

namespace hermetic::cli {
namespace {

constexpr char kExitCodes[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  the archive is damaged or unsafe (bad structure, CRC mismatch,\n"
    "     records that differ from the manifest, a signature missing, invalid\n"
    "     or by an untrusted key, a record that would land outside DIR,\n"
    "     or a pickle that cannot be read; for scan, a finding at or above\n"
    "     --fail-on; for diff, a difference\n"
    "  2  usage error (what was wrong is printed before the usage)\n"
    "  3  a file, directory or record cannot be found, read or written\n"
    "  4  anything else (unsupported feature, out of memory, internal error)\n";

const std::map<std::string_view, std::string_view>& Usages() {
  static const auto* usages = new std::map<std::string_view, std::string_view>{
      {"info",
       "usage: hermetic info [--json] ARCHIVE\n"
       "Summarise ARCHIVE on one screen: zip or folder, whether\n"
       "torch.package 2.13 can read it (and why not), the Python version\n"
       "it was made with, the hermetic version and manifest and signature\n"
       "(present or absent; hermetic verify checks them), records and\n"
       "sizes by kind (modules, mocks, externs, pickles, tensor storages,\n"
       "bytecode, ...) and the five largest records. Nothing is run.\n"},
      {"ls",
       "usage: hermetic ls [--json] [--kind KIND]... ARCHIVE [PATTERN]\n"
       "List the records of ARCHIVE (a zip file or an unzipped package\n"
       "folder) in central-directory order: size, stored size, method, data\n"
       "offset, the largest power-of-two alignment (up to 4096) of the data\n"
       "offset, kind and name; then a line of totals (its third field is\n"
       "'total:'). Kinds: module, mock, pickle, storage, bytecode, oob,\n"
       "resource, framework, other. --kind (repeatable) keeps records of\n"
       "those kinds; PATTERN keeps records whose name matches it ('*' within\n"
       "a '/'-separated segment, '**' for any number of segments, e.g.\n"
       "'**/*.pkl'). --json prints one JSON object instead of a table.\n"},
      {"tree",
       "usage: hermetic tree [--json] [--include GLOB]... [--exclude GLOB]...\n"
       "                     ARCHIVE\n"
       "Draw the records of ARCHIVE as a tree of folders and files, as\n"
       "torch.package's file_structure() prints it (folders first, then\n"
       "files, each sorted by name). --include and --exclude take the same\n"
       "'/'-separated globs as file_structure(include=, exclude=). --json\n"
       "prints the tree as nested objects (a file's value is its size).\n"},
      {"tensors",
       "usage: hermetic tensors [--json] ARCHIVE [PICKLE]\n"
       "List every tensor the pickles of ARCHIVE hold (or only PICKLE's),\n"
       "read from the pickle bytes without running anything (torch is not\n"
       "needed): its name (the path to it in the pickle, as in a\n"
       "state_dict), dtype, shape, the bytes of its storage it spans, the\n"
       "storage record and how many tensors share that storage. What the\n"
       "pickle computes in ways the reader cannot follow is shown as\n"
       "unknown, with the reason. A pickle that cannot be read is named on\n"
       "standard error, with exit code 1.\n"},
      {"requirements",
       "usage: hermetic requirements [--json] ARCHIVE\n"
       "Print the distributions that provided the package's externs when\n"
       "it was made, one 'name==version' per line (a pip requirements\n"
       "file), from its environment record (PackageExporter(...,\n"
       "environment=True)); exit 3 when it has none.\n"},
      {"deps",
       "usage: hermetic deps [--json] [--format text|dot|svg] ARCHIVE "
       "[MODULE]\n"
       "       hermetic deps [--json] [--format text|dot|svg] --why MODULE\n"
       "                     ARCHIVE\n"
       "Show the dependency graph the exporter stored in ARCHIVE\n"
       "(.data/hermetic/dependencies, written by PackageExporter(...,\n"
       "graph=True)): without MODULE a summary (nodes by kind, the saved\n"
       "modules and pickles every chain starts from, the most depended-on\n"
       "modules); with MODULE its kind, what it imports and what imports it;\n"
       "with --why MODULE the shortest chain from a saved module or pickle\n"
       "to it. --json prints the view as JSON. --format dot prints it as\n"
       "Graphviz DOT (packages boxed, externs in one box; a graph of more\n"
       "than 120 nodes drawn by package), --format svg draws it with\n"
       "Graphviz's dot program (apt-get install graphviz; exit 4 saying so\n"
       "when it is missing). An archive without the record (torch.package's)\n"
       "exits 3 saying so.\n"},
      {"diff",
       "usage: hermetic diff [--json] [--source] A B\n"
       "Show what changed from package A to package B: modules (interned\n"
       "sources) and mocked modules added, removed or changed, externs\n"
       "added or removed, pickles, the tensors the pickles hold (by pickle\n"
       "and name: added, removed, dtype, shape or stride changed, or the\n"
       "bytes of their storage changed) and every other record. Bytes are\n"
       "compared by size and CRC-32. --source adds a unified diff of each\n"
       "changed module's source. Nothing is run. Exits 0 when nothing\n"
       "differs and 1 when something does (as diff(1)).\n"},
      {"cat",
       "usage: hermetic cat ARCHIVE RECORD\n"
       "Write the bytes of RECORD (a name without the top-level folder) to\n"
       "standard output as they are read, in bounded memory. A CRC-32\n"
       "mismatch is found once the record's last byte is out: it is reported\n"
       "on standard error, with exit code 1.\n"},
      {"verify",
       "usage: hermetic verify ARCHIVE [--key PUBLIC_KEY]...\n"
       "Check the CRC-32 of every record and, when the archive has a\n"
       "manifest (.data/hermetic/manifest), every record's SHA-256 and size\n"
       "against it (a record changed, added or removed is refused) and its\n"
       "signature if any. With --key (repeatable), the archive must be\n"
       "signed by one of the given public keys. On a failure name the\n"
       "record on standard error and exit 1.\n"},
      {"keygen",
       "usage: hermetic keygen KEY\n"
       "Make a new Ed25519 key pair: the secret key in KEY (mode 0600) and\n"
       "the public key in KEY.pub. Existing files are never replaced.\n"},
      {"sign",
       "usage: hermetic sign ARCHIVE --key KEY\n"
       "Sign ARCHIVE's manifest with the secret key in KEY, replacing any\n"
       "signature; the archive is rewritten atomically. An archive without\n"
       "a manifest (torch.package's) gets one first; one whose records\n"
       "differ from its manifest is refused.\n"},
      {"extract",
       "usage: hermetic extract ARCHIVE DIR\n"
       "Write every record to DIR/<record name> (DIR is created if missing),\n"
       "checking CRCs: every record is first written to a temporary file\n"
       "beside its destination and checked, then all are renamed into\n"
       "place. If anything fails, what the run created (files, folders, DIR\n"
       "itself) is removed again and files already in DIR are left as they\n"
       "were. Refuses records that would land outside DIR, including\n"
       "through symbolic links already present in DIR.\n"},
      {"scan", kScanUsage},
      {"version",
       "usage: hermetic version [--json]\n"
       "Print hermetic's version (also: hermetic --version).\n"},
  };
  return *usages;
}

void PrintMainHelp(FILE* out) {
  std::fprintf(
      out,
      "usage: hermetic COMMAND [ARGS]\n"
      "Inspect torch.package-compatible archives without running them.\n\n"
      "Commands:\n"
      "  info [--json] ARCHIVE        format, compatibility, kinds, largest\n"
      "  ls [--json] ARCHIVE [GLOB]   list records (--kind KIND)\n"
      "  tree ARCHIVE                 records as a tree\n"
      "  tensors ARCHIVE [PICKLE]     tensors: dtype, shape, bytes, storage\n"
      "  requirements ARCHIVE         the externs' distributions, pinned\n"
      "  deps ARCHIVE [MODULE]        dependency graph (--why MODULE)\n"
      "  diff A B                     what changed between two packages\n"
      "  cat ARCHIVE RECORD           print one record\n"
      "  verify ARCHIVE [--key K]     check CRC-32s, manifest, signature\n"
      "  extract ARCHIVE DIR          unpack into DIR\n"
      "  scan [--json] ARCHIVE        report what loading would run\n"
      "  keygen KEY                   make a signing key pair\n"
      "  sign ARCHIVE --key KEY       sign the archive's manifest\n"
      "  version                      print the version (or --version)\n\n"
      "Run 'hermetic COMMAND --help' for details.\n\n%s",
      kExitCodes);
}

int Cat(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "cat",
                             .flags = {},
                             .options = {},
                             .required = {"ARCHIVE", "RECORD"},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  auto reader = ArchiveReader::OpenPath(a->positional[0]);
  if (!reader.ok()) return Fail(reader.status());
  Status s =
      (*reader)->Stream(a->positional[1], [](std::span<const uint8_t> piece) {
        return WriteFull(kStdoutFd, piece, "writing standard output");
      });
  return s.ok() ? kExitOk : Fail(s);
}

int Verify(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "verify",
                             .flags = {},
                             .options = {"--key"},
                             .required = {"ARCHIVE"},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  const std::string& path = a->positional[0];
  VerifyOptions options;
  for (const std::string& key_path : a->Values("--key")) {
    auto text = ReadFile(key_path, "reading " + EscapeName(key_path));
    if (!text.ok()) return Fail(text.status());
    auto key = ParsePublicKey(*text, key_path);
    if (!key.ok()) return Fail(key.status());
    options.trusted_keys.push_back(*key);
  }
  auto reader = ArchiveReader::OpenPath(path);
  if (!reader.ok()) return Fail(reader.status());
  const std::vector<RecordInfo>& records = (*reader)->records();
  uint64_t total = 0;
  for (const RecordInfo& r : records) total += r.size;
  {
    ProgressLine progress("checking CRC-32", records.size(), total);
    for (const RecordInfo& r : records) {
      Status s = (*reader)->Verify(r.name);
      if (!s.ok()) {
        progress.Done();
        return Fail(s);
      }
      progress.Advance(r.size);
    }
  }
  ProgressLine hashing("checking the manifest", records.size(), total);
  options.on_record_hashed = [&](uint64_t bytes) { hashing.Advance(bytes); };
  auto report = VerifyManifest(**reader, options);
  hashing.Done();
  if (!report.ok()) return Fail(report.status());
  std::string manifest = "no manifest";
  if (report->has_manifest) {
    manifest =
        "manifest OK (" + std::to_string(report->records_checked) + " records)";
  }
  if (report->signer) manifest += ", signed by " + KeyHex(*report->signer);
  std::printf("%s: %zu records OK, %s\n", EscapeName(path).c_str(),
              (*reader)->records().size(), manifest.c_str());
  return kExitOk;
}

int Version(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "version",
                             .flags = {"--json"},
                             .options = {},
                             .required = {},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  // The generator line manifests carry is "hermetic <version>".
  std::string_view generator = ManifestGenerator();
  if (a->Has("--json")) {
    std::string_view version = generator.substr(generator.find(' ') + 1);
    std::printf("{\"version\": %s}\n", JsonString(version).c_str());
  } else {
    std::printf("%s\n", std::string(generator).c_str());
  }
  return kExitOk;
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--") return false;
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fprintf(stderr, "hermetic: missing COMMAND\n\n");
    PrintMainHelp(stderr);
    return kExitUsage;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintMainHelp(stdout);
    return kExitOk;
  }
  const std::string command = args[0] == "--version" ? "version" : args[0];
  args.erase(args.begin());
  static const std::map<std::string_view,
                        std::function<int(const std::vector<std::string>&)>>
      commands = {{"info", Info},
                  {"ls", Ls},
                  {"tree", Tree},
                  {"tensors", Tensors},
                  {"requirements", Requirements},
                  {"deps", Deps},
                  {"diff", Diff},
                  {"cat", Cat},
                  {"verify", Verify},
                  {"extract", Extract},
                  {"scan",
                   [](const std::vector<std::string>& a) {
                     return ScanCommand(a, Fail);
                   }},
                  {"keygen", Keygen},
                  {"sign", Sign},
                  {"version", Version}};
  auto it = commands.find(command);
  if (it == commands.end()) {
    std::fprintf(stderr, "hermetic: unknown %s '%s'\n\n",
                 command.starts_with("-") ? "option" : "command",
                 EscapeName(command).c_str());
    PrintMainHelp(stderr);
    return kExitUsage;
  }
  if (WantsHelp(args)) {
    std::printf("%s\n%s", std::string(Usages().at(command)).c_str(),
                kExitCodes);
    return kExitOk;
  }
  return it->second(args);
}

}  // namespace

int UsageError(std::string_view command, std::string_view what) {
  std::fprintf(stderr, "hermetic %s: %s\n\n%s", std::string(command).c_str(),
               std::string(what).c_str(),
               std::string(Usages().at(command)).c_str());
  return kExitUsage;
}

}  // namespace hermetic::cli

// The library reports errors as Status; anything thrown (std::bad_alloc
// from a container here, or a bug) still ends with a message, not abort().
int main(int argc, char** argv) {
  try {
    return hermetic::cli::Main(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "hermetic: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hermetic: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "hermetic: internal error\n");
  }
  return hermetic::cli::kExitOther;
}
