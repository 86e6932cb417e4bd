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
from hermetic.errors import AlreadyExistsError, InvalidArgumentError, StateError

A = _core._ModuleProviderAction
R = _core.PackagingErrorReason

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
        self.source_calls = collections.Counter()
        self.is_package_calls = collections.Counter()
        self.must_import = {}

    def module_exists(self, name, must_import):
        self.exists_calls[name] += 1
        self.must_import[name] = must_import
        return name in self.modules

    def module_source(self, name):
        self.source_calls[name] += 1
        if name not in self.modules:
            raise ModuleNotFoundError(f"Module not found: '{name}'")
        module = self.modules[name]
        if isinstance(module, (tuple, list)):
            return module
        return False, module, None, ""

    def module_is_package(self, name):
        self.is_package_calls[name] += 1
        if name not in self.modules:
            raise ModuleNotFoundError(f"No module named '{name}'")
        module = self.modules[name]
        return isinstance(module, (tuple, list)) and module[0]


def make(modules=(), target=None, stdlib=STDLIB):
    provider = FakeProvider(dict(modules))
    engine = _core.ExportEngine(target if target is not None else io.BytesIO(),
                                provider, "# mock runtime\n", stdlib)
    return engine, provider


def attributes(engine, sources=False):
    graph, attrs = engine.dependency_graph(sources=sources)
    return dict(zip(graph.nodes(), attrs))


def read_archive(path):
    reader = _core.ArchiveReader(str(path))
    return {name: reader.read(name) for name in reader.records()}, reader.records()


def test_enums_are_torchs_names_numbers_and_texts():
    assert [(a.name, a.value) for a in A] == [
        ("INTERN", 1), ("EXTERN", 2), ("MOCK", 3), ("DENY", 4),
        ("REPACKAGED_MOCK_MODULE", 5), ("SKIP", 6)]
    assert repr(A.MOCK) == "<_ModuleProviderAction.MOCK: 3>"
    assert [r.name for r in R] == [
        "IS_EXTENSION_MODULE", "NO_DUNDER_FILE", "SOURCE_FILE_NOT_FOUND",
        "DEPENDENCY_RESOLUTION_FAILED", "NO_ACTION", "DENIED",
        "MOCKED_BUT_STILL_USED"]
    assert R.NO_DUNDER_FILE.value == "Module had no __file__ defined."
    assert repr(R.DENIED) == "<PackagingErrorReason.DENIED>"


def test_implicit_externs_precede_patterns():
    engine, _ = make({"json": "", "torch.nn": "", "a.b": ""})
    engine.add_pattern(["json"], [], A.DENY, True)
    engine.add_pattern(["a.**"], [], A.MOCK, True)
    engine.save_source_string("m", "import json\nimport torch.nn\nimport a.b\n",
                              False, True)
    assert engine.modules_with_action(A.EXTERN) == ["json", "torch.nn"]
    assert engine.modules_with_action(A.MOCK) == ["a.b"]
    assert engine.modules_with_action(A.DENY) == []
    assert engine.rdeps("json") == ["m"]
    assert engine.validate() is None


def test_node_attributes_use_torch_names_and_only_set_keys():
    engine, _ = make({
        "pkg": (True, "import lonely\n", None, ""),
        "lonely": "",
        "ext": (False, None, R.IS_EXTENSION_MODULE, ""),
        "gone": (False, None, R.SOURCE_FILE_NOT_FOUND, "filename: /x.py"),
    })
    engine.add_pattern(["pkg", "ext", "gone"], [], A.INTERN, True)
    engine.save_source_string("m", "import pkg\nimport ext\nimport gone\n",
                              False, True)
    nodes = attributes(engine, sources=True)
    assert list(nodes) == ["m", "pkg", "lonely", "ext", "gone"]
    assert nodes["pkg"] == {
        "action": A.INTERN, "provided": True, "is_package": True,
        "source": "import lonely\n"}
    assert nodes["lonely"] == {"error": R.NO_ACTION}
    assert nodes["ext"] == {
        "action": A.INTERN, "provided": True, "is_package": False,
        "error": R.IS_EXTENSION_MODULE}
    assert nodes["gone"]["error_context"] == "filename: /x.py"
    # Sources cross only when asked for.
    assert "source" not in attributes(engine)["pkg"]
    assert {k: v for k, v in nodes["pkg"].items() if k != "source"} == (
        attributes(engine)["pkg"])


def test_unknown_node_is_one_value_error_everywhere():
    engine, _ = make({"json": ""})
    engine.save_source_string("m", "import json\n", False, True)
    graph = engine.graph()
    for call in (lambda: graph.successors("nope"),
                 lambda: graph.predecessors("nope"),
                 lambda: graph.first_path("nope"),
                 lambda: graph.all_paths_dot("m", "nope"),
                 lambda: graph.forward_transitive_closure("nope")):
        with pytest.raises(InvalidArgumentError,
                           match=r"^The node nope is not in the digraph\.$"):
            call()
    assert issubclass(InvalidArgumentError, ValueError)


def test_module_exists_is_cached_per_engine():
    engine, provider = make({"pkg": ""})
    engine.add_pattern(["pkg"], [], A.EXTERN, True)
    engine.save_source_string("a", "from pkg import x\n", False, True)
    engine.save_source_string("b", "from pkg import x\nimport pkg\n", False,
                              True)
    assert provider.exists_calls == {"pkg.x": 1, "pkg": 1}


def test_import_exact_existence_is_asked_only_where_interning_could_follow():
    engine, provider = make({"ext": "", "mine": ""})
    engine.add_pattern(["ext", "ext.**"], [], A.EXTERN, True)
    engine.add_pattern(["mine", "mine.**"], [], A.INTERN, True)
    engine.save_source_string(
        "m", "from ext import a\nfrom mine import b\nimport json\nimport stray\n",
        False, True)
    assert provider.must_import == {
        "ext.a": False, "ext": False, "mine.b": True, "mine": True,
        "json": False, "stray": True}


def test_submodule_decision():
    engine, _ = make({"pkg": (True, "", None, ""), "pkg.sub": ""})
    engine.add_pattern(["pkg", "pkg.*"], [], A.EXTERN, True)
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

    engine = _core.ExportEngine(io.BytesIO(), Raising({}), "", STDLIB)
    with pytest.raises(Boom) as info:
        engine.save_source_string("m", "import x\n", False, True)
    assert info.value is error


def test_module_not_found_from_module_source_propagates():
    engine, _ = make()
    engine.add_pattern(["**"], [], A.INTERN, True)
    with pytest.raises(ModuleNotFoundError,
                       match=r"Module not found: '<torch_package_0>\.x'"):
        engine.save_module("<torch_package_0>.x", True)


def test_malformed_module_source_answers_are_value_errors():
    # A reason crosses as the enum; its name as a string is refused.
    engine, _ = make({"x": (False, None, "NO_DUNDER_FILE", ""),
                      "y": ["not", "a", "tuple"]})
    engine.add_pattern(["x", "y"], [], A.INTERN, True)
    with pytest.raises(InvalidArgumentError, match="must return"):
        engine.add_dependency("x", True)
    with pytest.raises(InvalidArgumentError, match="must return"):
        engine.add_dependency("y", True)


def test_write_record_checks_raise_assertion_error():
    engine, _ = make()
    engine.write_record("res/a.txt", b"x")
    assert engine.has_record("res/a.txt")
    with pytest.raises(AlreadyExistsError, match=(
            r"^Tried to write file 'res/a.txt', but it already exists in this "
            r"archive\. Please file a bug\.$")):
        engine.write_record("res/a.txt", b"y")
    with pytest.raises(AlreadyExistsError, match=(
            r"^Tried to save a torch\.package'd module as "
            r"'<torch_package_0>\.m\.py'\. Directly saving torch\.package'd "
            r"modules is not allowed\.$")):
        engine.write_record("<torch_package_0>.m.py", memoryview(b""))
    assert issubclass(AlreadyExistsError, AssertionError)
    assert not engine.has_record("<torch_package_0>.m.py")


def test_pickle_from_mocked_module_is_reported():
    engine, provider = make({"mocked": ""})
    engine.add_pattern(["mocked"], [], A.MOCK, True)
    data = b"\x80\x03(cmocked\nK\nccollections\nOrderedDict\nt."
    engine.add_pickle("p", "x.pkl", bytearray(data), True)
    assert engine.record_names() == ["p/x.pkl"]
    nodes = attributes(engine)
    assert nodes["<p.x.pkl>"] == {
        "action": A.INTERN, "provided": True, "is_pickle": True}
    assert nodes["mocked"]["error"] is R.MOCKED_BUT_STILL_USED
    # Reported, not stubbed: the module is never imported to tell.
    assert provider.is_package_calls == {}
    assert engine.validate() == (
        "\n* Module was mocked out, but is still being used in the package. "
        "Please intern or extern the mocked modules if objects are supposed "
        "to be in the package.\n    mocked\n      Context: Object(s) "
        "'['K']' from module `mocked` was mocked out during packaging but is "
        "being used in resource - `x.pkl` in package `p`. \n" + HINT)
    assert engine.modules_with_action(A.INTERN) == []
    assert engine.rdeps("collections") == ["<p.x.pkl>"]


def test_pickle_resource_must_be_a_file_name():
    engine, _ = make()
    with pytest.raises(ValueError, match="'a/b.pkl' must be only a file name"):
        engine.add_pickle("p", "a/b.pkl", b"\x80\x03N.", True)


def test_validate_debug_shows_paths():
    engine, _ = make({"a": "import sys\n", "sys": ""})
    engine.add_pattern(["a"], [], A.INTERN, True)
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
    engine, _ = make({"used": ""})
    engine.add_pattern(["used"], [], A.EXTERN, False)
    engine.add_pattern(["never"], [], A.MOCK, False)
    engine.add_pattern(["never"], [], A.DENY, False)
    engine.add_pattern(["never"], [], A.EXTERN, True)
    engine.save_source_string("m", "import used\n", False, True)
    assert engine.unmatched_patterns() == [1]


def test_bad_patterns_are_value_errors():
    engine, _ = make()
    with pytest.raises(ValueError, match=r"\*\* can only appear"):
        engine.add_pattern(["a**"], [], A.EXTERN, True)
    with pytest.raises(ValueError, match="INTERN, EXTERN, MOCK or DENY"):
        engine.add_pattern(["a"], [], A.SKIP, True)


def test_finish_writes_archive_and_calls_back_in_node_order(tmp_path):
    target = tmp_path / "out.pt"
    engine, _ = make({
        "json": "", "mocked": (True, "", None, ""), "pkg.b": "import os\n",
        "os": ""}, target=str(target))
    engine.add_pattern(["mocked"], [], A.MOCK, True)
    engine.add_pattern(["pkg.**"], [], A.INTERN, True)
    engine.save_source_string(
        "pkg.a", "import json\nimport mocked\nfrom pkg import b\n", False,
        True)
    engine.add_pickle("res", "m.pkl", b"\x80\x03cpkg.b\nC\n.", True)
    calls = []
    engine.finish(lambda name, action: calls.append((name, action)), "3.11.7")
    assert calls == [("pkg.a", A.INTERN), ("json", A.EXTERN),
                     ("mocked", A.MOCK), ("pkg.b", A.INTERN), ("os", A.EXTERN),
                     ("<res.m.pkl>", A.INTERN)]
    assert engine.finished
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
    engine, _ = make(target=str(target))
    engine.save_source_string("m", "x = 1\n", False, True)
    engine.finish(lambda name, action: None, "3.11.7")
    records, _ = read_archive(target)
    assert records[".data/extern_modules"] == b"\n"


def test_finish_callback_exception_propagates_and_aborts():
    engine, _ = make({"json": ""})
    engine.save_source_string("m", "import json\n", False, True)

    def hook(name, action):
        if action == A.EXTERN:
            raise KeyError(name)

    with pytest.raises(KeyError, match="json"):
        engine.finish(hook, "3.11.7")
    assert not engine.finished
    assert not engine.has_record(".data/extern_modules")


def test_callback_may_call_back_into_the_engine():
    engine, _ = make({"json": ""})
    engine.save_source_string("m", "import json\n", False, True)
    engine.finish(lambda name, action: engine.write_record(
        f"hooks/{name}.txt", name.encode()), "3.11.7")
    assert {"hooks/m.txt", "hooks/json.txt"} <= set(engine.record_names())


def test_finish_refuses_broken_graph():
    engine, _ = make({"lonely": ""})
    engine.save_source_string("m", "import lonely\n", False, True)
    with pytest.raises(Exception, match="lonely"):
        engine.finish(lambda name, action: None, "3.11.7")
    assert not engine.finished


def test_target_must_be_a_path_or_writable():
    with pytest.raises(TypeError, match="must be a path or have a write"):
        _core.ExportEngine(object(), FakeProvider({}), "", STDLIB)


def test_engine_writes_a_path_target_atomically(tmp_path):
    target = tmp_path / "out.pt"
    target.write_bytes(b"before")
    engine, _ = make(target=str(target))
    engine.write_record("res/a.txt", b"x")
    engine.abort()
    assert target.read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pt"]
    engine, _ = make(target=target)  # os.PathLike too
    engine.save_source_string("m", "x = 1\n", False, True)
    engine.finish(lambda name, action: None, "3.11.7")
    records, _ = read_archive(target)
    assert records["m.py"] == b"x = 1\n"


def test_mocked_module_is_asked_whether_it_is_a_package_once(tmp_path):
    target = tmp_path / "out.pt"
    engine, provider = make({"mocked": (True, "", None, ""), "flat": ""},
                            target=str(target))
    engine.add_pattern(["mocked", "flat"], [], A.MOCK, True)
    engine.save_source_string("m", "import mocked\nimport flat\n", False, True)
    engine.save_source_string("n", "import mocked\n", False, True)
    assert provider.is_package_calls == {"mocked": 1, "flat": 1}
    engine.finish(lambda name, action: None, "3.11.7")
    assert provider.source_calls == {}
    assert provider.is_package_calls == {"mocked": 1, "flat": 1}
    records, _ = read_archive(target)
    assert records["mocked/__init__.py"] == STUB.encode()
    assert records["flat.py"] == STUB.encode()


def test_mocking_a_module_that_cannot_be_imported_fails_the_call():
    engine, _ = make()
    engine.add_pattern(["absent"], [], A.MOCK, True)
    with pytest.raises(ModuleNotFoundError, match="No module named 'absent'"):
        engine.add_dependency("absent", True)


def test_engine_provider_cycle_is_collected():
    class Exporter:
        def __init__(self):
            provider = FakeProvider({})
            provider.exporter = self
            self.engine = _core.ExportEngine(io.BytesIO(), provider, "",
                                             STDLIB)

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

    engine = _core.ExportEngine(io.BytesIO(), Provider({}), "", STDLIB)
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

    engine, _ = make({"sys": "", "io": "", "json": "", "email.mime": ""},
                        stdlib=sorted(sys.stdlib_module_names))
    engine.add_pattern(["email.**"], [], A.DENY, True)
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

    engine, _ = make({"engine_mocked_mod": ""},
                        stdlib=sorted(sys.stdlib_module_names))
    engine.add_pattern(["engine_mocked_mod"], [], A.MOCK, True)
    engine.add_pickle("p", "x.pkl", pickle.dumps(obj, protocol=3), True)
    assert engine.validate() == _torch_error(fill)


def test_graph_is_a_copy():
    engine, _ = make({"json": ""})
    engine.save_source_string("m", "import json\n", False, True)
    graph = engine.graph()
    graph.add_edge("json", "extra")
    assert graph.nodes() == ["m", "json", "extra"]
    assert engine.graph().nodes() == ["m", "json"]
    assert engine.graph().edges() == [("m", "json")]


def test_hook_may_add_modules_during_finish(tmp_path):
    target = tmp_path / "out.pt"
    engine, _ = make({"json": ""}, target=str(target))
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

    engine, _ = make(target=FailingTarget())
    failed = _writer_error(lambda: engine.write_record("a", b"x" * (1 << 20)))
    assert failed[0] is not AssertionError
    other = _core.ArchiveWriter(FailingTarget())
    expected = _writer_error(lambda: other.write_record("a", b"x" * (1 << 20)))
    assert failed[0] is expected[0]
    assert "disk full" in failed[1]


def test_writing_after_finish_raises_the_writers_error():
    engine, _ = make()
    engine.finish(lambda name, action: None, "3.11.7")
    failed = _writer_error(lambda: engine.write_record("a", b"x"))
    assert not issubclass(failed[0], AssertionError)
    writer = _core.ArchiveWriter(io.BytesIO())
    writer.finish()
    expected = _writer_error(lambda: writer.write_record("a", b"x"))
    assert failed == expected
