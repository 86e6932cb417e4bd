// What each record of a package is (docs/format.md), for `ls` and `info`.
#ifndef HERMETIC_TOOLS_HERMETIC_RECORD_KIND_H_
#define HERMETIC_TOOLS_HERMETIC_RECORD_KIND_H_

#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "hermetic/archive.h"

namespace hermetic::cli {

enum class RecordKind {
  kModule,     // a packaged module's source (*.py)
  kMock,       // a mocked module's stub, or _mock.py
  kPickle,     // *.pkl, or a resource whose bytes are a pickle
  kStorage,    // .data/<key>.storage: a tensor storage's bytes
  kBytecode,   // .data/bytecode/...
  kOutOfBand,  // <pickle>.oob/<n>: a pickle's out-of-band buffer
  kResource,   // any other record outside .data/ (save_text, save_binary)
  kFramework,  // version, extern list, Python version, manifest, signature
  kOther,      // a .data/ record the format does not define
};

inline constexpr std::array<RecordKind, 9> kAllKinds = {
    RecordKind::kModule,   RecordKind::kMock,      RecordKind::kPickle,
    RecordKind::kStorage,  RecordKind::kBytecode,  RecordKind::kOutOfBand,
    RecordKind::kResource, RecordKind::kFramework, RecordKind::kOther};

// "module", "mock", "pickle", "storage", "bytecode", "oob", "resource",
// "framework", "other".
std::string_view KindName(RecordKind kind);
std::optional<RecordKind> ParseKind(std::string_view name);

// The record's pickle if `name` is one of its out-of-band buffers.
std::optional<std::string_view> OutOfBandOwner(std::string_view name);

// The kind of every record of `reader`, in records() order. Sources and
// resources not named *.pkl are told apart by their first bytes (a mock
// stub's first line, a pickle's protocol header and STOP); a record that
// cannot be read is classified by its name alone.
std::vector<RecordKind> ClassifyRecords(ArchiveReader& reader);

}  // namespace hermetic::cli

#endif  // HERMETIC_TOOLS_HERMETIC_RECORD_KIND_H_
