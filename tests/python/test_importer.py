"""PackageImporter's import side on archives written by torch.package."""

import importlib.machinery
import inspect
import io
import json
import pathlib
import pickle
import sys
import traceback

import pytest

from hermetic import (
    CorruptArchiveError,
    Importer,
    ObjMismatchError,
    ObjNotFoundError,
    OrderedImporter,
    PackageImporter,
    sys_importer,
)

CODE_MODULES = {
    "mypkg": ("from .sub import helper\nVALUE = 1\n", True),
    "mypkg.sub": (
        "def helper():\n    return 42\n\n"
        "def fails():\n    raise RuntimeError('boom')\n\n"
        "class Outer:\n    class Inner:\n        pass\n",
        False,
    ),
    "mypkg.inner": ("", True),
    "mypkg.inner.deep": (
        "from .. import sub\nfrom ..sub import helper as h\nfrom . import sibling\n",
        False,
    ),
    "mypkg.inner.sibling": ("NAME = 'sibling'\n", False),
    "mypkg.star": ("from .starsrc import *\n", False),
    "mypkg.starsrc": ("__all__ = ['PUBLIC']\nPUBLIC = 1\nHIDDEN = 2\n", False),
    "uses_json": ("import json\nimport os.path\nDUMPED = json.dumps([1])\n", False),
    "uses_importer": (
        "import torch_package_importer as tpi\ndef text():\n    return tpi.load_text('res', 'a.txt')\n",
        False,
    ),
    "a.b.c": ("WHERE = 'deep'\n", False),
}


def fill_code_package(exporter):
    exporter.extern(["json", "os.path"])
    for name, (source, is_package) in CODE_MODULES.items():
        exporter.save_source_string(name, source, is_package=is_package)
    exporter.save_text("res", "a.txt", "hello")


@pytest.fixture
def code_archive(torch_export):
    return torch_export(fill_code_package)


@pytest.fixture
def importer(code_archive):
    return PackageImporter(code_archive)


# --------------------------------------------------------------------------
# Construction


def test_accepts_str_pathlib_bytes_and_file_objects(code_archive):
    assert PackageImporter(str(code_archive)).filename == str(code_archive)
    assert PackageImporter(pathlib.Path(code_archive)).filename == str(code_archive)
    data = code_archive.read_bytes()
    assert PackageImporter(data).filename == "<binary>"
    stream = io.BytesIO(data)
    stream.seek(10)  # the whole stream is the archive, wherever it stands
    from_stream = PackageImporter(stream)
    assert from_stream.filename == "<binary>"
    assert from_stream.import_module("mypkg").VALUE == 1


@pytest.mark.parametrize("bad", [42, None, object(), ["a.pt"]])
def test_other_arguments_raise_type_error(bad):
    with pytest.raises(TypeError, match="PackageImporter expects a path"):
        PackageImporter(bad)


def test_text_stream_raises_type_error():
    with pytest.raises(TypeError, match="binary file object"):
        PackageImporter(io.StringIO("not a zip"))


def test_damaged_archive_raises_corrupt_error_and_mutates_nothing(code_archive, tmp_path):
    before = PackageImporter(code_archive).id()
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(code_archive.read_bytes()[:-30])
    with pytest.raises(CorruptArchiveError):
        PackageImporter(damaged)
    with pytest.raises(CorruptArchiveError):
        PackageImporter(b"PK\x03\x04 this is not a zip archive at all")
    after = PackageImporter(code_archive).id()
    # The failed constructions took no mangle index.
    assert int(after[len("<torch_package_"):-1]) == int(before[len("<torch_package_"):-1]) + 1


def test_archive_without_extern_list_is_refused(zip_archive):
    path = zip_archive("plain", {".data/version": "6\n", "m.py": "X = 1\n"})
    with pytest.raises(CorruptArchiveError, match=r"plain\.pt.*\.data/extern_modules"):
        PackageImporter(path)


def test_hand_made_archive_without_python_version(zip_archive):
    path = zip_archive("hand", {".data/extern_modules": "\n", "m.py": "X = 1\n"})
    importer = PackageImporter(path)
    assert importer.python_version() is None
    assert importer.extern_modules == []  # the blank line of "no externs" is no name
    assert importer.import_module("m").X == 1


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        PackageImporter(tmp_path / "absent.pt")


def test_module_allowed_refuses_externs_with_torch_text(code_archive):
    asked = []

    def allowed(name):
        asked.append(name)
        return name != "json"

    with pytest.raises(ImportError) as info:
        PackageImporter(str(code_archive), module_allowed=allowed)
    assert str(info.value) == (
        f"package '{code_archive}' needs the external module 'json' but that module has been disallowed"
    )
    assert asked == ["json"]


def test_attributes(importer, code_archive):
    assert importer.extern_modules == ["json", "os.path"]
    assert importer.modules["torch_package_importer"] is importer
    assert importer.patched_builtins["__import__"] == importer.__import__
    assert importer.patched_builtins["len"] is len
    assert importer.storage_context is None and importer.last_map_location is None
    assert importer.id().startswith("<torch_package_")
    import platform

    assert importer.python_version() == platform.python_version()


def test_zip_reader_adapter(importer):
    reader = importer.zip_reader
    records = reader.get_all_records()
    assert "mypkg/sub.py" in records and ".data/extern_modules" in records
    assert reader.has_record("res/a.txt") and not reader.has_record("res/b.txt")
    assert reader.get_record("res/a.txt") == b"hello"
    assert reader.get_record(".data/extern_modules") == b"json\nos.path\n"


def test_two_importers_are_independent(code_archive):
    first, second = PackageImporter(code_archive), PackageImporter(code_archive)
    assert first.id() != second.id()
    outer1 = first.import_module("mypkg.sub").Outer
    outer2 = second.import_module("mypkg.sub").Outer
    assert outer1 is not outer2
    assert outer1.__module__ == f"{first.id()}.mypkg.sub"
    assert outer2.__module__ == f"{second.id()}.mypkg.sub"


# --------------------------------------------------------------------------
# Module objects


def test_module_attributes(importer):
    sys_modules_before = set(sys.modules)
    sub = importer.import_module("mypkg.sub")
    prefix = importer.id()
    assert sub.__name__ == f"{prefix}.mypkg.sub"
    assert sub.__file__ == f"{prefix}.mypkg/sub.py"
    assert sub.__package__ == "mypkg"
    assert sub.__loader__ is importer
    assert sub.__cached__ is None
    assert sub.__torch_package__ is True
    assert sub.__builtins__ is importer.patched_builtins
    assert not hasattr(sub, "__path__")
    spec = sub.__spec__
    assert isinstance(spec, importlib.machinery.ModuleSpec)
    assert (spec.name, spec.origin, spec.loader) == ("mypkg.sub", "<package_importer>", importer)
    assert spec.submodule_search_locations is None

    package = importer.import_module("mypkg")
    assert package.__path__ == []
    assert package.__file__ == f"{prefix}.mypkg/__init__.py"
    assert package.__spec__.submodule_search_locations == []
    assert package.sub is sub  # installed on the parent
    assert importer.modules["mypkg.sub"] is sub
    # Registered under the mangled names only (no real module can have
    # them), until the importer is closed.
    assert set(sys.modules) - sys_modules_before == {f"{prefix}.mypkg", f"{prefix}.mypkg.sub"}
    assert sys.modules[f"{prefix}.mypkg.sub"] is sub
    importer.close()
    assert not {name for name in sys.modules if name.startswith(prefix)}


def test_import_module_accepts_own_mangled_names_only(importer, code_archive):
    sub = importer.import_module("mypkg.sub")
    assert importer.import_module(sub.__name__) is sub
    other = PackageImporter(code_archive)
    with pytest.raises(ModuleNotFoundError):
        other.import_module(sub.__name__)


def test_placeholder_parents(importer):
    c = importer.import_module("a.b.c")
    a = importer.modules["a"]
    assert c.WHERE == "deep"
    assert a.__file__ is None and a.__path__ == []
    assert a.b.c is c


def test_relative_imports(importer):
    deep = importer.import_module("mypkg.inner.deep")
    assert deep.sub is importer.import_module("mypkg.sub")
    assert deep.h() == 42
    assert deep.sibling.NAME == "sibling"


def test_star_import_uses_all(importer):
    star = importer.import_module("mypkg.star")
    assert star.PUBLIC == 1
    assert not hasattr(star, "HIDDEN")


def test_externs_come_from_the_environment(importer):
    uses_json = importer.import_module("uses_json")
    assert uses_json.json is json
    assert uses_json.DUMPED == "[1]"
    assert importer.modules["json"] is json


def test_os_path_alias_is_registered(torch_export):
    path = torch_export(_two_modules("import os\nimport os.path\nSEP = os.path.sep\n"))
    imp = PackageImporter(path)
    assert imp.import_module("m").SEP == "/"
    imp.import_module("os")
    import os

    assert imp.modules["os.path"] is os.path


def _two_modules(source):
    def fill(exporter):
        exporter.extern(["os", "os.path"])
        exporter.save_source_string("m", source)

    return fill


def test_packaged_code_reaches_its_importer(importer):
    assert importer.import_module("uses_importer").text() == "hello"


def test_missing_module_text(importer, code_archive):
    with pytest.raises(ModuleNotFoundError) as info:
        importer.import_module("nope")
    assert str(info.value) == (
        f'No module named "nope" in self-contained archive "{code_archive}" '
        "and the module is also not in the list of allowed external modules: ['json', 'os.path']"
    )
    assert info.value.name == "nope"


def test_packaged_code_cannot_import_unlisted_stdlib(torch_export):
    path = torch_export(lambda e: e.save_source_string("m", "import csv\n", dependencies=False))
    with pytest.raises(ModuleNotFoundError, match='No module named "csv" in self-contained archive'):
        PackageImporter(path).import_module("m")


def test_implicit_allowlist(torch_export):
    path = torch_export(lambda e: e.save_source_string("m", "import builtins\nB = builtins\n", dependencies=False))
    import builtins

    assert PackageImporter(path).import_module("m").B is builtins


def test_submodule_of_plain_module_text(importer):
    with pytest.raises(ModuleNotFoundError) as info:
        importer.import_module("mypkg.sub.x")
    assert str(info.value) == "No module named 'mypkg.sub.x'; 'mypkg.sub' is not a package"


def test_import_sanity_checks(importer):
    with pytest.raises(ValueError, match="Empty module name"):
        importer.import_module("")
    with pytest.raises(TypeError, match="module name must be str, not <class 'int'>"):
        importer.import_module(3)
    with pytest.raises(ValueError, match="level must be >= 0"):
        importer.__import__("mypkg", level=-1)
    with pytest.raises(ImportError, match="attempted relative import with no known parent package"):
        importer.__import__("x", {"__package__": ""}, level=1)
    with pytest.raises(ValueError, match="attempted relative import beyond top-level package"):
        importer.__import__("x", {"__package__": "mypkg"}, level=3)
    importer.modules["halted"] = None
    with pytest.raises(ModuleNotFoundError, match="import of halted halted; None in sys.modules"):
        importer.import_module("halted")


def test_dunder_import_return_values(importer):
    top = importer.__import__("mypkg.inner.sibling")
    assert top is importer.import_module("mypkg")
    assert top.inner.sibling.NAME == "sibling"
    assert importer.__import__("mypkg", fromlist=["inner"]).inner is importer.modules["mypkg.inner"]
    # A fromlist name that is neither attribute nor submodule is left to
    # IMPORT_FROM to report.
    assert importer.__import__("mypkg", fromlist=["missing"]) is top
    package_globals = vars(importer.import_module("mypkg.inner"))
    assert importer.__import__("sibling", package_globals, None, (), 1) is importer.modules["mypkg.inner.sibling"]
    assert importer.__import__("", package_globals, None, ("deep",), 1) is importer.modules["mypkg.inner"]
    # Relative without fromlist: the module named by the first part of name.
    assert importer.__import__("inner.sibling", vars(top), None, (), 1) is importer.modules["mypkg.inner"]
    with pytest.raises(TypeError, match=r"Item in ``from list'' must be str, not int"):
        importer.__import__("mypkg", fromlist=[1])


def test_repeated_relative_imports_follow_the_callers_package(importer):
    inner = vars(importer.import_module("mypkg.inner"))
    top = vars(importer.import_module("mypkg"))
    for _ in range(2):  # the second round answers from resolved names
        assert importer.__import__("", inner, None, ("sibling",), 1) is importer.modules["mypkg.inner"]
        assert importer.__import__("sub", top, None, ("helper",), 1) is importer.modules["mypkg.sub"]
        assert importer.__import__("sub", inner, None, ("helper",), 2) is importer.modules["mypkg.sub"]
    # A module that rebinds __package__ away from its spec still gets
    # calc_package's warning, and the package it names.
    rebound = dict(inner, __package__="mypkg")
    with pytest.warns(ImportWarning, match="__package__ != __spec__.parent"):
        assert importer.__import__("sub", rebound, None, ("helper",), 1) is importer.modules["mypkg.sub"]
    with pytest.raises(TypeError, match="__package__ not set to a string"):
        importer.__import__("sub", dict(inner, __package__=["x"]), None, ("helper",), 1)


def test_package_from_name_warns_without_spec(importer):
    importer.import_module("mypkg.inner")
    with pytest.warns(ImportWarning, match="can't resolve package"):
        module = importer.__import__("sibling", {"__name__": "mypkg.inner", "__path__": []}, None, (), 1)
    assert module.NAME == "sibling"


def test_failed_module_is_not_kept(torch_export):
    path = torch_export(
        lambda e: e.save_source_string("pkg", "", is_package=True)
        or e.save_source_string("pkg.bad", "COUNT = 1\nraise ValueError('bad module')\n")
    )
    imp = PackageImporter(path)
    for _ in range(2):  # the second attempt runs the code again
        with pytest.raises(ValueError, match="bad module"):
            imp.import_module("pkg.bad")
        assert "pkg.bad" not in imp.modules
        assert not hasattr(imp.modules["pkg"], "bad")


def test_crlf_sources_are_normalised(torch_export):
    path = torch_export(lambda e: e.save_source_string("m", 'TEXT = """a\r\nb"""\r\nX = 1\r\n'))
    module = PackageImporter(path).import_module("m")
    assert module.TEXT == "a\nb" and module.X == 1


def test_tracebacks_and_inspect_show_packaged_source(importer):
    sub = importer.import_module("mypkg.sub")
    with pytest.raises(RuntimeError) as info:
        sub.fails()
    rendered = "".join(traceback.format_exception(info.value))
    assert f'File "{importer.id()}.mypkg/sub.py", line 5, in fails' in rendered
    assert "raise RuntimeError('boom')" in rendered
    assert inspect.getsource(sub.helper) == "def helper():\n    return 42\n"
    assert inspect.getfile(sub.Outer) == f"{importer.id()}.mypkg/sub.py"
    assert inspect.getsource(sub.Outer).startswith("class Outer:")
    assert importer.get_source(sub.__name__) == CODE_MODULES["mypkg.sub"][0]


def test_mocked_modules(torch_export, source_tree):
    source_tree({"mocked_thing/__init__.py": "anything = 1\n"})

    def fill(exporter):
        exporter.mock("mocked_thing")
        exporter.save_source_string(
            "m", "import mocked_thing\nTHING = mocked_thing.anything\n"
        )

    imp = PackageImporter(torch_export(fill))
    thing = imp.import_module("m").THING
    assert repr(thing) == f"MockedObject({imp.id()}.mocked_thing.anything)"
    with pytest.raises(NotImplementedError, match="was mocked out during packaging"):
        thing()
    mocked = imp.import_module("mocked_thing")
    assert repr(mocked.other) == f"MockedObject({imp.id()}.mocked_thing.other)"


def test_inconsistent_tree_errors(zip_archive):
    with pytest.raises(ImportError, match="module m is not a package, but has submodules"):
        PackageImporter(zip_archive("a", {".data/extern_modules": "\n", "m.py": "", "m/x.py": ""}))
    with pytest.raises(
        ImportError,
        match="package contains a module file json/x.py that is a subpackage of a module marked external",
    ):
        PackageImporter(zip_archive("b", {".data/extern_modules": "json\n", "json/x.py": ""}))


def test_c_extension_parent_errors(zip_archive):
    import _csv

    assert isinstance(_csv.__loader__, importlib.machinery.ExtensionFileLoader)
    importer = PackageImporter(zip_archive("c", {".data/extern_modules": "_csv\n_csv.writer\n"}))
    with pytest.raises(ModuleNotFoundError) as info:
        importer.import_module("_csv.nothing")
    assert str(info.value).startswith(
        "No module named '_csv.nothing'; '_csv.nothing' is a c extension module which was not externed."
    )
    with pytest.raises(ModuleNotFoundError) as info:
        importer.import_module("_csv.writer")
    assert str(info.value) == (
        "No module named '_csv.writer'; '_csv' is a c extension package which does not contain '_csv.writer'."
    )


def test_out_of_band_buffers_reach_the_unpickler(zip_archive):
    payload = b"out of band bytes"
    buffers = []
    data = pickle.dumps(pickle.PickleBuffer(payload), protocol=5, buffer_callback=buffers.append)
    path = zip_archive(
        "oob",
        {".data/extern_modules": "builtins\n", "res/p5.pkl": data, "res/p5.pkl.oob/0": bytes(buffers[0].raw())},
    )
    # Without the buffers, a pickle of out-of-band data does not load at all.
    assert bytes(PackageImporter(path).load_pickle("res", "p5.pkl")) == payload


def test_code_only_packages_never_import_torch(torch_export, pickle_classes, tmp_path):
    import subprocess

    obj = pickle_classes.Point(3, 4)
    path = torch_export(lambda e: e.intern("h4objs.**") or e.save_pickle("res", "p.pkl", obj))
    script = (
        "import sys\n"
        "from hermetic import PackageImporter\n"
        f"point = PackageImporter({str(path)!r}).load_pickle('res', 'p.pkl')\n"
        "assert (point.x, point.y) == (3, 4)\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": ":".join(p for p in sys.path if p)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_numpy_compat_names_on_extern(torch_export):
    np = pytest.importorskip("numpy")

    def fill(exporter):
        exporter.extern("numpy")
        exporter.save_source_string("m", "import numpy\n")

    importer = PackageImporter(torch_export(fill))
    numpy = importer.import_module("numpy")
    assert numpy is np
    assert numpy.str is str  # removed from numpy 2; old pickles name it


# --------------------------------------------------------------------------
# Pickles


@pytest.fixture
def pickle_classes(source_tree):
    source_tree(
        {
            "h4objs/__init__.py": "",
            "h4objs/model.py": """
                class Point:
                    def __init__(self, x, y):
                        self.x, self.y = x, y

                    def __eq__(self, other):
                        return (self.x, self.y) == (other.x, other.y)

                class Outer:
                    class Inner:
                        def __init__(self, value):
                            self.value = value

                class Token:
                    made = 0

                    def __reduce_package__(self, exporter):
                        return (load_token, ("payload",))

                def load_token(importer, payload):
                    Token.made += 1
                    return (importer.id(), payload, Token.made)
                """,
        }
    )
    import h4objs.model

    return h4objs.model


@pytest.mark.parametrize("protocol", [3, 4])
def test_pickles_of_packaged_classes(torch_export, pickle_classes, protocol):
    m = pickle_classes
    obj = {"p": m.Point(1, 2), "n": m.Outer.Inner(7), "list": [1, "two", 3.0]}
    path = torch_export(
        lambda e: e.intern("h4objs.**") or e.save_pickle("res", "obj.pkl", obj, pickle_protocol=protocol)
    )
    imp = PackageImporter(path)
    loaded = imp.load_pickle("res", "obj.pkl")
    point_cls = imp.import_module("h4objs.model").Point
    assert type(loaded["p"]) is point_cls and point_cls is not m.Point
    assert (loaded["p"].x, loaded["p"].y) == (1, 2)
    assert type(loaded["n"]).__qualname__ == "Outer.Inner"
    assert type(loaded["n"]).__module__ == f"{imp.id()}.h4objs.model"
    assert loaded["n"].value == 7 and loaded["list"] == [1, "two", 3.0]
    assert "h4objs" not in {name.split(".")[0] for name in sys.modules if name.startswith("<")}


def test_reduce_package_memoised_per_load(torch_export, pickle_classes):
    token = pickle_classes.Token()
    path = torch_export(lambda e: e.intern("h4objs.**") or e.save_pickle("res", "t.pkl", [token, token]))
    imp = PackageImporter(path)
    first = imp.load_pickle("res", "t.pkl")
    assert first[0] is first[1]
    assert first[0][:2] == (imp.id(), "payload")
    second = imp.load_pickle("res", "t.pkl")
    assert second[0][2] == first[0][2] + 1  # a new load calls the loader again


def _pickle_with_ids(obj, ids, protocol=3):
    class Pickler(pickle.Pickler):
        def persistent_id(self, candidate):
            return ids.get(id(candidate))

    stream = io.BytesIO()
    Pickler(stream, protocol=protocol).dump(obj)
    return stream.getvalue()


def test_legacy_reduce_package_is_not_memoised(torch_export, pickle_classes):
    marker = object()
    data = _pickle_with_ids([marker, marker], {id(marker): ("reduce_package", pickle_classes.load_token, ("x",))})
    path = torch_export(lambda e: _save_legacy(e, data))
    imp = PackageImporter(path)
    loaded = imp.load_pickle("res", "legacy.pkl")
    assert loaded[0][1] == "x" and loaded[0][2] != loaded[1][2]


def _save_legacy(exporter, data):
    exporter.save_module("h4objs.model")
    exporter.save_module("h4objs")
    exporter.save_binary("res", "legacy.pkl", data)


def test_unknown_persistent_id_raises(torch_export):
    marker = object()
    data = _pickle_with_ids([marker], {id(marker): ("weird", 1)})
    imp = PackageImporter(torch_export(lambda e: e.save_binary("res", "w.pkl", data)))
    with pytest.raises(pickle.UnpicklingError, match="expected 'storage' or 'reduce_package' but got 'weird'"):
        imp.load_pickle("res", "w.pkl")


def test_pickle_needing_missing_module_names_module_and_record(torch_export, pickle_classes):
    obj = pickle_classes.Point(1, 2)
    imp = PackageImporter(torch_export(lambda e: e.save_pickle("res", "p.pkl", obj, dependencies=False)))
    with pytest.raises(ModuleNotFoundError) as info:
        imp.load_pickle("res", "p.pkl")
    assert 'No module named "h4objs"' in str(info.value)
    assert "res/p.pkl" in str(info.value) and "h4objs.model.Point" in str(info.value)


def test_protocol_2_python2_names_are_mapped(torch_export):
    # Python 2's module name of builtins; protocol 2 pickles may carry it.
    data = b"\x80\x02c__builtin__\nset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03."
    imp = PackageImporter(torch_export(lambda e: e.extern("builtins") or e.save_binary("res", "p2.pkl", data)))
    assert imp.load_pickle("res", "p2.pkl") == {1}


def test_load_pickle_sets_context_only_while_loading(torch_export, pickle_classes):
    seen = []
    pickle_classes.load_token.__globals__["Token"].made = 0

    token = pickle_classes.Token()
    path = torch_export(lambda e: e.intern("h4objs.**") or e.save_pickle("res", "t.pkl", token))
    imp = PackageImporter(path)
    loader = imp.import_module("h4objs.model")
    original = loader.load_token

    def spy(importer, payload):
        seen.append((importer.storage_context, importer.last_map_location))
        return original(importer, payload)

    loader.load_token = spy
    imp.load_pickle("res", "t.pkl", map_location="cpu")
    assert seen == [({}, "cpu")]
    assert imp.storage_context is None and imp.last_map_location is None


def test_load_pickle_rejects_plain_module_and_paths(importer):
    with pytest.raises(TypeError, match="'mypkg.sub' is not a package"):
        importer.load_text("mypkg.sub", "x")
    with pytest.raises(ValueError, match="'sub/a.txt' must be only a file name"):
        importer.load_text("res", "sub/a.txt")


# --------------------------------------------------------------------------
# Directory tree


def test_file_structure_matches_torch(code_archive):
    from torch.package import PackageImporter as TorchImporter

    ours, theirs = PackageImporter(str(code_archive)), TorchImporter(str(code_archive))
    for kwargs in ({}, {"include": "mypkg/**"}, {"include": ["**"], "exclude": [".data/**", "a/**"]}):
        assert str(ours.file_structure(**kwargs)) == str(theirs.file_structure(**kwargs))


def test_file_structure_text(torch_export):
    def fill(exporter):
        exporter.save_source_string("pkg.sub.mod", "")
        exporter.save_text("pkg", "note.txt", "n")
        exporter.save_text("res", "r.txt", "r")

    path = torch_export(fill, name="tree.pt")
    tree = PackageImporter(str(path)).file_structure(include=["pkg/**", "res/**"])
    assert str(tree) == (
        f"\u2500\u2500\u2500 {path}\n"
        "    \u251c\u2500\u2500 pkg\n"
        "    \u2502   \u251c\u2500\u2500 sub\n"
        "    \u2502   \u2502   \u2514\u2500\u2500 mod.py\n"
        "    \u2502   \u2514\u2500\u2500 note.txt\n"
        "    \u2514\u2500\u2500 res\n"
        "        \u2514\u2500\u2500 r.txt\n"
    )
    assert tree.has_file("pkg/sub/mod.py") and tree.has_file("pkg/sub")
    assert not tree.has_file("pkg/other.py")


# --------------------------------------------------------------------------
# Importer, sys_importer, OrderedImporter


class _Nested:
    class Inner:
        pass


class _ByName:
    def __reduce__(self):
        return "BY_NAME"


BY_NAME = _ByName()


def test_sys_importer_names_objects():
    assert sys_importer.import_module("json") is json
    assert sys_importer.get_name(json.dumps) == ("json", "dumps")
    assert sys_importer.get_name(_Nested.Inner) == (__name__, "_Nested.Inner")
    assert sys_importer.get_name(BY_NAME) == (__name__, "BY_NAME")
    assert sys_importer.get_name(json.dumps, name="dumps") == ("json", "dumps")


def test_obj_not_found_text():
    def stray():
        pass

    stray.__module__, stray.__qualname__ = "json", "not_there"
    with pytest.raises(ObjNotFoundError) as info:
        sys_importer.get_name(stray)
    assert str(info.value) == f"{stray} was not found as json.not_there"
    with pytest.raises(ObjNotFoundError):
        sys_importer.get_name(lambda: None)  # <locals> / <lambda> are not importable


def test_obj_mismatch_text(torch_export, pickle_classes):
    imp = PackageImporter(torch_export(lambda e: e.save_module("h4objs.model")))
    packaged = imp.import_module("h4objs.model").Point
    assert imp.get_name(packaged) == ("h4objs.model", "Point")
    with pytest.raises(ObjMismatchError) as info:
        sys_importer.get_name(packaged)
    prefix = imp.id()
    assert str(info.value) == (
        f"\n\nThe object provided is from '{prefix}.h4objs.model', which is coming from {prefix}."
        "\nHowever, when we import 'h4objs.model', it's coming from the current Python environment."
        "\nTo fix this, make sure this 'PackageExporter's importer lists "
        f"the importer for {prefix} before 'sys_importer'."
    )


def test_whichmodule_searches_own_modules(torch_export):
    imp = PackageImporter(torch_export(lambda e: e.save_source_string("m", "SENTINEL = object()\n")))
    sentinel = imp.import_module("m").SENTINEL
    assert imp.whichmodule(sentinel, "SENTINEL") == "m"
    assert imp.whichmodule(object(), "SENTINEL_ELSEWHERE") == "__main__"


def test_ordered_importer(torch_export, source_tree):
    source_tree({"h4ph/__init__.py": "REAL = True\n", "h4ph/sub/mod.py": "X = 1\n"})
    imp = PackageImporter(torch_export(lambda e: e.save_module("h4ph.sub.mod")))
    ordered = OrderedImporter(imp, sys_importer)
    # The package's h4ph is an empty placeholder: the real one wins.
    assert ordered.import_module("h4ph").REAL is True
    assert ordered.import_module("h4ph.sub.mod") is imp.modules["h4ph.sub.mod"]
    with pytest.raises(ModuleNotFoundError, match="No module named 'h4_absent'"):
        ordered.import_module("h4_absent")
    with pytest.raises(ModuleNotFoundError, match="^h4ph$"):
        OrderedImporter(imp).import_module("h4ph")
    with pytest.raises(TypeError, match="is not a Importer. All importers in OrderedImporter must inherit"):
        OrderedImporter(object()).import_module("json")

    packaged = imp.modules["h4ph.sub.mod"]
    assert ordered.whichmodule(json.dumps, "dumps") == "json"
    assert ordered.get_name(json.dumps) == ("json", "dumps")
    assert OrderedImporter(sys_importer).whichmodule(object(), "x") == "__main__"
    with pytest.raises(ObjNotFoundError, match="Could not find obj .* and name None in any of the importers"):
        OrderedImporter(imp).get_name(json.dumps)
    assert packaged.X == 1


def test_importer_is_abstract():
    with pytest.raises(TypeError):
        Importer()


def test_relative_names_resolve_with_the_scanners_rule():
    from hermetic import _core
    from hermetic._importlib import resolve_name

    assert resolve_name is _core.resolve_name
    assert resolve_name("m", "a.b.c", 1) == "a.b.c.m"
    assert resolve_name("m", "a.b.c", 3) == "a.m"
    assert resolve_name("", "a.b", 2) == "a"
    with pytest.raises(ValueError, match="^attempted relative import beyond top-level package$"):
        resolve_name("m", "a.b", 3)
