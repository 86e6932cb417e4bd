// hermetic._core.scan_archive / classify_global / index_tensors: the static
// report of include/hermetic/scan.h, its classification of pickle globals,
// and the tensor index of include/hermetic/tensor_index.h.
#include <nanobind/stl/optional.h>
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
#include "hermetic/tensor_index.h"

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

nb::list IndexTensorsPy(nb::handle data) {
  std::shared_ptr<PyBuffer> buffer = PyBuffer::Get(data);
  Result<TensorIndex> index = [&] {
    nb::gil_scoped_release nogil;
    return IndexTensors(buffer->span());
  }();
  nb::list out;
  for (const TensorInfo& t : ValueOrRaise(std::move(index)).tensors) {
    std::optional<uint64_t> span = t.SpanBytes();
    out.append(nb::make_tuple(NameStr(t.name), t.position, t.parameter, t.known,
                              NameStr(t.unknown_reason), NameStr(t.dtype),
                              nb::cast(t.shape), nb::cast(t.stride),
                              NameStr(t.StorageRecord()), t.storage_offset,
                              span ? nb::cast(*span) : nb::none()));
  }
  return out;
}

}  // namespace

void BindScan(nb::module_& m) {
  m.def(
      "scan_archive",
      [](nb::handle source, std::vector<std::string> allowed_globals) {
        ScanOptions options;
        options.allowed_globals = std::move(allowed_globals);
        ScanReport r = ScanSource(source, options);
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
      nb::arg("source"),
      nb::arg("allowed_globals") = std::vector<std::string>{},
      "(records, pickles, sources, findings) of the archive at `source` (a "
      "path as bytes, as os.fsencode gives, or an open ArchiveReader), each "
      "finding (severity, rule, record, position, message), position -1 "
      "where none applies. Nothing in the archive runs.");
  m.def("index_tensors", &IndexTensorsPy, nb::arg("data"),
        "The tensors a pickle holds, read without unpickling it "
        "(tensor_index.h).");
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
