// hermetic._core.scan_archive: the static report of include/hermetic/scan.h.
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <string>
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
        nb::list findings;
        for (const Finding& f : r.findings) {
          findings.append(nb::make_tuple(SeverityName(f.severity),
                                         NameStr(f.rule), NameStr(f.record),
                                         f.position, NameStr(f.message)));
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
