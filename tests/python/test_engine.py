"""hermetic._core.ExportEngine, driven through a fake SourceProvider."""

import collections
import gc
import io
import pickle
import sys
import threading
import weakref

import pytest

from hermetic import _core
from hermetic.errors import InvalidArgumentError, StateError

STDLIB = ["json", "os", "collections", "sys", "io", "builtins"]
HINT = ("\nSet debug=True when invoking PackageExporter for a visualization "
        "of where broken modules are coming from!\n")
NO_ACTION = ("* Module did not match against any action pattern. Extern, "
             "mock, or intern it.\n")
STUB = ("from _mock import MockedObject\n"
        "def __getattr__(attr: str):\n"
        "    return MockedObject(__name__ + '.' + attr, _suppress_err=True)\n")


class FakeProvider:
    """modules: name -> source text, or what module_source() returns."""

    def __init__(self, modules):
        self.modules = dict(modules)
        self.exists_calls = collections.Counter()
        self.must_import = {}

    def module_exists(self, name, must_import):
        self.exists_calls[name] += 1
        self.must_import[name] = must_import
        return name in self.modules

    def module_source(self, name):
        if name not in self.modules:
            raise ModuleNotFoundError(f"Module not found: '{name}'")
        module = self.modules[name]
        if isinstance(module, (tuple, list)):
            return module
        return False, module, "", ""


def make(modules=(), target=None, stdlib=STDLIB):
    writer = _core.ArchiveWriter(target if target is not None else io.BytesIO())
    provider = FakeProvider(dict(modules))
    engine = _core.ExportEngine(writer, provider, "# mock runtime\n", stdlib)
    return engine, writer, provider


def read_archive(path):
    reader = _core.ArchiveReader(str(path))
    return {name: reader.read(name) for name in reader.records()}, reader.records()


def test_action_constants_are_torchs_numbers():
    assert (_core.INTERN, _core.EXTERN, _core.MOCK, _core.DENY,
            _core.REPACKAGED_MOCK_MODULE, _core.SKIP) == (1, 2, 3, 4, 5, 6)


def test_implicit_externs_precede_patterns():
    engine, _, _ = make({"json": "", "torch.nn": "", "a.b": ""})
    engine.add_pattern(["json"], [], _core.DENY, True)
    engine.add_pattern(["a.**"], [], _core.MOCK, True)
    engine.save_source_string("m", "import json\nimport torch.nn\nimport a.b\n",
                              False, True)
    assert engine.modules_with_action(_core.EXTERN) == ["json", "torch.nn"]
    assert engine.modules_with_action(_core.MOCK) == ["a.b"]
    assert engine.modules_with_action(_core.DENY) == []
    assert engine.rdeps("json") == ["m"]
    assert engine.validate() is None


def test_node_attributes_use_torch_names_and_only_set_keys():
    engine, _, _ = make({
        "pkg": (True, "import lonely\n", "", ""),
        "lonely": "",
        "ext": (False, None, "IS_EXTENSION_MODULE", ""),
        "gone": (False, None, "SOURCE_FILE_NOT_FOUND", "filename: /x.py"),
    })
    engine.add_pattern(["pkg", "ext", "gone"], [], _core.INTERN, True)
    engine.save_source_string("m", "import pkg\nimport ext\nimport gone\n",
                              False, True)
    assert engine.node_attributes("pkg") == {
        "action": 1, "provided": True, "is_package": True,
        "source": "import lonely\n"}
    assert engine.node_attributes("lonely") == {"error": "NO_ACTION"}
    assert engine.node_attributes("ext") == {
        "action": 1, "provided": True, "is_package": False,
        "error": "IS_EXTENSION_MODULE"}
    assert engine.node_attributes("gone")["error_context"] == "filename: /x.py"
    with pytest.raises(FileNotFoundError, match="The node nope is not in"):
        engine.node_attributes("nope")


def test_module_exists_is_cached_per_engine():
    engine, _, provider = make({"pkg": ""})
    engine.add_pattern(["pkg"], [], _core.EXTERN, True)
    engine.save_source_string("a", "from pkg import x\n", False, True)
    engine.save_source_string("b", "from pkg import x\nimport pkg\n", False,
                              True)
    assert provider.exists_calls == {"pkg.x": 1, "pkg": 1}


def test_import_exact_existence_is_asked_only_where_interning_could_follow():
    engine, _, provider = make({"ext": "", "mine": ""})
    engine.add_pattern(["ext", "ext.**"], [], _core.EXTERN, True)
    engine.add_pattern(["mine", "mine.**"], [], _core.INTERN, True)
    engine.save_source_string(
        "m", "from ext import a\nfrom mine import b\nimport json\nimport stray\n",
        False, True)
    assert provider.must_import == {
        "ext.a": False, "ext": False, "mine.b": True, "mine": True,
        "json": False, "stray": True}


def test_submodule_decision():
    engine, _, _ = make({"pkg": (True, "", "", ""), "pkg.sub": ""})
    engine.add_pattern(["pkg", "pkg.*"], [], _core.EXTERN, True)
    engine.save_source_string(
        "m", "from pkg import sub, attr\nimport missing\n", False, True)
    assert engine.graph().successors("m") == ["pkg.sub", "pkg"]
    assert "missing" not in engine.graph()


def test_provider_exception_propagates_unchanged():
    class Boom(Exception):
        pass

    error = Boom("from module_exists")

    class Raising(FakeProvider):
        def module_exists(self, name, must_import):
            raise error

    writer = _core.ArchiveWriter(io.BytesIO())
    engine = _core.ExportEngine(writer, Raising({}), "", STDLIB)
    with pytest.raises(Boom) as info:
        engine.save_source_string("m", "import x\n", False, True)
    assert info.value is error


def test_module_not_found_from_module_source_propagates():
    engine, _, _ = make()
    engine.add_pattern(["**"], [], _core.INTERN, True)
    with pytest.raises(ModuleNotFoundError,
                       match=r"Module not found: '<torch_package_0>\.x'"):
        engine.save_module("<torch_package_0>.x", True)


def test_malformed_module_source_answers_are_value_errors():
    engine, _, _ = make({"x": (False, None, "NOT_A_REASON", ""),
                         "y": ["not", "a", "tuple"]})
    engine.add_pattern(["x", "y"], [], _core.INTERN, True)
    with pytest.raises(InvalidArgumentError, match="unknown reason"):
        engine.add_dependency("x", True)
    with pytest.raises(InvalidArgumentError, match="must return"):
        engine.add_dependency("y", True)


def test_write_record_checks_raise_assertion_error():
    engine, _, _ = make()
    engine.write_record("res/a.txt", b"x")
    with pytest.raises(AssertionError, match=(
            r"^Tried to write file 'res/a.txt', but it already exists in this "
            r"archive\. Please file a bug\.$")):
        engine.write_record("res/a.txt", b"y")
    with pytest.raises(AssertionError, match=(
            r"^Tried to save a torch\.package'd module as "
            r"'<torch_package_0>\.m\.py'\. Directly saving torch\.package'd "
            r"modules is not allowed\.$")):
        engine.write_record("<torch_package_0>.m.py", memoryview(b""))


def test_pickle_from_mocked_module_is_reported():
    engine, writer, _ = make({"mocked": ""})
    engine.add_pattern(["mocked"], [], _core.MOCK, True)
    data = b"\x80\x03(cmocked\nK\nccollections\nOrderedDict\nt."
    engine.add_pickle("p", "x.pkl", bytearray(data), True)
    assert writer.record_names() == ["p/x.pkl"]
    assert engine.node_attributes("<p.x.pkl>") == {
        "action": 1, "provided": True, "is_pickle": True}
    assert engine.node_attributes("mocked")["error"] == "MOCKED_BUT_STILL_USED"
    assert engine.validate() == (
        "\n* Module was mocked out, but is still being used in the package. "
        "Please intern or extern the mocked modules if objects are supposed "
        "to be in the package.\n    mocked\n      Context: Object(s) "
        "'['K']' from module `mocked` was mocked out during packaging but is "
        "being used in resource - `x.pkl` in package `p`. \n" + HINT)
    assert engine.modules_with_action(_core.INTERN) == []
    assert engine.rdeps("collections") == ["<p.x.pkl>"]


def test_pickle_resource_must_be_a_file_name():
    engine, _, _ = make()
    with pytest.raises(ValueError, match="'a/b.pkl' must be only a file name"):
        engine.add_pickle("p", "a/b.pkl", b"\x80\x03N.", True)


def test_validate_debug_shows_paths():
    engine, _, _ = make({"a": "import sys\n", "sys": ""})
    engine.add_pattern(["a"], [], _core.INTERN, True)
    engine.save_source_string("root", "import a\n", False, True)
    note = ("      Note: While we usually use modules in the python standard "
            "library from the local environment, `sys` has a lot of system "
            "level access and therefore can pose a security risk. We heavily "
            "recommend removing `sys` from your packaged code. However, if "
            "that is not possible, add it to the extern list by calling "
            "PackageExporter.extern(\"`sys`\")\n")
    assert engine.validate() == "\n" + NO_ACTION + "    sys\n" + note + HINT
    assert engine.validate(debug=True) == (
        "\n" + NO_ACTION + "    sys\n" + note +
        "      A path to sys: root -> a -> sys\n")


def test_unmatched_patterns():
    engine, _, _ = make({"used": ""})
    engine.add_pattern(["used"], [], _core.EXTERN, False)
    engine.add_pattern(["never"], [], _core.MOCK, False)
    engine.add_pattern(["never"], [], _core.DENY, False)
    engine.add_pattern(["never"], [], _core.EXTERN, True)
    engine.save_source_string("m", "import used\n", False, True)
    assert engine.unmatched_patterns() == [1]


def test_bad_patterns_are_value_errors():
    engine, _, _ = make()
    with pytest.raises(ValueError, match=r"\*\* can only appear"):
        engine.add_pattern(["a**"], [], _core.EXTERN, True)
    with pytest.raises(ValueError, match="INTERN, EXTERN, MOCK or DENY"):
        engine.add_pattern(["a"], [], _core.SKIP, True)


def test_finish_writes_archive_and_calls_back_in_node_order(tmp_path):
    target = tmp_path / "out.pt"
    engine, writer, _ = make({
        "json": "", "mocked": (True, "", "", ""), "pkg.b": "import os\n",
        "os": ""}, target=str(target))
    engine.add_pattern(["mocked"], [], _core.MOCK, True)
    engine.add_pattern(["pkg.**"], [], _core.INTERN, True)
    engine.save_source_string(
        "pkg.a", "import json\nimport mocked\nfrom pkg import b\n", False,
        True)
    engine.add_pickle("res", "m.pkl", b"\x80\x03cpkg.b\nC\n.", True)
    calls = []
    engine.finish(lambda name, action: calls.append((name, action)), "3.11.7")
    assert calls == [("pkg.a", 1), ("json", 2), ("mocked", 3), ("pkg.b", 1),
                     ("os", 2), ("<res.m.pkl>", 1)]
    assert writer.finished
    records, order = read_archive(target)
    assert order[:8] == ["res/m.pkl", "pkg/a.py", "_mock.py",
                         "mocked/__init__.py", "pkg/b.py",
                         ".data/extern_modules", ".data/python_version",
                         ".data/version"]
    assert records["mocked/__init__.py"] == STUB.encode()
    assert records["_mock.py"] == b"# mock runtime\n"
    assert records[".data/extern_modules"] == b"json\nos\n"
    assert records[".data/python_version"] == b"3.11.7"


def test_empty_extern_list_is_a_newline(tmp_path):
    target = tmp_path / "out.pt"
    engine, _, _ = make(target=str(target))
    engine.save_source_string("m", "x = 1\n", False, True)
    engine.finish(lambda name, action: None, "3.11.7")
    records, _ = read_archive(target)
    assert records[".data/extern_modules"] == b"\n"


def test_finish_callback_exception_propagates_and_aborts():
    engine, writer, _ = make({"json": ""})
    engine.save_source_string("m", "import json\n", False, True)

    def hook(name, action):
        if action == _core.EXTERN:
            raise KeyError(name)

    with pytest.raises(KeyError, match="json"):
        engine.finish(hook, "3.11.7")
    assert not writer.finished
    assert not writer.has_record(".data/extern_modules")


def test_callback_may_call_back_into_the_engine():
    engine, writer, _ = make({"json": ""})
    engine.save_source_string("m", "import json\n", False, True)
    engine.finish(lambda name, action: engine.write_record(
        f"hooks/{name}.txt", name.encode()), "3.11.7")
    assert {"hooks/m.txt", "hooks/json.txt"} <= set(writer.record_names())


def test_finish_refuses_broken_graph():
    engine, writer, _ = make({"lonely": ""})
    engine.save_source_string("m", "import lonely\n", False, True)
    with pytest.raises(Exception, match="lonely"):
        engine.finish(lambda name, action: None, "3.11.7")
    assert not writer.finished


def test_writer_must_be_a_core_archive_writer():
    with pytest.raises(TypeError):
        _core.ExportEngine(io.BytesIO(), FakeProvider({}), "", STDLIB)


def test_engine_provider_cycle_is_collected():
    class Exporter:
        def __init__(self):
            provider = FakeProvider({})
            provider.exporter = self
            self.engine = _core.ExportEngine(_core.ArchiveWriter(io.BytesIO()),
                                             provider, "", STDLIB)

    exporter = Exporter()
    ref = weakref.ref(exporter)
    del exporter
    gc.collect()
    assert ref() is None


def test_second_thread_is_refused_while_a_call_runs():
    seen = []

    class Provider(FakeProvider):
        def module_exists(self, name, must_import):
            def other():
                try:
                    engine.validate()
                except Exception as e:  # noqa: BLE001 - recorded for the assert
                    seen.append(e)
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
            return False

    engine = _core.ExportEngine(_core.ArchiveWriter(io.BytesIO()),
                                Provider({}), "", STDLIB)
    engine.save_source_string("m", "import x\n", False, True)
    assert len(seen) == 1
    assert isinstance(seen[0], StateError)
    assert "in use by another thread" in str(seen[0])
    assert engine.validate() is None  # usable again afterwards


# -- agreement with torch.package ------------------------------------------


def _torch_error(fill, debug=False):
    package = pytest.importorskip("torch.package")
    exporter = package.PackageExporter(io.BytesIO(), debug=debug)
    fill(exporter)
    with pytest.raises(package.PackagingError) as info:
        exporter.close()
    return str(info.value)


@pytest.mark.parametrize("debug", [False, True])
def test_report_matches_torch_for_sys_io_and_denied(debug):
    source = "import sys\nimport io\nimport json\nimport email.mime\n"

    def fill(exporter):
        exporter.deny("email.**")  # stdlib: implicit extern wins
        exporter.save_source_string("root", source)

    engine, _, _ = make({"sys": "", "io": "", "json": "", "email.mime": ""},
                        stdlib=sorted(sys.stdlib_module_names))
    engine.add_pattern(["email.**"], [], _core.DENY, True)
    engine.save_source_string("root", source, False, True)
    assert engine.validate(debug) == _torch_error(fill, debug)


def test_mocked_but_used_report_matches_torch(tmp_path, monkeypatch):
    (tmp_path / "engine_mocked_mod.py").write_text("class K:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import engine_mocked_mod

    obj = [engine_mocked_mod.K(), collections.OrderedDict()]

    def fill(exporter):
        exporter.mock("engine_mocked_mod")
        exporter.save_pickle("p", "x.pkl", obj)

    engine, _, _ = make({"engine_mocked_mod": ""},
                        stdlib=sorted(sys.stdlib_module_names))
    engine.add_pattern(["engine_mocked_mod"], [], _core.MOCK, True)
    engine.add_pickle("p", "x.pkl", pickle.dumps(obj, protocol=3), True)
    assert engine.validate() == _torch_error(fill)


def test_graph_is_a_copy():
    engine, _, _ = make({"json": ""})
    engine.save_source_string("m", "import json\n", False, True)
    graph = engine.graph()
    graph.add_edge("json", "extra")
    assert graph.nodes() == ["m", "json", "extra"]
    assert engine.graph().nodes() == ["m", "json"]
    assert engine.graph().edges() == [("m", "json")]


def test_hook_may_add_modules_during_finish(tmp_path):
    target = tmp_path / "out.pt"
    engine, _, _ = make({"json": ""}, target=str(target))
    engine.save_source_string("m", "x = 1\n", False, True)

    def hook(name, action):
        if name == "m":
            engine.save_source_string("late", "import json\n", False, True)

    engine.finish(hook, "3.11.7")
    records, _ = read_archive(target)
    assert records["late.py"] == b"import json\n"
    assert records[".data/extern_modules"] == b"json\n"


def _writer_error(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


def test_write_errors_are_raised_as_the_writer_raises_them():
    class FailingTarget:
        def write(self, data):
            raise OSError("disk full")

    engine, _, _ = make(target=FailingTarget())
    failed = _writer_error(lambda: engine.write_record("a", b"x" * (1 << 20)))
    assert failed[0] is not AssertionError
    other = _core.ArchiveWriter(FailingTarget())
    expected = _writer_error(lambda: other.write_record("a", b"x" * (1 << 20)))
    assert failed[0] is expected[0]
    assert "disk full" in failed[1]


def test_writing_after_the_writer_finished_raises_the_writers_error():
    engine, writer, _ = make()
    writer.finish()
    failed = _writer_error(lambda: engine.write_record("a", b"x"))
    assert failed[0] is not AssertionError
    expected = _writer_error(lambda: writer.write_record("a", b"x"))
    assert failed == expected
