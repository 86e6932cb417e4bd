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

#include "hermetic/archive.h"
#include "hermetic/manifest.h"
#include "hermetic/posix_file.h"
#include "json.h"
#include "scan_command.h"

namespace hermetic::cli {

// Commands defined in their own <command>_command.cc. Each returns the
// Status to report; InvalidArgument with an empty message is a usage error.
Status Keygen(const std::vector<std::string>& args);
Status Sign(const std::vector<std::string>& args);

namespace {

constexpr int kExitOk = 0;
constexpr int kExitDamaged = 1;
constexpr int kExitUsage = 2;
constexpr int kExitIo = 3;
constexpr int kExitOther = 4;

constexpr char kExitCodes[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  the archive is damaged or unsafe (bad structure, CRC mismatch,\n"
    "     records that differ from the manifest, a signature missing, invalid\n"
    "     or by an untrusted key, a record that would land outside DIR)\n"
    "  2  usage error\n"
    "  3  a file, directory or record cannot be found, read or written\n"
    "  4  anything else (unsupported feature, out of memory, internal error)\n";

const std::map<std::string_view, std::string_view>& Usages() {
  static const auto* usages = new std::map<std::string_view, std::string_view>{
      {"ls",
       "usage: hermetic ls [--json] ARCHIVE\n"
       "List the records of ARCHIVE (a zip file or an unzipped package\n"
       "folder) in central-directory order: size, stored size, method, data\n"
       "offset and the largest power-of-two alignment (up to 4096) of the\n"
       "data offset. --json prints one JSON object instead of a table.\n"},
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
       "checking CRCs. Each file is written to a temporary file beside it and\n"
       "renamed into place once its CRC-32 checked, so a damaged record\n"
       "leaves no file. Refuses records that would land outside DIR,\n"
       "including through symbolic links already present in DIR.\n"},
      {"scan", kScanUsage},
  };
  return *usages;
}

void PrintMainHelp(FILE* out) {
  std::fprintf(out,
               "usage: hermetic COMMAND [ARGS]\n"
               "Inspect torch.package-compatible archives.\n\n"
               "Commands:\n"
               "  ls [--json] ARCHIVE      list records\n"
               "  cat ARCHIVE RECORD       print one record\n"
               "  verify ARCHIVE [--key K] check CRC-32s, manifest, signature\n"
               "  extract ARCHIVE DIR      unpack into DIR\n"
               "  scan [--json] ARCHIVE    report what loading would run\n"
               "  keygen KEY               make a signing key pair\n"
               "  sign ARCHIVE --key KEY   sign the archive's manifest\n\n"
               "Run 'hermetic COMMAND --help' for details.\n\n%s",
               kExitCodes);
}

int Usage(std::string_view command) {
  std::fprintf(stderr, "%s", std::string(Usages().at(command)).c_str());
  return kExitUsage;
}

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kCorruptArchive:
    case StatusCode::kIntegrity:
      return kExitDamaged;
    case StatusCode::kNotFound:
    case StatusCode::kIOError:
      return kExitIo;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitOther;
  }
}

// Messages from the library escape record names (EscapeName); the CLI's
// own messages escape every name and path they print.
int Fail(const Status& s) {
  std::fprintf(stderr, "hermetic: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

uint64_t Alignment(uint64_t offset) {
  uint64_t a = 1;
  while (a < 4096 && offset % (a * 2) == 0) a *= 2;
  return a;
}

int Ls(const std::vector<std::string>& args) {
  bool json = false;
  std::vector<std::string> rest;
  for (const std::string& a : args) {
    if (a == "--json") {
      json = true;
    } else {
      rest.push_back(a);
    }
  }
  if (rest.size() != 1) return Usage("ls");
  auto reader = ArchiveReader::OpenPath(rest[0]);
  if (!reader.ok()) return Fail(reader.status());
  const auto& records = (*reader)->records();
  if (json) {
    std::string out =
        "{\"archive\": " + JsonString(EscapeName(rest[0])) +
        ", \"prefix\": " + JsonString(EscapeName((*reader)->prefix())) +
        ", \"records\": [";
    for (size_t i = 0; i < records.size(); ++i) {
      const RecordInfo& r = records[i];
      char nums[256];
      std::snprintf(nums, sizeof nums,
                    ", \"size\": %" PRIu64 ", \"compressed_size\": %" PRIu64
                    ", \"method\": %u, \"crc32\": %u, \"header_offset\": "
                    "%" PRIu64 ", \"data_offset\": %" PRIu64
                    ", \"alignment\": %" PRIu64 "}",
                    r.size, r.compressed_size, r.method, r.crc32,
                    r.header_offset, r.data_offset, Alignment(r.data_offset));
      out += (i ? ", {\"name\": " : "{\"name\": ") +
             JsonString(EscapeName(r.name)) + nums;
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return kExitOk;
  }
  std::printf("%12s %12s %6s %12s %5s  %s\n", "size", "stored", "method",
              "offset", "align", "name");
  for (const RecordInfo& r : records) {
    std::printf(
        "%12" PRIu64 " %12" PRIu64 " %6s %12" PRIu64 " %5" PRIu64 "  %s\n",
        r.size, r.compressed_size, r.method == 0 ? "stored" : "deflate",
        r.data_offset, Alignment(r.data_offset), EscapeName(r.name).c_str());
  }
  return kExitOk;
}

int Cat(const std::vector<std::string>& args) {
  if (args.size() != 2) return Usage("cat");
  auto reader = ArchiveReader::OpenPath(args[0]);
  if (!reader.ok()) return Fail(reader.status());
  Status s = (*reader)->Stream(args[1], [](std::span<const uint8_t> piece) {
    return WriteFull(kStdoutFd, piece, "writing standard output");
  });
  return s.ok() ? kExitOk : Fail(s);
}

int Verify(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("verify");
  VerifyOptions options;
  for (size_t i = 1; i < args.size(); i += 2) {
    if (args[i] != "--key" || i + 1 == args.size()) return Usage("verify");
    auto text = ReadFile(args[i + 1], "reading " + EscapeName(args[i + 1]));
    if (!text.ok()) return Fail(text.status());
    auto key = ParsePublicKey(*text, args[i + 1]);
    if (!key.ok()) return Fail(key.status());
    options.trusted_keys.push_back(*key);
  }
  auto reader = ArchiveReader::OpenPath(args[0]);
  if (!reader.ok()) return Fail(reader.status());
  Status s = (*reader)->VerifyAll();
  if (!s.ok()) return Fail(s);
  auto report = VerifyManifest(**reader, options);
  if (!report.ok()) return Fail(report.status());
  std::string manifest = "no manifest";
  if (report->has_manifest) {
    manifest =
        "manifest OK (" + std::to_string(report->records_checked) + " records)";
  }
  if (report->signer) manifest += ", signed by " + KeyHex(*report->signer);
  std::printf("%s: %zu records OK, %s\n", EscapeName(args[0]).c_str(),
              (*reader)->records().size(), manifest.c_str());
  return kExitOk;
}

// A command of its own file: its Status reported as Fail does.
int Report(std::string_view command, const Status& s) {
  if (s.code() == StatusCode::kInvalidArgument && s.message().empty()) {
    return Usage(command);
  }
  return s.ok() ? kExitOk : Fail(s);
}

// Writes one record below `root` without ever following a symbolic link:
// every directory is entered with O_NOFOLLOW, a link at the leaf is refused,
// and the bytes go to a fresh temporary file renamed over the leaf only once
// the record's CRC checked (an existing file is replaced, never written
// through, so a hard link cannot leak either).
Status ExtractOne(ArchiveReader& reader, const Fd& root, const std::string& dir,
                  const RecordInfo& info) {
  const std::string name = EscapeName(info.name);
  auto refuse = [&](const std::string& why) {
    return Status::Corrupt("refusing to extract " + name + " into " +
                           EscapeName(dir) + ": " + why);
  };
  // The reader refuses such names already; extraction does not rely on it.
  if (!CheckRecordName(info.name).ok()) return refuse("unsafe path");
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t slash = info.name.find('/', start);
    parts.push_back(info.name.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  const Fd* cur = &root;
  Fd held;  // the directory `cur` points to below the root
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    HERMETIC_RETURN_IF_ERROR(MakeDirectoryAt(*cur, parts[i], 0755,
                                             "creating directory for " + name));
    Result<Fd> next =
        Fd::OpenAt(*cur, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW, {});
    if (!next.ok()) {
      std::string why = EscapeName(parts[i]);
      why.insert(0, 1, '\'');
      why += "' is a symbolic link or not a directory";
      return refuse(why);
    }
    held = std::move(*next);
    cur = &held;
  }
  const std::string& leaf = parts.back();
  Result<FileInfo> existing = StatAt(*cur, leaf, {});
  if (existing.ok()) {
    if (existing->kind == FileKind::kSymlink) {
      return refuse("it is a symbolic link");
    }
    if (existing->kind == FileKind::kDirectory) {
      return refuse("it is a directory");
    }
  }
  // A name taken (even by an extracted record) is skipped.
  std::string tmp;
  HERMETIC_ASSIGN_OR_RETURN(
      Fd out, CreateTempFileAt(*cur, ".hermetic-extract-", 0644, &tmp,
                               "creating a temporary file for " + name));
  const std::string writing = "writing " + name;
  Status s = reader.Stream(info.name, [&](std::span<const uint8_t> piece) {
    return WriteFull(out, piece, writing);
  });
  if (s.ok()) s = out.Close(writing);
  if (s.ok()) {
    s = RenameAt(*cur, tmp, leaf, "renaming the temporary file to " + name);
  }
  if (!s.ok()) (void)UnlinkAt(*cur, tmp, {});
  return s;
}

int Extract(const std::vector<std::string>& args) {
  if (args.size() != 2) return Usage("extract");
  auto reader = ArchiveReader::OpenPath(args[0]);
  if (!reader.ok()) return Fail(reader.status());
  const std::string& dir = args[1];
  Status made = MakeDirectory(dir, 0755, "creating " + EscapeName(dir));
  if (!made.ok()) return Fail(made);
  Result<Fd> root =
      Fd::Open(dir, O_RDONLY | O_DIRECTORY, "opening " + EscapeName(dir));
  if (!root.ok()) return Fail(root.status());
  for (const RecordInfo& info : (*reader)->records()) {
    Status s = ExtractOne(**reader, *root, dir, info);
    if (!s.ok()) return Fail(s);
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintMainHelp(stderr);
    return kExitUsage;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintMainHelp(stdout);
    return kExitOk;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  static const std::map<std::string_view,
                        std::function<int(const std::vector<std::string>&)>>
      commands = {
          {"ls", Ls},
          {"cat", Cat},
          {"verify", Verify},
          {"extract", Extract},
          {"scan",
           [](const std::vector<std::string>& a) {
             return ScanCommand(a, Fail);
           }},
          {"keygen", [](const auto& a) { return Report("keygen", Keygen(a)); }},
          {"sign", [](const auto& a) { return Report("sign", Sign(a)); }}};
  auto it = commands.find(command);
  if (it == commands.end()) {
    std::fprintf(stderr, "hermetic: unknown command '%s'\n\n",
                 EscapeName(command).c_str());
    PrintMainHelp(stderr);
    return kExitUsage;
  }
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::printf("%s\n%s", std::string(Usages().at(command)).c_str(),
                  kExitCodes);
      return kExitOk;
    }
  }
  return it->second(args);
}

}  // namespace
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
  return 4;  // kExitOther
}
