"""PackageExporter: every public method, attribute and error text."""

import io
import os
import pickle
import sys
import types
import zipfile
from pathlib import Path

import pytest

from hermetic import (EmptyMatchError, GlobGroup, OrderedImporter,
                      PackageExporter, PackagingError, sys_importer)
from hermetic._digraph import DiGraph
from hermetic.package_exporter import (PackagingErrorReason, _ModuleProviderAction,
                                       _PatternInfo)
from packages.export_helpers import fixture_packages  # noqa: F401


def records(path_or_bytes):
    """Record names without the archive's top-level folder."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with zipfile.ZipFile(source) as zf:
        return [name.partition("/")[2] for name in zf.namelist()]


def read_record(path, name):
    with zipfile.ZipFile(path) as zf:
        prefix = zf.namelist()[0].partition("/")[0]
        return zf.read(f"{prefix}/{name}")


# -- constructor --------------------------------------------------------------


def test_path_target_names_the_archive_after_the_file_stem(tmp_path):
    path = tmp_path / "model.pt"
    with PackageExporter(str(path)) as exporter:
        exporter.save_text("res", "a.txt", "hi")
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist()[0].startswith("model/")
    assert exporter.buffer is None


def test_pathlike_target(tmp_path):
    with PackageExporter(tmp_path / "p.pt") as exporter:
        exporter.save_text("res", "a.txt", "hi")
    assert read_record(tmp_path / "p.pt", "res/a.txt") == b"hi"


def test_buffer_target_uses_archive_prefix_and_is_flushed():
    class Buffer(io.BytesIO):
        flushed = False

        def flush(self):
            Buffer.flushed = True

    buffer = Buffer()
    with PackageExporter(buffer) as exporter:
        exporter.save_binary("res", "b.bin", b"\x00\x01")
    assert exporter.buffer is buffer
    assert Buffer.flushed
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as zf:
        assert zf.read("archive/res/b.bin") == b"\x00\x01"


def test_target_that_is_neither_path_nor_buffer_is_a_type_error():
    with pytest.raises(TypeError, match="path .* or a writable binary buffer"):
        PackageExporter(1)


def test_importer_must_be_importer_or_sequence(tmp_path):
    with pytest.raises(TypeError, match=(
            r"^importer arg should be an Importer or a sequence of Importers, "
            r"got <class 'int'> instead\.$")):
        PackageExporter(tmp_path / "x.pt", importer=3)
    assert not (tmp_path / "x.pt").exists()


def test_importer_sequence_becomes_ordered_importer(tmp_path):
    exporter = PackageExporter(io.BytesIO(), importer=[sys_importer])
    assert isinstance(exporter.importer, OrderedImporter)
    assert PackageExporter(io.BytesIO()).importer is sys_importer


def test_debug_attribute():
    assert PackageExporter(io.BytesIO()).debug is False
    assert PackageExporter(io.BytesIO(), debug=True).debug is True


# -- sources --------------------------------------------------------------------


def test_save_source_string_interns_and_resolves_dependencies():
    buffer = io.BytesIO()
    with PackageExporter(buffer) as exporter:
        exporter.intern("exportee.**")
        exporter.save_source_string("top", "import exportee.models\nimport json\n")
        assert exporter.interned_modules() == [
            "exportee.consts", "exportee.models", "exportee.util", "top"]
        assert exporter.externed_modules() == ["json"]
    names = records(buffer.getvalue())
    assert "top.py" in names
    assert "exportee/models.py" in names
    assert "exportee/__init__.py" not in names  # parents are not added
    assert ".data/extern_modules" in names


def test_save_source_string_without_dependencies_scans_nothing():
    with PackageExporter(io.BytesIO()) as exporter:
        exporter.save_source_string("top", "import exportee.models\n", dependencies=False)
        assert exporter.interned_modules() == ["top"]
        assert list(exporter.dependency_graph) == ["top"]


def test_save_source_string_package_goes_to_init(tmp_path):
    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter.save_source_string("pkg", "X = 1\n", is_package=True)
    assert read_record(path, "pkg/__init__.py") == b"X = 1\n"


def test_save_source_file_single_file_and_folder(tmp_path):
    folder = tmp_path / "tree"
    (folder / "inner").mkdir(parents=True)
    (folder / "__init__.py").write_text("A = 1\n")
    (folder / "inner" / "__init__.py").write_text("")
    (folder / "inner" / "mod.py").write_text("B = 2\n")
    (tmp_path / "single.py").write_text("C = 3\n")
    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter.save_source_file("tree", str(folder))
        exporter.save_source_file("one", str(tmp_path / "single.py"))
        assert exporter.interned_modules() == ["one", "tree", "tree.inner", "tree.inner.mod"]
    assert read_record(path, "tree/inner/mod.py") == b"B = 2\n"
    assert read_record(path, "tree/__init__.py") == b"A = 1\n"
    assert read_record(path, "one.py") == b"C = 3\n"


def test_save_module_rejects_non_strings():
    exporter = PackageExporter(io.BytesIO())
    with pytest.raises(TypeError, match=(
            r"^save_module\(\) expects a string input, did you perhaps mean to pass `__name__`\?$")):
        exporter.save_module(types)


def test_save_module_interns_a_real_module(tmp_path):
    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter.intern("exportee.**")
        exporter.save_module("exportee.util")
    assert read_record(path, "exportee/util.py") == Path(
        sys.modules["exportee.util"].__file__).read_bytes()


def test_add_dependency_applies_patterns():
    exporter = PackageExporter(io.BytesIO())
    exporter.extern("exportee.util")
    exporter.mock("exportee.heavy")
    exporter.add_dependency("exportee.util")
    exporter.add_dependency("exportee.heavy")
    exporter.add_dependency("json")
    assert exporter.externed_modules() == ["exportee.util", "json"]
    assert exporter.mocked_modules() == ["exportee.heavy"]


def test_mocked_modules_are_stubbed_without_reading_their_source(tmp_path):
    path = tmp_path / "out.pt"
    with PackageExporter(str(path)) as exporter:
        exporter.mock(["exportee.sub", "exportee.heavy"])
        exporter.save_source_string("top", "import exportee.sub\nimport exportee.heavy\n")
        asked = []
        original = exporter._provider.module_source
        exporter._provider.module_source = lambda name: asked.append(name) or original(name)
    assert asked == []
    names = records(str(path))
    # A package's stub is its __init__.py, a module's its .py, as in torch.
    assert "exportee/sub/__init__.py" in names
    assert "exportee/heavy.py" in names


def test_enums_are_torchs_and_defined_once():
    from hermetic import _core

    assert _ModuleProviderAction is _core._ModuleProviderAction
    assert PackagingErrorReason is _core.PackagingErrorReason
    torch_package = pytest.importorskip("torch.package.package_exporter")
    ours = [(a.name, a.value) for a in _ModuleProviderAction]
    assert ours == [(a.name, a.value) for a in torch_package._ModuleProviderAction]
    assert [(r.name, r.value) for r in PackagingErrorReason] == [
        (r.name, r.value) for r in torch_package.PackagingErrorReason]
    assert repr(_ModuleProviderAction.MOCK) == repr(torch_package._ModuleProviderAction.MOCK)


_LAZY_USER = """
def plot():
    from lazylib.render import draw
    return draw()
"""


def test_extern_dependency_is_found_without_running_its_package(source_tree):
    # torch.package imports lazylib (running its __init__) to learn whether
    # lazylib.render.draw is a submodule; the finders alone answer that.
    source_tree({
        "lazyuser.py": _LAZY_USER,
        "lazylib/__init__.py": "raise RuntimeError('lazylib ran')\n",
        "lazylib/render.py": "def draw(): return 1\n",
    })
    exporter = PackageExporter(io.BytesIO())
    exporter.intern("lazyuser")
    exporter.extern("lazylib.**")
    exporter.save_module("lazyuser")
    exporter.close()
    assert exporter.externed_modules() == ["lazylib.render"]
    assert "lazylib" not in sys.modules


def test_blocked_module_does_not_exist(source_tree, monkeypatch):
    source_tree({
        "lazyuser.py": _LAZY_USER,
        "lazylib/__init__.py": "",
        "lazylib/render.py": "def draw(): return 1\n",
    })
    monkeypatch.setitem(sys.modules, "lazylib.render", None)
    exporter = PackageExporter(io.BytesIO())
    exporter.intern("lazyuser")
    exporter.extern("lazylib.**")
    exporter.save_module("lazyuser")
    exporter.close()
    assert exporter.externed_modules() == []


def test_interned_dependency_that_fails_to_import_is_left_out(source_tree):
    # As in torch.package: where a module would be interned, existing means
    # importing, and a lazily imported module whose import fails is no
    # dependency (sympy's plotting backends without pyglet).
    source_tree({
        "lazyuser.py": _LAZY_USER,
        "lazylib/__init__.py": "raise ImportError('needs a display')\n",
        "lazylib/render.py": "def draw(): return 1\n",
    })
    exporter = PackageExporter(io.BytesIO())
    exporter.intern(["lazyuser", "lazylib.**"])
    exporter.save_module("lazyuser")
    exporter.close()
    assert exporter.interned_modules() == ["lazyuser"]


# -- resources --------------------------------------------------------------------


def test_save_text_and_binary(tmp_path):
    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter.save_text("my.res", "t.txt", "h\u00e9llo")
        exporter.save_binary("my.res", "b.bin", b"\xff\x00")
    assert read_record(path, "my/res/t.txt") == "h\u00e9llo".encode()
    assert read_record(path, "my/res/b.bin") == b"\xff\x00"


@pytest.mark.parametrize("method, payload", [("save_text", "x"), ("save_binary", b"x"),
                                             ("save_pickle", 1)])
def test_resource_must_be_a_bare_file_name(method, payload):
    exporter = PackageExporter(io.BytesIO())
    with pytest.raises(ValueError, match=r"^'sub/b\.txt' must be only a file name$"):
        getattr(exporter, method)("res", "sub/b.txt", payload)


def test_writing_a_record_twice_is_an_assertion():
    exporter = PackageExporter(io.BytesIO())
    exporter.save_text("res", "a.txt", "1")
    with pytest.raises(AssertionError, match=(
            r"Tried to write file 'res/a\.txt', but it already exists in this archive\. "
            r"Please file a bug\.")):
        exporter.save_text("res", "a.txt", "2")


def test_write_record_is_the_glue_entry_point(tmp_path):
    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter._write_record(".data/7.storage", b"abcd")
    assert read_record(path, ".data/7.storage") == b"abcd"


@pytest.mark.parametrize("protocol", [2, 5])
def test_save_pickle_accepts_protocols_3_and_4_only(protocol):
    exporter = PackageExporter(io.BytesIO())
    with pytest.raises(AssertionError, match=(
            rf"^torch\.package only supports pickle protocols 3 and 4, got {protocol}$")):
        exporter.save_pickle("res", "o.pkl", 1, pickle_protocol=protocol)


def test_save_pickle_adds_a_pickle_node_and_its_dependencies():
    from exportee.models import Point

    exporter = PackageExporter(io.BytesIO())
    exporter.intern("exportee.**")
    exporter.save_pickle("res", "p.pkl", Point(1, 2))
    graph = exporter.dependency_graph
    assert graph.nodes["<res.p.pkl>"]["is_pickle"]
    assert "exportee.models" in list(graph.successors("<res.p.pkl>"))
    assert exporter.get_rdeps("exportee.models") == ["<res.p.pkl>"]
    assert exporter.get_rdeps("nothing.here") == []
    assert "<res.p.pkl>" not in exporter.interned_modules()


def test_save_pickle_without_dependencies_adds_none():
    from exportee.models import Point

    exporter = PackageExporter(io.BytesIO())
    exporter.save_pickle("res", "p.pkl", Point(1, 2), dependencies=False)
    assert list(exporter.dependency_graph.successors("<res.p.pkl>")) == []


def test_reduce_package_is_called_once_per_object():
    calls = []

    class Once:
        def __reduce_package__(self, exporter):
            calls.append(exporter)
            return (dict, ())

    obj = Once()
    exporter = PackageExporter(io.BytesIO())
    exporter.save_pickle("res", "a.pkl", [obj, obj], dependencies=False)
    exporter.save_pickle("res", "b.pkl", obj, dependencies=False)
    assert calls == [exporter]
    assert exporter.serialized_reduces[id(obj)] == ("reduce_package", id(obj), dict, ())


# -- patterns -------------------------------------------------------------------------


def test_patterns_are_kept_in_call_order():
    exporter = PackageExporter(io.BytesIO())
    exporter.intern("a.**")
    exporter.extern(["b", "c"], exclude="c.d")
    exporter.mock("m", allow_empty=False)
    exporter.deny("x")
    groups = list(exporter.patterns)
    assert all(isinstance(group, GlobGroup) for group in groups)
    assert [str(group) for group in groups] == [
        "GlobGroup(include=a.**, exclude=())",
        "GlobGroup(include=['b', 'c'], exclude=c.d)",
        "GlobGroup(include=m, exclude=())",
        "GlobGroup(include=x, exclude=())",
    ]
    infos = list(exporter.patterns.values())
    assert all(isinstance(info, _PatternInfo) for info in infos)
    assert [info.action for info in infos] == [
        _ModuleProviderAction.INTERN, _ModuleProviderAction.EXTERN,
        _ModuleProviderAction.MOCK, _ModuleProviderAction.DENY]
    assert [info.allow_empty for info in infos] == [True, True, False, True]


def test_first_matching_pattern_wins():
    exporter = PackageExporter(io.BytesIO())
    exporter.mock("exportee.heavy")
    exporter.intern("exportee.**")
    exporter.save_source_string("top", "import exportee.uses_heavy\n")
    assert exporter.mocked_modules() == ["exportee.heavy"]
    assert exporter.interned_modules() == ["exportee.uses_heavy", "top"]


def test_stdlib_is_extern_even_when_denied():
    exporter = PackageExporter(io.BytesIO())
    exporter.deny("json")
    exporter.save_source_string("top", "import json\n")
    assert exporter.externed_modules() == ["json"]
    assert exporter.denied_modules() == []


def test_denied_module_fails_close_with_its_reason(tmp_path):
    path = tmp_path / "p.pt"
    exporter = PackageExporter(path)
    exporter.deny("exportee.**")
    exporter.save_source_string("top", "import exportee.util\n")
    assert exporter.denied_modules() == ["exportee.util"]
    with pytest.raises(PackagingError) as info:
        exporter.close()
    assert "* Module was denied by a pattern.\n    exportee.util\n" in str(info.value)
    assert not path.exists()


def test_unmatched_module_reports_no_action_and_graph_attributes():
    exporter = PackageExporter(io.BytesIO())
    exporter.save_source_string("top", "import exportee.util\n")
    with pytest.raises(PackagingError) as info:
        exporter.close()
    error = info.value
    assert str(error).startswith(
        "\n* Module did not match against any action pattern. Extern, mock, or intern it.\n"
        "    exportee.util\n")
    assert isinstance(error.dependency_graph, DiGraph)
    attrs = error.dependency_graph.nodes["exportee.util"]
    assert attrs["error"] is PackagingErrorReason.NO_ACTION
    assert error.dependency_graph.nodes["top"]["action"] is _ModuleProviderAction.INTERN


def test_debug_reports_a_path_to_each_broken_module():
    exporter = PackageExporter(io.BytesIO(), debug=True)
    exporter.intern("exportee.uses_heavy")
    exporter.save_source_string("top", "import exportee.uses_heavy\n")
    with pytest.raises(PackagingError, match=(
            "A path to exportee.heavy: top -> exportee.uses_heavy -> exportee.heavy")):
        exporter.close()


def test_allow_empty_false_pattern_that_matches_nothing():
    exporter = PackageExporter(io.BytesIO())
    exporter.extern("nothing.here", allow_empty=False)
    with pytest.raises(EmptyMatchError, match=(
            r"^Exporter did not match any modules to GlobGroup\(include=nothing\.here, "
            r"exclude=\(\)\), which was marked as allow_empty=False$")):
        exporter.close()
    assert not list(exporter.patterns.values())[0].was_matched


def test_packaging_errors_take_precedence_over_empty_matches():
    exporter = PackageExporter(io.BytesIO())
    exporter.extern("nothing.here", allow_empty=False)
    exporter.save_source_string("top", "import exportee.util\n")
    with pytest.raises(PackagingError):
        exporter.close()


def test_packaging_error_reason_values_and_repr():
    assert repr(PackagingErrorReason.NO_DUNDER_FILE) == "<PackagingErrorReason.NO_DUNDER_FILE>"
    assert PackagingErrorReason.DENIED.value == "Module was denied by a pattern."
    assert [reason.name for reason in PackagingErrorReason] == [
        "IS_EXTENSION_MODULE", "NO_DUNDER_FILE", "SOURCE_FILE_NOT_FOUND",
        "DEPENDENCY_RESOLUTION_FAILED", "NO_ACTION", "DENIED", "MOCKED_BUT_STILL_USED"]


# -- modules without source -------------------------------------------------------


@pytest.fixture
def sourceless_modules(monkeypatch, tmp_path):
    """Three importable modules whose source cannot be found."""
    extension = types.ModuleType("fake_ext")
    extension.__file__ = str(tmp_path / "fake_ext.cpython-311-x86_64-linux-gnu.so")
    no_file = types.ModuleType("fake_nofile")
    compiled = types.ModuleType("fake_compiled")
    compiled.__file__ = str(tmp_path / "fake_compiled.pyc")
    for module in (extension, no_file, compiled):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return tmp_path


def test_modules_without_source_are_each_named_with_their_reason(sourceless_modules):
    exporter = PackageExporter(io.BytesIO())
    exporter.intern("fake_*")
    exporter.save_source_string(
        "top", "import fake_ext\nimport fake_nofile\nimport fake_compiled\n")
    with pytest.raises(PackagingError) as info:
        exporter.close()
    message = str(info.value)
    assert ("* Module is a C extension module. torch.package supports Python modules only.\n"
            "    fake_ext\n") in message
    assert "* Module had no __file__ defined.\n    fake_nofile\n" in message
    assert ("* Module had a __file__, but we could not find it in your filesystem.\n"
            "    fake_compiled\n"
            f"      Context: filename: {sourceless_modules / 'fake_compiled.pyc'}\n") in message
    nodes = info.value.dependency_graph.nodes
    assert nodes["fake_ext"]["error"] is PackagingErrorReason.IS_EXTENSION_MODULE
    assert nodes["fake_nofile"]["error"] is PackagingErrorReason.NO_DUNDER_FILE


def test_interning_sys_is_refused():
    exporter = PackageExporter(io.BytesIO())
    exporter.intern("sys")
    exporter.save_source_string("top", "import sys\n")
    with pytest.raises(PackagingError, match=r"Module had no __file__ defined\.\n    sys\n"):
        exporter.close()


def test_mangled_module_without_its_importer():
    exporter = PackageExporter(io.BytesIO())
    with pytest.raises(ModuleNotFoundError, match=(
            r"^Module not found: '<torch_package_999>\.foo'\. Make sure the PackageImporter "
            r"that created this module is present in `self\.importer`$")):
        exporter.save_module("<torch_package_999>.foo")


# -- hooks, ids, inspection -----------------------------------------------------------


def test_hooks_run_at_close_in_registration_order_and_can_be_removed():
    calls = []
    exporter = PackageExporter(io.BytesIO())
    exporter.intern("exportee.**", exclude=["exportee.heavy"])
    exporter.mock("exportee.heavy")
    exporter.register_extern_hook(lambda e, name: calls.append(("extern1", name)))
    exporter.register_extern_hook(lambda e, name: calls.append(("extern2", name)))
    exporter.register_mock_hook(lambda e, name: calls.append(("mock", name)))
    exporter.register_intern_hook(lambda e, name: calls.append(("intern", name)))
    removed = exporter.register_intern_hook(lambda e, name: calls.append(("removed", name)))
    removed.remove()
    exporter.save_source_string("top", "import exportee.uses_heavy\nimport json\n")
    exporter.save_pickle("res", "x.pkl", 5)
    assert calls == []
    exporter.close()
    assert calls == [
        ("intern", "top"),
        ("intern", "exportee.uses_heavy"),
        ("mock", "exportee.heavy"),
        ("extern1", "json"),
        ("extern2", "json"),
        ("intern", "<res.x.pkl>"),
    ]


def test_hook_receives_the_exporter():
    seen = []
    exporter = PackageExporter(io.BytesIO())
    exporter.register_extern_hook(lambda e, name: seen.append(e))
    exporter.save_source_string("top", "import json\n")
    exporter.close()
    assert seen == [exporter]


def test_get_unique_id_counts_per_exporter():
    exporter = PackageExporter(io.BytesIO())
    assert [exporter.get_unique_id() for _ in range(3)] == ["0", "1", "2"]
    assert PackageExporter(io.BytesIO()).get_unique_id() == "0"


def test_dependency_graph_string_and_all_paths():
    exporter = PackageExporter(io.BytesIO())
    exporter.intern("exportee.**")
    exporter.save_source_string("top", "from exportee.models import Point\n")
    dot = exporter.dependency_graph_string()
    assert dot.startswith("digraph G {\nrankdir = LR;\nnode [shape=box];\n")
    assert '"top" -> "exportee.models";' in dot
    assert dot.endswith("}\n")
    paths = exporter.all_paths("top", "exportee.util")
    assert '"top" -> "exportee.models";' in paths
    assert '"exportee.models" -> "exportee.util";' in paths
    assert "exportee.consts" not in paths


# -- failures leave nothing behind -------------------------------------------------


def test_exception_in_with_block_leaves_no_file(tmp_path):
    path = tmp_path / "p.pt"
    with pytest.raises(RuntimeError, match="boom"):
        with PackageExporter(path) as exporter:
            exporter.save_text("res", "a.txt", "x")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_exception_in_with_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "p.pt"
    path.write_bytes(b"old contents")
    with pytest.raises(RuntimeError):
        with PackageExporter(path) as exporter:
            exporter.save_text("res", "a.txt", "x")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["p.pt"]


def test_error_at_close_keeps_the_old_file(tmp_path):
    path = tmp_path / "p.pt"
    path.write_bytes(b"old contents")
    with pytest.raises(PackagingError):
        with PackageExporter(path) as exporter:
            exporter.save_source_string("top", "import exportee.util\n")
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["p.pt"]


def test_failing_hook_at_close_leaves_no_file(tmp_path):
    path = tmp_path / "p.pt"

    def hook(exporter, name):
        raise KeyError(name)

    with pytest.raises(KeyError):
        with PackageExporter(path) as exporter:
            exporter.register_extern_hook(hook)
            exporter.save_source_string("top", "import json\n")
    assert os.listdir(tmp_path) == []


def test_successful_close_replaces_the_old_file(tmp_path):
    path = tmp_path / "p.pt"
    path.write_bytes(b"old contents")
    with PackageExporter(path) as exporter:
        exporter.save_text("res", "a.txt", "new")
    assert read_record(path, "res/a.txt") == b"new"
    assert os.listdir(tmp_path) == ["p.pt"]


def test_close_writes_extern_list_and_python_version(tmp_path):
    import platform

    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter.save_source_string("top", "import json\nimport os.path\n")
    assert read_record(path, ".data/extern_modules") == b"json\nos.path\n"
    assert read_record(path, ".data/python_version") == platform.python_version().encode()
    assert read_record(path, ".data/version") == b"6\n"


# -- pickler ------------------------------------------------------------------------


def test_plain_objects_pickle_as_the_standard_pickler_does():
    import abc
    import collections

    class_with_meta = abc.ABC
    obj = {"od": collections.OrderedDict(a=1), "cls": class_with_meta, "f": len,
           "c": complex(1, 2), "nested": [(1, "x"), {2: b"y"}]}
    exporter = PackageExporter(io.BytesIO())
    exporter.save_pickle("res", "o.pkl", obj)
    for protocol in (3, 4):
        exporter.save_pickle("res", f"o{protocol}.pkl", obj, pickle_protocol=protocol)
    exporter.close()
    data = exporter.buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for protocol in (3, 4):
            assert zf.read(f"archive/res/o{protocol}.pkl") == pickle.dumps(obj, protocol)


def test_functions_and_classes_are_checked_with_a_non_sys_importer():
    from exportee.models import Point, make_points

    exporter = PackageExporter(io.BytesIO(), importer=[sys_importer])
    exporter.intern("exportee.**")
    exporter.save_pickle("res", "o.pkl", [make_points, Point.Nested(1), Point(1, 2)])
    with pytest.raises(pickle.PicklingError, match=r"Can't pickle <function .*<lambda> at .*Could not find obj"):
        exporter.save_pickle("res", "bad.pkl", lambda: 0)


def test_out_of_band_buffers_are_written_once_despite_restarts(tmp_path):
    from exportee.reducible import Reducible

    path = tmp_path / "p.pt"
    payload = bytearray(b"z" * 200)
    with PackageExporter(path) as exporter:
        exporter.intern("exportee.**")
        # The PickleBuffer comes first, the object needing a persistent id
        # second: the first attempt is dropped after seeing the buffer.
        exporter.save_pickle("res", "x.pkl", [pickle.PickleBuffer(payload),
                                              Reducible("p", 1)], out_of_band=True)
    names = records(path)
    assert [name for name in names if ".oob/" in name] == ["res/x.pkl.oob/0"]
    assert read_record(path, "res/x.pkl.oob/0") == bytes(payload)
    from hermetic import PackageImporter

    loaded = PackageImporter(path).load_pickle("res", "x.pkl")
    assert bytes(loaded[0]) == bytes(payload)
    assert loaded[1] == Reducible("p", 1)


def test_exporting_code_and_objects_never_imports_torch(tmp_path):
    import subprocess

    import hermetic
    from packages.export_helpers import PACKAGES_DIR

    code = (
        "import io, sys\n"
        "from hermetic import PackageExporter\n"
        "from exportee.models import Point\n"
        "with PackageExporter(io.BytesIO()) as exporter:\n"
        "    exporter.intern('exportee.**')\n"
        "    exporter.save_pickle('res', 'p.pkl', [Point(1, 2)])\n"
        "    exporter.save_pickle('res', 'b.pkl', bytearray(b'x'), out_of_band=True)\n"
        "sys.exit('torch' in sys.modules)\n")
    python_dir = os.path.dirname(os.path.dirname(hermetic.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([python_dir, PACKAGES_DIR]))
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


# -- mock runtime and stdlib list -------------------------------------------------------


def test_mocked_object_refuses_every_use():
    from hermetic._mock import MockedObject

    mocked = MockedObject("pkg.thing", _suppress_err=True)
    assert repr(mocked) == "MockedObject(pkg.thing)"
    for use in (lambda: mocked(), lambda: mocked[0], lambda: mocked + 1, lambda: len(mocked),
                lambda: iter(mocked), lambda: hash(mocked), lambda: mocked == 1,
                lambda: mocked.attribute):
        with pytest.raises(NotImplementedError, match=(
                r"^Object 'pkg\.thing' was mocked out during packaging but it is being used in "
                r"__\w+__$")):
            use()
    with pytest.raises(NotImplementedError, match=r"__setattr__"):
        mocked.x = 1


def test_mocked_object_cannot_be_created_by_unpickling():
    from hermetic._mock import MockedObject

    with pytest.raises(NotImplementedError, match=(
            r"^Object 'pkg\.thing' was mocked out during packaging but it is being used in "
            r"'__new__'\. If this error is happening during 'load_pickle', please ensure that "
            r"your pickled object doesn't contain any mocked objects\.$")):
        MockedObject("pkg.thing")



def _dependencies(source):
    exporter = PackageExporter(io.BytesIO())
    exporter.extern("**")
    exporter.save_source_string("user", source)
    return sorted(exporter.dependency_graph.successors("user"))


def test_names_below_a_plain_module_are_not_modules(source_tree):
    source_tree({"plainmod.py": "thing = 1\n"})
    assert _dependencies("from plainmod import thing\n") == ["plainmod"]


def test_submodule_a_package_registers_is_seen_once_it_is_imported(source_tree):
    source_tree({"selfreg/__init__.py": """\
        import sys, types
        sys.modules[__name__ + ".virtual"] = types.ModuleType(__name__ + ".virtual")
        """})
    # Names to extern are looked up without running the package's code.
    assert _dependencies("from selfreg import virtual, other\n") == ["selfreg"]
    import selfreg  # noqa: F401

    assert _dependencies("from selfreg import virtual, other\n") == [
        "selfreg", "selfreg.virtual"]


def test_source_is_the_loaders_text_whatever_the_file_encoding(source_tree, tmp_path):
    import importlib

    root = source_tree({"enc/__init__.py": ""})
    files = {
        "latin": "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n".encode("latin-1"),
        "crlf": b"A = 1\r\nB = 2\r\n",
        "bom": b"\xef\xbb\xbfC = 3\n",
        "utf8": "D = '\u00e9t\u00e9'\n".encode("utf-8"),
    }
    for name, data in files.items():
        (root / "enc" / f"{name}.py").write_bytes(data)
    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter.intern("enc.**")
        for name in files:
            exporter.save_module(f"enc.{name}")
    for name in files:
        module = importlib.import_module(f"enc.{name}")
        expected = module.__loader__.get_source(module.__name__).encode("utf-8")
        assert read_record(path, f"enc/{name}.py") == expected


def test_packaging_error_suggests_the_lines_that_resolve_it():
    import io

    import hermetic

    with pytest.raises(hermetic.PackagingError) as info:
        with hermetic.PackageExporter(io.BytesIO()) as exporter:
            exporter.save_source_string("m", "import numpy\nimport numpy.linalg\nimport yaml\n")
    text = str(info.value)
    assert text.index("Module did not match") < text.index("would resolve them")
    assert "exporter.extern(['numpy.**', 'yaml.**'])" in text
    assert "exporter.mock(['numpy.**', 'yaml.**'])" in text
