// hermetic._core.scan_archive / classify_global: the static report of
// include/hermetic/scan.h and its classification of pickle globals.
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "hermetic/scan.h"

namespace hermetic::python {

namespace {

ScanReport ScanSource(nb::handle source, const ScanOptions& options) {
  if (nb::isinstance<nb::bytes>(source)) {
    nb::bytes path = nb::borrow<nb::bytes>(source);
    std::string p(path.c_str(), path.size());
    return ValueOrRaise([&]() -> Result<ScanReport> {
      nb::gil_scoped_release nogil;
      HERMETIC_ASSIGN_OR_RETURN(std::unique_ptr<ArchiveReader> reader,
                                ArchiveReader::OpenPath(p));
      return ScanArchive(*reader, options);
    }());
  }
  // An open reader: the loader scans the very bytes it is about to load.
  ScanReport report;
  RunOnArchiveReader(source, [&](ArchiveReader& reader) {
    HERMETIC_ASSIGN_OR_RETURN(report, ScanArchive(reader, options));
    return Status::Ok();
  });
  return report;
}

constexpr const char* kGlobalClassNames[] = {"dangerous", "interned", "allowed",
                                             "extern"};

}  // namespace

void BindScan(nb::module_& m) {
  m.def(
      "scan_archive",
      [](nb::handle source, std::vector<std::string> allowed_globals) {
        ScanOptions options;
        options.allowed_globals = std::move(allowed_globals);
        ScanReport r = ScanSource(source, options);
        nb::list findings;
        for (const Finding& f : r.findings) {
          findings.append(nb::make_tuple(SeverityName(f.severity),
                                         NameStr(f.rule), NameStr(f.record),
                                         f.position, NameStr(f.message)));
        }
        return nb::make_tuple(r.records, r.pickles, r.sources, findings);
      },
      nb::arg("source"),
      nb::arg("allowed_globals") = std::vector<std::string>{},
      "(records, pickles, sources, findings) of the archive at `source` (a "
      "path as bytes, as os.fsencode gives, or an open ArchiveReader), each "
      "finding (severity, rule, record, position, message), position -1 "
      "where none applies. Nothing in the archive runs.");
  m.def(
      "classify_global",
      [](const std::string& module, const std::string& name, bool in_archive,
         std::vector<std::string> allowed_globals) {
        ScanOptions options;
        options.allowed_globals = std::move(allowed_globals);
        const GlobalVerdict v =
            ClassifyGlobal(module, name, in_archive, options);
        return nb::make_tuple(kGlobalClassNames[static_cast<int>(v.kind)],
                              SeverityName(v.severity));
      },
      nb::arg("module"), nb::arg("name"), nb::arg("in_archive"),
      nb::arg("allowed_globals") = std::vector<std::string>{});
}

}  // namespace hermetic::python
