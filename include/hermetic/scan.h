// ScanArchive: what a package would do when loaded, found without loading
// it: nothing in the archive is executed, imported or unpickled.
//
// Contract:
//  - Reads every record of an opened ArchiveReader once and returns a
//    report: findings in record order (positions ascending within a record
//    where the source of the finding allows), each with a severity, a
//    stable rule id, the record, a position (the byte offset of the opcode
//    in a pickle, the 1-based line in a source, -1 where neither applies)
//    and a message. Rule ids are documented in docs/format.md section 7.
//  - Pickles are the records named *.pkl and any other record (not a
//    source, bytecode or one of the format's text records: storages,
//    out-of-band buffers and unknown .data/ records included) that starts
//    with a PROTO header and passes the pickle gate, or that has no header
//    (protocols 0 and 1), passes the gate and names code (globals that are
//    all dotted identifiers, a STACK_GLOBAL or an EXT code), which ordinary
//    text does not; those get "pickle.hidden". Every global a pickle names
//    is classified: one of the archive's own modules or a default data
//    constructor (info), a known-dangerous callable (high or critical, a
//    qualified name matched on every tail of its path), a qualified name
//    reaching through module attributes (high), anything else (low for a
//    module .data/extern_modules lists, medium otherwise: it runs code of a
//    module the host provides). A global the scanner cannot name
//    (STACK_GLOBAL over computed operands, an EXT code) is high; a *.pkl
//    the gate refuses is high.
//  - Sources (*.py): their imports (info; high when the import itself names
//    a dangerous callable), risky names with their line (eval, exec,
//    os.system, subprocess, ...; followed through the names the module's
//    absolute imports bind, `import os as o` then `o.system`), and mock
//    stubs (low). Externs listed in .data/extern_modules (info), bytecode
//    records (medium; high without a source beside them), .data/ records
//    the format does not define (low). With a manifest record, the
//    manifest and signature are checked as VerifyManifest does (every
//    record hashed): "manifest.verified" / "manifest.signed" (info) or
//    "manifest.mismatch" (high).
//  - A record that cannot be read (CRC mismatch, too large) is a finding
//    ("record.unreadable", high), not an error: a scan reports as much as
//    it can. Limits on untrusted input are ScanOptions fields; memory is
//    the largest record read plus the report.
#ifndef HERMETIC_SCAN_H_
#define HERMETIC_SCAN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/archive.h"
#include "hermetic/import_scan.h"
#include "hermetic/pickle_scan.h"
#include "hermetic/status.h"

namespace hermetic {

enum class Severity : uint8_t { kInfo, kLow, kMedium, kHigh, kCritical };

// "info", "low", "medium", "high", "critical".
std::string_view SeverityName(Severity severity);
// The inverse of SeverityName; nullopt for any other text.
std::optional<Severity> ParseSeverity(std::string_view name);

struct Finding {
  Severity severity = Severity::kInfo;
  std::string rule;    // stable id, e.g. "pickle.global.os.system"
  std::string record;  // as in the archive (unescaped)
  int64_t position = -1;
  std::string message;  // record and global names in it are EscapeName()d
};

struct ScanOptions {
  PickleScanOptions pickle;
  ImportScanOptions source;
  // Records larger than this are not read (reported as unreadable).
  uint64_t max_record_size = uint64_t{1} << 30;
  // Extra globals treated as data constructors: "module.name", or
  // "module.*" for every name of a module.
  std::vector<std::string> allowed_globals;
};

struct ScanReport {
  std::vector<Finding> findings;
  size_t records = 0;
  size_t pickles = 0;
  size_t sources = 0;
  // Findings at or above `severity`.
  size_t CountAtLeast(Severity severity) const;
};

Result<ScanReport> ScanArchive(ArchiveReader& reader,
                               const ScanOptions& options = {});

// How the scan classifies a global a pickle names (docs/format.md section
// 7), for loaders that enforce the same rules on the pickle they are about
// to unpickle. `in_archive`: the module is one of the archive's own.
enum class GlobalClass : uint8_t {
  kDangerous,        // runs commands, code, imports or I/O; never allowed
  kInterned,         // a global of one of the archive's modules
  kDataConstructor,  // the default list or options.allowed_globals
  kExtern,           // anything else: code of a module the host provides
};
struct GlobalVerdict {
  GlobalClass kind = GlobalClass::kExtern;
  Severity severity = Severity::kMedium;  // of the scan's finding
};
GlobalVerdict ClassifyGlobal(std::string_view module, std::string_view name,
                             bool in_archive, const ScanOptions& options);

}  // namespace hermetic

#endif  // HERMETIC_SCAN_H_
