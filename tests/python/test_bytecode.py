"""Bytecode records in archives: written only on request, compiled from the
archive's source, run only when the archive is trusted."""

import importlib
import importlib.util
import inspect
import marshal
import os
import py_compile
import shutil
import subprocess
import sys
import textwrap
import traceback

import pytest

from hermetic import PackageExporter, PackageImporter
from hermetic import _bytecode
from hermetic._bytecode import (
    archive_bytecode_trusted,
    bytecode_record_name,
    compile_pyc,
    load_bytecode_record,
    write_bytecode,
)
from hermetic._core import ArchiveReader
from packages.export_helpers import fixture_packages, open_package  # noqa: F401

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
    # Translated by the loader: the record is not the file's bytes.
    "bcpkg/crlf.py": "VALUE = 1\r\n",
}


def _compile_pycache(path):
    py_compile.compile(
        str(path),
        cfile=importlib.util.cache_from_source(str(path), optimization=""),
        doraise=True,
    )


@pytest.fixture
def bcpkg(source_tree):
    """The folder of the imported package bcpkg, with pycs in __pycache__."""
    root = source_tree(SOURCES)
    for relative in SOURCES:
        _compile_pycache(root / relative)
    importlib.invalidate_caches()
    for name in ("bcpkg", "bcpkg.calc", "bcpkg.crlf"):
        importlib.import_module(name)
    return root


def _source(name):
    module = sys.modules[name]
    with open(module.__file__, "rb") as file:
        return file.read()


def _export(path, write=None, **options):
    """An archive of bcpkg; write(exporter) adds records."""
    with PackageExporter(str(path), **options) as exporter:
        exporter.intern("bcpkg.**")
        for name in ("bcpkg", "bcpkg.calc", "bcpkg.crlf"):
            exporter.save_module(name)
        if write is not None:
            write(exporter)
    return path


def _records(path):
    return set(ArchiveReader(str(path)).records())


def _forged_pyc(source, code_source, magic=MAGIC):
    """A pyc whose header claims `source` but whose code is code_source's:
    tampered bytecode, so a test sees whether the importer ran it."""
    code = compile(code_source, "<forged>", "exec")
    flags = (0b11).to_bytes(4, "little")
    return magic + flags + importlib.util.source_hash(source) + marshal.dumps(code)


def _tampered(tmp_path):
    def write(exporter):
        pyc = _forged_pyc(_source("bcpkg.calc"), "def triple(x):\n    return 'hidden'\n")
        exporter._write_record(bytecode_record_name("bcpkg.calc", False), pyc)

    return _export(tmp_path / "tampered.pt", write)


def _no_compile(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("compiled although bytecode was usable")

    monkeypatch.setattr(_bytecode, "compile", refuse, raising=False)


def test_record_names():
    assert bytecode_record_name("a.b", False) == f".data/bytecode/{TAG}/a/b.pyc"
    assert bytecode_record_name("a.b", True) == f".data/bytecode/{TAG}/a/b/__init__.pyc"


def test_exports_carry_no_bytecode_by_default(bcpkg, tmp_path):
    names = _records(_export(tmp_path / "p.pt"))
    assert not any("/.data/bytecode/" in name or name.startswith(".data/bytecode/")
                   for name in names)
    assert not any(name.endswith(".pyc") for name in names)


def test_bytecode_option_compiles_every_module_read_from_a_file(bcpkg, tmp_path):
    path = _export(tmp_path / "p.pt", bytecode=True)
    reader = PackageImporter(str(path)).zip_reader
    for name, is_package, record in (
        ("bcpkg", True, "bcpkg/__init__.py"),
        ("bcpkg.calc", False, "bcpkg/calc.py"),
        ("bcpkg.crlf", False, "bcpkg/crlf.py"),
    ):
        pyc = reader.get_record(bytecode_record_name(name, is_package))
        source = reader.get_record(record)
        assert pyc[:4] == MAGIC
        assert int.from_bytes(pyc[4:8], "little") == 0b11  # checked hash-based
        assert pyc[8:16] == importlib.util.source_hash(source)
        # Compiled from the record (not copied from __pycache__, whose code
        # names this machine's path).
        code = marshal.loads(pyc[16:])
        assert code.co_filename == record
        assert code.co_consts == compile(source.replace(b"\r\n", b"\n"), record, "exec").co_consts


def test_second_write_of_same_module_writes_nothing(bcpkg, tmp_path):
    results = []

    def write(exporter):
        for _ in range(2):
            results.append(write_bytecode(exporter, "bcpkg.extra", b"X = 1\n", False))

    path = _export(tmp_path / "twice.pt", write)
    assert results == [True, False]
    assert bytecode_record_name("bcpkg.extra", False) in _records(path)


def test_source_that_does_not_compile_gets_no_record(bcpkg, tmp_path):
    results = []

    def write(exporter):
        results.append(write_bytecode(exporter, "bcpkg.broken", b"def (:\n", False))

    path = _export(tmp_path / "broken.pt", write)
    assert results == [False]
    assert bytecode_record_name("bcpkg.broken", False) not in _records(path)


def test_source_replaced_after_save_module_gets_no_bytecode(bcpkg, tmp_path):
    with PackageExporter(str(tmp_path / "p.pt"), bytecode=True) as exporter:
        exporter.intern("bcpkg.**")
        exporter.save_module("bcpkg.calc")
        exporter.save_source_string("bcpkg.calc", "def triple(x):\n    return 0\n")
    assert bytecode_record_name("bcpkg.calc", False) not in _records(tmp_path / "p.pt")
    package = PackageImporter(str(tmp_path / "p.pt"), trust_bytecode=True)
    assert package.import_module("bcpkg.calc").triple(2) == 0


def test_package_with_bytecode_loads_everywhere(open_package, bcpkg, tmp_path):
    package = open_package(_export(tmp_path / "p.pt", bytecode=True))
    assert package.import_module("bcpkg.calc").triple(2) == 6
    assert package.import_module("bcpkg.crlf").VALUE == 1
    assert package.import_module("bcpkg").NAME == "package"


_EXPORT_SCRIPT = """\
import sys
from hermetic import PackageExporter
with PackageExporter(sys.argv[1], bytecode=sys.argv[2] == "1") as exporter:
    exporter.intern("bcpkg.**")
    for name in ("bcpkg", "bcpkg.calc", "bcpkg.crlf"):
        exporter.save_module(name)
"""


@pytest.mark.parametrize("bytecode", [False, True], ids=["default", "bytecode"])
def test_export_is_the_same_bytes_with_or_without_pycache(bcpkg, tmp_path, bytecode):
    """Fresh processes, with and without __pycache__ (compiled above; then
    removed, and not written again under PYTHONDONTWRITEBYTECODE), with
    other hash seeds: the archives are byte-identical."""
    python_dir = os.path.dirname(os.path.dirname(_bytecode.__file__))

    def export(folder, **env):
        # The archive's top-level folder is named after its file.
        (tmp_path / folder).mkdir()
        target = tmp_path / folder / "p.pt"
        subprocess.run(
            [sys.executable, "-c", _EXPORT_SCRIPT, str(target), "1" if bytecode else "0"],
            check=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join((str(bcpkg), python_dir)), **env},
        )
        return target.read_bytes()

    pycache = bcpkg / "bcpkg" / "__pycache__"
    assert any(pycache.iterdir())
    with_pycache = export("with", PYTHONHASHSEED="1", PYTHONDONTWRITEBYTECODE="1")
    assert any(pycache.iterdir())
    shutil.rmtree(pycache)
    without = export("without", PYTHONHASHSEED="2", PYTHONDONTWRITEBYTECODE="1")
    assert not pycache.exists()
    assert with_pycache == without
    has_records = any(name.endswith(".pyc") for name in _records(tmp_path / "with" / "p.pt"))
    assert has_records is bytecode


def test_trust_is_the_callers_choice_or_a_trusted_signature():
    assert archive_bytecode_trusted() is False
    assert archive_bytecode_trusted(None, trust_bytecode=False) is False
    assert archive_bytecode_trusted(None, trust_bytecode=True) is True
    assert archive_bytecode_trusted("ab" * 32) is True


def test_bytecode_signed_by_a_trusted_key_runs(bcpkg, tmp_path):
    from hermetic import _manifest

    secret, public = _manifest.generate_key()
    (tmp_path / "k").write_bytes(secret)
    (tmp_path / "k.pub").write_bytes(public)
    other_secret, other_public = _manifest.generate_key()
    (tmp_path / "o.pub").write_bytes(other_public)

    def write(exporter):
        pyc = _forged_pyc(_source("bcpkg.calc"), "def triple(x):\n    return 'signed'\n")
        exporter._write_record(bytecode_record_name("bcpkg.calc", False), pyc)

    path = _export(tmp_path / "signed.pt", write, sign_with=str(tmp_path / "k"))
    # The signer vouches for every record, bytecode included.
    signed = PackageImporter(str(path), trusted_keys=[str(tmp_path / "k.pub")])
    assert signed.trusted_signer is not None
    assert signed.import_module("bcpkg.calc").triple(1) == "signed"
    # Merely verified (no trusted key), the source runs.
    assert PackageImporter(str(path), verify=True).import_module("bcpkg.calc").triple(1) == 3


def test_tampered_bytecode_runs_the_source_unless_trusted(bcpkg, tmp_path):
    """The record's header hash matches the source but its code differs:
    by default the importer runs the source; trust_bytecode=True runs the
    record."""
    path = _tampered(tmp_path)
    assert PackageImporter(str(path)).import_module("bcpkg.calc").triple(1) == 3
    trusted = PackageImporter(str(path), trust_bytecode=True)
    assert trusted.import_module("bcpkg.calc").triple(1) == "hidden"


def test_tampered_bytecode_runs_the_source_without_any_cache(bcpkg, tmp_path, monkeypatch):
    monkeypatch.setenv("HERMETIC_CACHE_DIR", "")
    path = _tampered(tmp_path)
    assert PackageImporter(str(path)).import_module("bcpkg.calc").triple(1) == 3


def test_trusted_bytecode_runs_with_mangled_names(bcpkg, tmp_path, monkeypatch):
    path = _export(tmp_path / "bc.pt", bytecode=True)
    importer = PackageImporter(str(path), trust_bytecode=True)
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


@pytest.mark.parametrize(
    "case",
    ["wrong_magic", "stale", "not_hash_based", "truncated", "not_code", "bad_marshal"],
)
def test_unusable_record_falls_back_to_source_even_when_trusted(bcpkg, tmp_path, case):
    source = _source("bcpkg.calc")
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
    trusted = PackageImporter(str(path), trust_bytecode=True)
    assert trusted.import_module("bcpkg.calc").triple(2) == 6


def test_load_bytecode_record_without_record_or_under_optimize(bcpkg, tmp_path, monkeypatch):
    path = _export(tmp_path / "bc.pt", bytecode=True)
    reader = PackageImporter(str(path)).zip_reader
    source = _source("bcpkg.calc")
    assert load_bytecode_record(reader, "bcpkg.calc", False, source, "f.py") is not None
    assert load_bytecode_record(reader, "bcpkg.other", False, source, "f.py") is None
    # Only a package record exists for bcpkg, not a module one.
    assert load_bytecode_record(reader, "bcpkg", False, _source("bcpkg"), "f.py") is None
    monkeypatch.setattr(sys, "flags", type("Flags", (), {"optimize": 1})())
    assert load_bytecode_record(reader, "bcpkg.calc", False, source, "f.py") is None


def test_compile_pyc_is_unoptimised_and_has_no_back_references():
    source = textwrap.dedent("""\
        def f(a, b):
            assert a, "checked"
            return a + b + a + b
        """).encode()
    pyc = compile_pyc(source, "m.py")
    namespace = {}
    exec(marshal.loads(pyc[16:]), namespace)
    with pytest.raises(AssertionError):
        namespace["f"](0, 1)
    # Marshal format 2 writes no reference flags (their bytes follow
    # reference counts of the exporting process).
    assert pyc[16:] == marshal.dumps(marshal.loads(pyc[16:]), 2)


def test_torch_package_loads_archive_with_bytecode_records(bcpkg, tmp_path):
    pytest.importorskip("torch")
    from torch.package import PackageImporter as TorchImporter

    importer = TorchImporter(str(_export(tmp_path / "bc.pt", bytecode=True)))
    assert importer.import_module("bcpkg.calc").triple(4) == 12
    assert importer.import_module("bcpkg").NAME == "package"
