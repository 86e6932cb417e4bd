"""Cached bytecode records: written from __pycache__, used only when valid."""

import importlib
import importlib.util
import inspect
import marshal
import os
import py_compile
import sys
import traceback

import pytest

from hermetic import PackageExporter, PackageImporter
from hermetic import package_importer as package_importer_module
from hermetic._bytecode import (
    bytecode_record_name,
    cached_pyc,
    load_cached,
    write_cached_bytecode,
)

MAGIC = importlib.util.MAGIC_NUMBER
TAG = MAGIC.hex()

SOURCES = {
    "bcpkg/__init__.py": "NAME = 'package'\n",
    "bcpkg/calc.py": """\
        def triple(x):
            return 3 * x


        def fail():
            raise RuntimeError("from the package")


        class Thing:
            def describe(self):
                return "thing"
        """,
}


def _compile_pycache(path, mode=py_compile.PycInvalidationMode.TIMESTAMP):
    py_compile.compile(
        str(path),
        cfile=importlib.util.cache_from_source(str(path), optimization=""),
        doraise=True,
        invalidation_mode=mode,
    )


@pytest.fixture
def bcpkg(source_tree):
    """The imported modules bcpkg and bcpkg.calc, with pycs in __pycache__."""
    root = source_tree(SOURCES)
    for relative in SOURCES:
        _compile_pycache(root / relative)
    importlib.invalidate_caches()
    return importlib.import_module("bcpkg"), importlib.import_module("bcpkg.calc")


def _source(module):
    with open(module.__file__, "rb") as file:
        return file.read()


def _export(path, write=None):
    """An archive of bcpkg from source; write(exporter) adds records."""
    with PackageExporter(str(path)) as exporter:
        exporter.intern("bcpkg.**")
        exporter.save_module("bcpkg")
        exporter.save_module("bcpkg.calc")
        if write is not None:
            write(exporter)
    return path


def _write_both(exporter):
    for module in (sys.modules["bcpkg"], sys.modules["bcpkg.calc"]):
        is_package = hasattr(module, "__path__")
        assert write_cached_bytecode(
            exporter, module.__name__, module, _source(module), is_package
        )


def _forged_pyc(source, code_source, magic=MAGIC):
    """A pyc that claims to be `source`'s bytecode but holds code_source's,
    so a test sees whether the importer ran the record."""
    code = compile(code_source, "<forged>", "exec")
    flags = (0b11).to_bytes(4, "little")
    return magic + flags + importlib.util.source_hash(source) + marshal.dumps(code)


def _no_compile(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("compiled although cached bytecode was usable")

    monkeypatch.setattr(package_importer_module, "compile", refuse, raising=False)


def test_record_names():
    assert bytecode_record_name("a.b", False) == f".data/bytecode/{TAG}/a/b.pyc"
    assert bytecode_record_name("a.b", True) == f".data/bytecode/{TAG}/a/b/__init__.pyc"


def test_timestamp_pyc_becomes_checked_hash_pyc(bcpkg):
    _, calc = bcpkg
    source = _source(calc)
    pyc = cached_pyc(calc, source)
    with open(importlib.util.cache_from_source(calc.__file__, optimization=""), "rb") as file:
        original = file.read()
    assert pyc[:4] == MAGIC
    assert int.from_bytes(pyc[4:8], "little") == 0b11
    assert pyc[8:16] == importlib.util.source_hash(source)
    # The code is copied, not recompiled.
    assert pyc[16:] == original[16:]


def test_timestamp_pyc_is_checked_against_the_stat_taken_at_read(bcpkg):
    _, calc = bcpkg
    source = _source(calc)
    with open(calc.__file__, "rb") as file:
        stat = os.fstat(file.fileno())
    assert cached_pyc(calc, source, stat) == cached_pyc(calc, source)
    # The file changed between its pyc and the read: the stat says so even
    # if the file is later put back.
    newer = os.stat_result((*stat[:8], stat.st_mtime + 5, stat.st_ctime))
    assert cached_pyc(calc, source, newer) is None


def test_hash_based_pyc_in_pycache_is_used(bcpkg):
    _, calc = bcpkg
    _compile_pycache(calc.__file__, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    source = _source(calc)
    pyc = cached_pyc(calc, source)
    assert pyc is not None and pyc[8:16] == importlib.util.source_hash(source)
    assert cached_pyc(calc, source + b"\n") is None


def test_no_pyc_for_other_source_or_stale_or_missing_cache(bcpkg):
    _, calc = bcpkg
    source = _source(calc)
    # Same length, other bytes: the archive's source is not the file.
    assert cached_pyc(calc, source.replace(b"3 * x", b"4 * x")) is None
    # The file changed after its pyc was written.
    stat = os.stat(calc.__file__)
    os.utime(calc.__file__, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))
    assert cached_pyc(calc, source) is None
    os.remove(importlib.util.cache_from_source(calc.__file__, optimization=""))
    assert cached_pyc(calc, source) is None
    assert cached_pyc(sys, b"") is None  # built in: no file


def test_pyc_of_other_interpreter_is_not_copied(bcpkg):
    _, calc = bcpkg
    pyc_path = importlib.util.cache_from_source(calc.__file__, optimization="")
    with open(pyc_path, "rb") as file:
        data = file.read()
    with open(pyc_path, "wb") as file:
        file.write(b"\x00\x00\r\n" + data[4:])
    assert cached_pyc(calc, _source(calc)) is None


def test_second_write_of_same_module_writes_nothing(bcpkg, tmp_path):
    _, calc = bcpkg
    results = []

    def write(exporter):
        for _ in range(2):
            results.append(
                write_cached_bytecode(exporter, "bcpkg.calc", calc, _source(calc), False)
            )

    path = _export(tmp_path / "twice.pt", write)
    assert results == [True, False]
    assert PackageImporter(str(path)).import_module("bcpkg.calc").triple(3) == 9


def test_package_with_bytecode_loads_from_it_with_mangled_names(bcpkg, tmp_path, monkeypatch):
    path = _export(tmp_path / "bc.pt", _write_both)
    importer = PackageImporter(str(path))
    assert importer.zip_reader.has_record(bytecode_record_name("bcpkg", True))
    assert importer.zip_reader.has_record(bytecode_record_name("bcpkg.calc", False))
    _no_compile(monkeypatch)
    calc = importer.import_module("bcpkg.calc")
    assert importer.import_module("bcpkg").NAME == "package"
    assert calc.triple(5) == 15
    assert calc.Thing().describe() == "thing"

    assert calc.__file__ == f"{importer.id()}.bcpkg/calc.py"
    assert calc.triple.__code__.co_filename == calc.__file__
    assert calc.Thing.describe.__code__.co_filename == calc.__file__
    with pytest.raises(RuntimeError) as info:
        calc.fail()
    assert traceback.extract_tb(info.tb)[-1].filename == calc.__file__
    assert inspect.getsource(calc.triple) == "def triple(x):\n    return 3 * x\n"
    assert "class Thing" in inspect.getsource(calc.Thing)


def test_bytecode_record_is_used(bcpkg, tmp_path):
    """A record that passes the checks is run instead of the source."""
    _, calc = bcpkg

    def write(exporter):
        pyc = _forged_pyc(_source(calc), "def triple(x):\n    return 'cached'\n")
        exporter._write_record(bytecode_record_name("bcpkg.calc", False), pyc)

    path = _export(tmp_path / "forged.pt", write)
    assert PackageImporter(str(path)).import_module("bcpkg.calc").triple(1) == "cached"


@pytest.mark.parametrize(
    "case",
    ["wrong_magic", "stale", "not_hash_based", "truncated", "not_code", "bad_marshal"],
)
def test_unusable_record_falls_back_to_source(bcpkg, tmp_path, case):
    _, calc = bcpkg
    source = _source(calc)
    forged = _forged_pyc(source, "def triple(x):\n    return 'cached'\n")
    pyc = {
        "wrong_magic": _forged_pyc(source, "triple = None\n", magic=b"\x00\x00\r\n"),
        # The source changed after the bytecode was taken.
        "stale": _forged_pyc(source + b"# edited\n", "triple = None\n"),
        "not_hash_based": forged[:4] + b"\x00\x00\x00\x00" + forged[8:],
        "truncated": forged[:12],
        "not_code": forged[:16] + marshal.dumps(42),
        "bad_marshal": forged[:16] + b"\xff\xff",
    }[case]

    def write(exporter):
        exporter._write_record(bytecode_record_name("bcpkg.calc", False), pyc)

    path = _export(tmp_path / f"{case}.pt", write)
    assert PackageImporter(str(path)).import_module("bcpkg.calc").triple(2) == 6


def test_load_cached_without_record_or_under_optimize(bcpkg, tmp_path, monkeypatch):
    _, calc = bcpkg
    path = _export(tmp_path / "bc.pt", _write_both)
    reader = PackageImporter(str(path)).zip_reader
    source = _source(calc)
    assert load_cached(reader, "bcpkg.calc", False, source, "f.py") is not None
    assert load_cached(reader, "bcpkg.other", False, source, "f.py") is None
    # Only a package record exists for bcpkg, not a module one.
    assert load_cached(reader, "bcpkg", False, _source(sys.modules["bcpkg"]), "f.py") is None
    monkeypatch.setattr(sys, "flags", type("Flags", (), {"optimize": 1})())
    assert load_cached(reader, "bcpkg.calc", False, source, "f.py") is None


def test_torch_package_loads_archive_with_bytecode_records(bcpkg, tmp_path):
    pytest.importorskip("torch")
    from torch.package import PackageImporter as TorchImporter

    path = _export(tmp_path / "bc.pt", _write_both)
    importer = TorchImporter(str(path))
    assert importer.import_module("bcpkg.calc").triple(4) == 12
    assert importer.import_module("bcpkg").NAME == "package"
