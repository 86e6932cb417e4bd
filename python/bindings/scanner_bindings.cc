// hermetic._core.scan_imports / scan_pickle / GlobGroup / DiGraph (see
// _core.pyi). Scans run with the GIL released: they only read memory the
// caller's objects keep alive for the duration of the call.
#include <Python.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bindings.h"
#include "hermetic/dependency_record.h"
#include "hermetic/glob.h"
#include "hermetic/graph.h"
#include "hermetic/import_scan.h"
#include "hermetic/pickle_scan.h"

namespace hermetic::python {
namespace {

// Names come from untrusted bytes; like the pickle module, lone surrogates
// survive instead of failing the whole scan.
nb::str Str(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(
      s.data(), static_cast<Py_ssize_t>(s.size()), "surrogatepass");
  if (o == nullptr) throw nb::python_error();
  return nb::steal<nb::str>(o);
}

std::string_view SourceText(nb::handle source) {
  Py_ssize_t size = 0;
  if (PyUnicode_Check(source.ptr())) {
    const char* data = PyUnicode_AsUTF8AndSize(source.ptr(), &size);
    if (data == nullptr) throw nb::python_error();
    return {data, static_cast<size_t>(size)};
  }
  char* data = nullptr;
  if (PyBytes_AsStringAndSize(source.ptr(), &data, &size) != 0) {
    throw nb::python_error();
  }
  return {data, static_cast<size_t>(size)};
}

// An imported name; a bytes source may hold any bytes, so a name that is
// not UTF-8 is an error naming the module, not a bare UnicodeDecodeError.
nb::str ImportedName(std::string_view name, std::string_view module_name) {
  PyObject* o = PyUnicode_DecodeUTF8(
      name.data(), static_cast<Py_ssize_t>(name.size()), "surrogatepass");
  if (o == nullptr) {
    PyErr_Clear();
    RaiseStatus(Status::InvalidArgument("module " + EscapeName(module_name) +
                                        ": imported name " + EscapeName(name) +
                                        " is not valid UTF-8"));
  }
  return nb::steal<nb::str>(o);
}

nb::list ScanImportsPy(nb::handle source, std::string_view module_name,
                       bool is_package) {
  std::string_view text = SourceText(source);
  std::optional<Result<std::vector<ImportRef>>> result;
  {
    nb::gil_scoped_release release;
    result.emplace(ScanImports(text, module_name, is_package));
  }
  nb::list out;
  for (const ImportRef& ref : ValueOrRaise(std::move(*result))) {
    nb::object name = ref.name
                          ? nb::object(ImportedName(*ref.name, module_name))
                          : nb::none();
    out.append(nb::make_tuple(ImportedName(ref.module, module_name), name));
  }
  return out;
}

// Text that is not a name (a persistent id's kind) must never fail to
// convert: undecodable bytes come back escaped.
nb::str EscapedStr(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(
      s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace");
  if (o == nullptr) throw nb::python_error();
  return nb::steal<nb::str>(o);
}

PickleScan ScanPickleBuffer(nb::handle data) {
  Py_buffer view;
  if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) {
    throw nb::python_error();
  }
  std::optional<Result<PickleScan>> result;
  {
    nb::gil_scoped_release release;
    result.emplace(ScanPickle({static_cast<const uint8_t*>(view.buf),
                               static_cast<size_t>(view.len)}));
  }
  PyBuffer_Release(&view);
  return ValueOrRaise(std::move(*result));
}

nb::list Globals(const PickleScan& scan) {
  nb::list out;
  // The scan admits only strict UTF-8 names.
  for (const PickleGlobal& g : scan.globals) {
    out.append(nb::make_tuple(Str(g.module), Str(g.name)));
  }
  return out;
}

// torch accepts a single pattern string as well as an iterable of them.
std::vector<std::string> Patterns(nb::handle obj) {
  std::vector<std::string> out;
  if (nb::isinstance<nb::str>(obj)) {
    out.push_back(nb::cast<std::string>(obj));
    return out;
  }
  for (nb::handle item : nb::iter(obj))
    out.push_back(nb::cast<std::string>(item));
  return out;
}

GlobGroup MakeGlobGroup(nb::handle include, nb::handle exclude,
                        std::string_view separator) {
  if (separator.size() != 1) {
    RaiseStatus(
        Status::InvalidArgument("separator must be a single character"));
  }
  return ValueOrRaise(
      GlobGroup::Create(Patterns(include), Patterns(exclude), separator[0]));
}

// The graph's unknown-node error, InvalidArgumentError (a ValueError as in
// torch), for any key that is not a node, str or not.
DiGraph::NodeId Node(const DiGraph& g, nb::handle name) {
  if (!nb::isinstance<nb::str>(name)) {
    nb::str text(name);
    Py_ssize_t size = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
    if (utf8 == nullptr) throw nb::python_error();
    RaiseStatus(DiGraph::UnknownNode(
        std::string_view(utf8, static_cast<size_t>(size))));
  }
  return ValueOrRaise(g.Lookup(nb::cast<std::string_view>(name)));
}

std::vector<std::string> Names(const DiGraph& g,
                               const std::vector<DiGraph::NodeId>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (DiGraph::NodeId id : ids) out.push_back(g.name(id));
  return out;
}

}  // namespace

void BindScanners(nb::module_& m) {
  // importlib's _resolve_name, the scanner's own rule for relative imports.
  m.def(
      "resolve_name",
      [](const NameArg& name, const NameArg& package, int level) {
        return NameStr(
            ValueOrRaise(ResolveRelative(name.bytes, package.bytes, level)));
      },
      nb::arg("name"), nb::arg("package"), nb::arg("level"));
  m.def("scan_imports", &ScanImportsPy, nb::arg("source"),
        nb::arg("module_name"), nb::arg("is_package"));
  m.def(
      "scan_pickle",
      [](nb::handle data) { return Globals(ScanPickleBuffer(data)); },
      nb::arg("data"));

  nb::class_<PickleScan>(m, "PickleScan")
      .def_ro("protocol", &PickleScan::protocol)
      .def_prop_ro("globals", &Globals)
      .def_ro("unresolved_globals", &PickleScan::unresolved_globals)
      .def_prop_ro("extension_codes",
                   [](const PickleScan& s) {
                     nb::list out;
                     for (int32_t c : s.extension_codes) out.append(c);
                     return out;
                   })
      .def_ro("persistent_ids", &PickleScan::persistent_ids)
      .def_prop_ro("persistent_id_kinds",
                   [](const PickleScan& s) {
                     nb::list out;
                     for (const std::string& k : s.persistent_id_kinds) {
                       out.append(EscapedStr(k));
                     }
                     return out;
                   })
      .def_ro("unnamed_persistent_ids", &PickleScan::unnamed_persistent_ids);
  m.def("check_pickle", &ScanPickleBuffer, nb::arg("data"));

  nb::class_<GlobGroup>(m, "GlobGroup")
      .def(
          "__init__",
          [](GlobGroup* self, nb::handle include, nb::handle exclude,
             std::string_view separator) {
            new (self) GlobGroup(MakeGlobGroup(include, exclude, separator));
          },
          nb::arg("include"), nb::arg("exclude") = nb::tuple(),
          nb::arg("separator") = ".")
      .def(
          "matches",
          [](const GlobGroup& g, const NameArg& candidate) {
            return g.Matches(candidate.bytes);
          },
          nb::arg("candidate"));

  nb::class_<DiGraph>(m, "DiGraph")
      .def(nb::init<>())
      .def(
          "add_node",
          [](DiGraph& g, std::string_view name) { g.AddNode(name); },
          nb::arg("name"))
      .def(
          "add_edge",
          [](DiGraph& g, std::string_view u, std::string_view v) {
            g.AddEdge(u, v);
          },
          nb::arg("u"), nb::arg("v"))
      .def(
          "__contains__",
          [](const DiGraph& g, nb::handle name) {
            return nb::isinstance<nb::str>(name) &&
                   g.Contains(nb::cast<std::string_view>(name));
          },
          nb::arg("name"))
      .def("__len__", &DiGraph::size)
      .def("nodes",
           [](const DiGraph& g) {
             std::vector<std::string> out;
             for (DiGraph::NodeId i = 0; i < g.size(); ++i) {
               out.push_back(g.name(i));
             }
             return out;
           })
      .def("edges",
           [](const DiGraph& g) {
             nb::list out;
             for (DiGraph::NodeId u = 0; u < g.size(); ++u) {
               for (DiGraph::NodeId v : g.Successors(u)) {
                 out.append(nb::make_tuple(g.name(u), g.name(v)));
               }
             }
             return out;
           })
      .def(
          "successors",
          [](const DiGraph& g, nb::handle n) {
            return Names(g, g.Successors(Node(g, n)));
          },
          nb::arg("name"))
      .def(
          "predecessors",
          [](const DiGraph& g, nb::handle n) {
            return Names(g, g.Predecessors(Node(g, n)));
          },
          nb::arg("name"))
      .def(
          "forward_transitive_closure",
          [](const DiGraph& g, nb::handle src) {
            return Names(g, g.ForwardTransitiveClosure(Node(g, src)));
          },
          nb::arg("src"))
      .def(
          "backward_transitive_closure",
          [](const DiGraph& g, nb::handle src) {
            return Names(g, g.BackwardTransitiveClosure(Node(g, src)));
          },
          nb::arg("src"))
      .def(
          "all_paths_dot",
          [](const DiGraph& g, nb::handle src, nb::handle dst) {
            return ValueOrRaise(
                g.AllPathsDot(g.name(Node(g, src)), g.name(Node(g, dst))));
          },
          nb::arg("src"), nb::arg("dst"))
      .def(
          "first_path",
          [](const DiGraph& g, nb::handle dst) {
            return Names(g, g.FirstPath(Node(g, dst)));
          },
          nb::arg("dst"))
      .def(
          "shortest_path",
          [](const DiGraph& g, const std::vector<nb::handle>& sources,
             nb::handle dst) {
            std::vector<DiGraph::NodeId> ids;
            for (nb::handle s : sources) ids.push_back(Node(g, s));
            return Names(g, g.ShortestPath(ids, Node(g, dst)));
          },
          nb::arg("sources"), nb::arg("dst"))
      .def("to_dot", &DiGraph::ToDot);

  m.def(
      "parse_dependency_record",
      [](nb::bytes data, std::string_view archive) {
        std::span<const uint8_t> bytes(
            reinterpret_cast<const uint8_t*>(data.c_str()), data.size());
        DependencyRecord record =
            ValueOrRaise(ParseDependencyRecord(bytes, archive));
        std::vector<std::string_view> kinds;
        for (DependencyKind kind : record.kinds) {
          kinds.push_back(DependencyKindName(kind));
        }
        std::vector<std::string> roots = Names(record.graph, record.roots);
        return nb::make_tuple(nb::cast(std::move(record.graph)), kinds, roots);
      },
      nb::arg("data"), nb::arg("archive"),
      "The dependency record's (graph, kind per node, root names); "
      "dependency_record.h.");
}

}  // namespace hermetic::python
