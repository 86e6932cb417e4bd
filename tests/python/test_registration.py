"""Packaged modules as citizens of the interpreter: while a PackageImporter
is open its modules are in sys.modules under their mangled names, so
dataclasses, typing, pickling by reference, enum, singledispatch and
tracebacks work on packaged code; close() and `with` remove them; the
loader's get_source never runs module code."""

import io
import pickle
import sys
import traceback
import typing

import pytest

from hermetic import PackageExporter, PackageImporter

DATACLASSES = '''\
from __future__ import annotations

import dataclasses
import enum
import functools


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Config:
    name: str
    layers: list[int] = dataclasses.field(default_factory=list)
    color: Color = Color.RED


def scale(config: Config, factor: int) -> Config:
    return Config(config.name, [n * factor for n in config.layers], config.color)


@functools.singledispatch
def describe(value) -> str:
    return "thing"


@describe.register
def _(value: Config) -> str:
    return f"config {value.name}"
'''


def _package(tmp_path, sources, packages=()):
    path = tmp_path / "p.pt"
    with PackageExporter(str(path)) as exporter:
        for name, source in sources.items():
            exporter.save_source_string(name, source, is_package=name in packages)
    return path


def _registered(prefix):
    return {name for name in sys.modules if name == prefix or name.startswith(prefix + ".")}


def test_dataclasses_with_string_annotations_enum_and_singledispatch(tmp_path):
    with PackageImporter(str(_package(tmp_path, {"lib": DATACLASSES}))) as importer:
        lib = importer.import_module("lib")
        config = lib.Config("a", [1, 2])
        assert lib.scale(config, 3) == lib.Config("a", [3, 6])
        assert lib.describe(config) == "config a"
        hints = typing.get_type_hints(lib.scale)
        assert hints == {"config": lib.Config, "factor": int, "return": lib.Config}
        assert [field.name for field in lib.dataclasses.fields(lib.Config)] == [
            "name", "layers", "color"]


def test_packaged_objects_pickle_by_reference_while_open(tmp_path):
    with PackageImporter(str(_package(tmp_path, {"lib": DATACLASSES}))) as importer:
        lib = importer.import_module("lib")
        value = {"config": lib.Config("b", [4]), "color": lib.Color.BLUE}
        data = pickle.dumps(value)
        assert importer.id().encode() in data
        copy = pickle.loads(data)
        assert copy == value and copy["color"] is lib.Color.BLUE
    with pytest.raises((ModuleNotFoundError, pickle.UnpicklingError, AttributeError)):
        pickle.loads(data)


def test_close_removes_exactly_what_the_importer_registered(tmp_path):
    path = _package(tmp_path, {"lib": DATACLASSES, "pkg.sub": "X = 1\n"})
    importer = PackageImporter(str(path))
    prefix = importer.id()
    importer.import_module("pkg.sub")
    other = PackageImporter(str(path))
    other.import_module("pkg.sub")
    assert _registered(prefix) == {prefix, f"{prefix}.pkg", f"{prefix}.pkg.sub"}
    importer.close()
    assert _registered(prefix) == set()
    # Another importer of the same archive keeps its own names.
    assert f"{other.id()}.pkg.sub" in sys.modules
    # What was loaded keeps working.
    assert importer.modules["pkg.sub"].X == 1
    other.close()
    importer.close()  # twice is harmless


def test_a_module_whose_code_fails_is_not_registered(tmp_path):
    path = _package(tmp_path, {"bad": "raise RuntimeError('boom')\n"})
    with PackageImporter(str(path)) as importer:
        with pytest.raises(RuntimeError, match="boom"):
            importer.import_module("bad")
        assert f"{importer.id()}.bad" not in sys.modules


def test_a_traceback_of_failing_packaged_code_shows_its_line_and_never_reruns_it(tmp_path):
    source = ("import builtins\n"
              "builtins.hermetic_test_runs = getattr(builtins, 'hermetic_test_runs', 0) + 1\n"
              "def helper():\n"
              "    raise ValueError('inside the package')\n"
              "helper()\n")
    path = _package(tmp_path, {"failing": source})
    import builtins

    builtins.hermetic_test_runs = 0
    try:
        with PackageImporter(str(path)) as importer:
            with pytest.raises(ValueError) as info:
                importer.import_module("failing")
            text = "".join(traceback.format_exception(info.value))
            stream = io.StringIO()
            traceback.print_exception(info.value, file=stream)
    finally:
        runs = builtins.hermetic_test_runs
        del builtins.hermetic_test_runs
    assert runs == 1
    assert "raise ValueError('inside the package')" in text
    assert "failing.py" in text
    assert stream.getvalue() == text


def test_get_source_and_resource_reader_import_nothing(tmp_path):
    path = _package(tmp_path, {"pkg": "import builtins\nbuiltins.hermetic_imported = True\n"},
                    packages={"pkg"})
    import builtins

    with PackageImporter(str(path)) as importer:
        assert importer.get_source(f"{importer.id()}.pkg").startswith("import builtins")
        assert importer.get_source("pkg").startswith("import builtins")
        assert importer.get_source("missing") is None
        assert importer.get_resource_reader("pkg") is not None
        assert importer.get_resource_reader("missing") is None
        assert "pkg" not in importer.modules
    assert not hasattr(builtins, "hermetic_imported")


def test_mangled_names_never_reach_a_re_export(tmp_path):
    with PackageImporter(str(_package(tmp_path, {"lib": DATACLASSES}))) as importer:
        config = importer.import_module("lib").Config("c")
        out = tmp_path / "again.pt"
        # sys_importer alone cannot name the packaged class...
        with pytest.raises(pickle.PicklingError):
            with PackageExporter(io.BytesIO()) as exporter:
                exporter.save_pickle("res", "c.pkl", config)
        # ...with the importer first, the archive has demangled names only.
        from hermetic import OrderedImporter, sys_importer

        with PackageExporter(str(out), importer=OrderedImporter(importer, sys_importer)) as exporter:
            exporter.intern("lib")
            exporter.save_pickle("res", "c.pkl", config)
    assert b"torch_package" not in out.read_bytes()
    with PackageImporter(str(out)) as again:
        assert again.load_pickle("res", "c.pkl").name == "c"


SELF_IMPORTING = {
    "selfimport": "import importlib\n\nhelpers = importlib.import_module('selfimport.helpers')\n",
    "selfimport.helpers": "VALUE = 42\n",
}


def _self_importing(tmp_path):
    return _package(tmp_path, SELF_IMPORTING, packages={"selfimport"})


def test_a_library_importing_itself_by_name_needs_expose(tmp_path):
    path = _self_importing(tmp_path)
    with PackageImporter(str(path)) as importer:
        with pytest.raises(ModuleNotFoundError):
            importer.import_module("selfimport")
    with PackageImporter(str(path), expose="selfimport") as importer:
        lib = importer.import_module("selfimport")
        assert lib.helpers.VALUE == 42
        assert lib.helpers is importer.import_module("selfimport.helpers")
        assert sys.modules["selfimport"] is lib
        import selfimport  # the host's import system sees the packaged one

        assert selfimport is lib
        with pytest.raises(ImportError, match="already has a module of that name"):
            PackageImporter(str(path), expose="selfimport")
    assert "selfimport" not in sys.modules and "selfimport.helpers" not in sys.modules


def test_expose_refuses_a_name_the_host_has(tmp_path):
    path = _package(tmp_path, {"json": "X = 1\n"})
    with pytest.raises(ImportError, match="cannot expose package 'json'"):
        PackageImporter(str(path), expose=["json"])
    assert "json" in sys.modules and not getattr(sys.modules["json"], "__torch_package__", False)
