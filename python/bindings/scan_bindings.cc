// hermetic._core.scan_archive: the static report of include/hermetic/scan.h.
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bindings.h"
#include "hermetic/scan.h"

namespace hermetic::python {

void BindScan(nb::module_& m) {
  m.def(
      "scan_archive",
      [](nb::bytes path, std::vector<std::string> allowed_globals) {
        ScanOptions options;
        options.allowed_globals = std::move(allowed_globals);
        std::string p(path.c_str(), path.size());
        ScanReport r = ValueOrRaise([&]() -> Result<ScanReport> {
          nb::gil_scoped_release nogil;
          HERMETIC_ASSIGN_OR_RETURN(std::unique_ptr<ArchiveReader> reader,
                                    ArchiveReader::OpenPath(p));
          return ScanArchive(*reader, options);
        }());
        // A package's findings share a few severities and rules, and each
        // record's are consecutive: one str object each (most findings of
        // a large package are its imports, ~17,000 for sympy).
        std::unordered_map<std::string_view, nb::str> shared;
        auto str = [&shared](std::string_view text) {
          auto [it, added] = shared.try_emplace(text);
          if (added) it->second = NameStr(text);
          return it->second;
        };
        nb::list findings;
        for (const Finding& f : r.findings) {
          findings.append(nb::make_tuple(str(SeverityName(f.severity)),
                                         str(f.rule), str(f.record), f.position,
                                         NameStr(f.message)));
        }
        return nb::make_tuple(r.records, r.pickles, r.sources, findings);
      },
      nb::arg("path"), nb::arg("allowed_globals") = std::vector<std::string>{},
      "(records, pickles, sources, findings) of the archive at `path` (bytes, "
      "as os.fsencode gives), each finding (severity, rule, record, position, "
      "message), position -1 where none applies. Nothing in the archive "
      "runs.");
}

}  // namespace hermetic::python
