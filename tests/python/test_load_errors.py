"""Every public loading entry point, fed hostile input, raises a HermeticError
subclass whose text names the archive and (for a record) the record, never
a bare builtin, a binding RuntimeError or a signal.

Families: "names" (record names and paths that are not text, NULs),
"load errors" (undecodable records, missing records, non-archives, memory),
"files changing under the reader" (run in subprocesses, so that a crash
fails the test instead of killing pytest).
"""

import gc
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest

import hermetic
from hermetic import PackageExporter, PackageImporter, _core
from hermetic.errors import (
    CorruptArchiveError,
    HermeticError,
    HermeticIOError,
    NotFoundError,
    ResourceLimitError,
)

PYTHON_DIR = os.path.dirname(os.path.dirname(hermetic.__file__))


def _build(path, fill=None):
    with PackageExporter(str(path)) as exporter:
        exporter.save_source_string("mod", "VALUE = 1\n")
        exporter.save_text("res", "t.txt", "text")
        exporter.save_pickle("res", "o.pkl", [1, 2])
        if fill is not None:
            fill(exporter)
    return path


def _named(error, archive, record=None):
    assert isinstance(error, HermeticError), repr(error)
    text = str(error)
    assert str(archive) in text, text
    if record is not None:
        assert record in text, text


# ---------------------------------------------------------------------------
# Undecodable records


def test_source_not_utf8_is_corrupt(tmp_path):
    path = _build(tmp_path / "p.pt", lambda e: e.save_binary("bad", "__init__.py",
                                                         b"A = 1\nB = 2\nX = '\xff'\n"))
    with pytest.raises(CorruptArchiveError) as info:
        PackageImporter(str(path)).import_module("bad")
    _named(info.value, path, "bad/__init__.py")
    assert "source cannot be decoded" in str(info.value)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize("source,what", [
    (b"# -*- coding: no-such-codec -*-\nX = 1\n", "source cannot be decoded"),
    (b"X = 1\x00\n", "source contains a NUL byte"),
])
def test_source_with_bad_cookie_or_nul_is_corrupt(tmp_path, source, what):
    path = _build(tmp_path / "p.pt", lambda e: e.save_binary("bad", "__init__.py", source))
    with pytest.raises(CorruptArchiveError, match=what) as info:
        PackageImporter(str(path)).import_module("bad")
    _named(info.value, path, "bad/__init__.py")


def test_source_in_declared_encoding_loads_and_gives_source(tmp_path):
    source = "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n".encode("latin-1")
    path = _build(tmp_path / "p.pt", lambda e: e.save_binary("enc", "__init__.py", source))
    importer = PackageImporter(str(path))
    module = importer.import_module("enc")
    assert module.NAME == "caf\xe9"
    assert importer.get_source(module.__name__) == source.decode("latin-1")


def test_syntax_error_of_decodable_source_stays_a_syntax_error(tmp_path):
    path = _build(tmp_path / "p.pt", lambda e: e.save_binary("syn", "__init__.py", b"def (:\n"))
    with pytest.raises(SyntaxError):
        PackageImporter(str(path)).import_module("syn")


def test_text_not_in_its_encoding_is_corrupt(tmp_path):
    path = _build(tmp_path / "p.pt", lambda e: e.save_binary("res", "bad.txt", b"\xff\xfe"))
    with pytest.raises(CorruptArchiveError, match="not utf-8") as info:
        PackageImporter(str(path)).load_text("res", "bad.txt")
    _named(info.value, path, "res/bad.txt")
    assert PackageImporter(str(path)).load_text("res", "bad.txt", errors="replace") == "\ufffd\ufffd"


@pytest.mark.parametrize("record", [".data/extern_modules", ".data/python_version"])
def test_framework_records_not_utf8_are_corrupt(tmp_path, zip_archive, record):
    records = {".data/extern_modules": "\n", ".data/python_version": "3.11.7", ".data/version": "6\n"}
    records[record] = b"\xff\xfe"
    path = zip_archive("p", records)
    with pytest.raises(CorruptArchiveError, match="not UTF-8") as info:
        PackageImporter(str(path)).python_version()
    _named(info.value, path, record)


# ---------------------------------------------------------------------------
# Missing records and things that are not archives


def test_missing_records_are_not_found_naming_archive_and_record(tmp_path):
    path = _build(tmp_path / "p.pt")
    importer = PackageImporter(str(path))
    for load in (lambda: importer.load_binary("res", "nope.bin"),
                 lambda: importer.load_text("res", "nope.txt"),
                 lambda: importer.load_pickle("res", "nope.pkl"),
                 lambda: importer.zip_reader.get_record("res/nope.bin")):
        with pytest.raises(NotFoundError) as info:
            load()
        _named(info.value, path, "res/nope.")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x05\x06" + b"\x00" * 18,
                                     b"PK\x03\x04" + b"\xff" * 60])
def test_not_an_archive_on_every_kind_of_source(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    import io

    for source, name in ((str(path), str(path)), (path, str(path)), (content, "<buffer>"),
                         (io.BytesIO(content), "<file>")):
        with pytest.raises(CorruptArchiveError) as info:
            PackageImporter(source)
        _named(info.value, name)


def test_folder_that_is_not_a_package(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "x.py").write_text("X = 1\n")
    with pytest.raises(HermeticError) as info:
        PackageImporter(str(tmp_path / "folder"))
    _named(info.value, tmp_path / "folder")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(NotFoundError) as info:
        PackageImporter(str(tmp_path / "absent.pt"))
    _named(info.value, tmp_path / "absent.pt")


def test_resource_reader_and_file_structure_on_damaged_archive(tmp_path):
    path = _build(tmp_path / "p.pt")
    importer = PackageImporter(str(path))
    files = importer.get_resource_reader("res").files()
    assert files.joinpath("t.txt").read_bytes() == b"text"
    info = {r.name: r for r in _core.ArchiveReader(str(path)).record_infos()}["res/t.txt"]
    with open(path, "r+b") as f:
        f.seek(info.data_offset)
        f.write(b"T")
    with pytest.raises(CorruptArchiveError) as error:
        files.joinpath("t.txt").read_bytes()
    _named(error.value, path, "res/t.txt")
    assert "t.txt" in str(importer.file_structure())


# ---------------------------------------------------------------------------
# Names: NULs, bytes that are not UTF-8, terminal escapes


def test_nul_in_a_name_keeps_the_whole_message(tmp_path):
    path = _build(tmp_path / "p.pt")
    with pytest.raises(NotFoundError) as info:
        _core.ArchiveReader(str(path)).read("res/a\x00tail")
    # Escaped by the core (EscapeName), so the text after the NUL survives
    # and no raw control byte reaches a terminal.
    assert "res/a\\x00tail" in str(info.value)
    assert "\x00" not in str(info.value)
    _named(info.value, path)


def test_path_that_is_not_utf8(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9.pt"
    name = os.fsdecode(raw)
    with pytest.raises(NotFoundError) as info:
        _core.ArchiveReader(name)
    # The message keeps the byte, escaped, rather than failing to convert.
    assert "caf\\xe9.pt" in str(info.value)
    _build(tmp_path / "ok.pt")
    os.rename(tmp_path / "ok.pt", raw)
    reader = _core.ArchiveReader(name)
    assert reader.name == name
    reader.close()
    assert PackageImporter(name).import_module("mod").VALUE == 1
    gc.collect()  # the importer's mapping, so later tests see no such path


def _rename_record(path, old, new):
    """Replaces record name `old` by `new` (same length) in the file's
    headers, bypassing every writer's checks."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert data.count(old) == 2  # local header and central directory
    path.write_bytes(data.replace(old, new))


@pytest.mark.parametrize("new", [b"res/\xff\xfe.txt", b"res/\x1b[2J.txt", b"res/\xed\xa0\x80.t"])
def test_record_names_never_fail_to_convert(tmp_path, new):
    path = _build(tmp_path / "p.pt")
    _rename_record(path, b"res/t.txt", new.ljust(9, b"x")[:9])
    # Refused (the reader wants UTF-8 names) or listed as str: never a
    # binding RuntimeError or a UnicodeDecodeError.
    try:
        reader = _core.ArchiveReader(str(path))
    except CorruptArchiveError as error:
        _named(error, path)
        return
    names = reader.records() + [info.name for info in reader.record_infos()]
    assert all(isinstance(name, str) for name in names)
    # and each can be passed back.
    assert all(reader.has_record(name) for name in reader.records())
    repr(reader.record_infos())
    importer = PackageImporter(str(path))
    assert isinstance(str(importer.file_structure()), str)


# ---------------------------------------------------------------------------
# Memory


def _zip_with_deflated_record(path, deflated, size):
    """A zip whose one deflated record, archive/big.bin, holds the raw
    deflate stream `deflated` and declares `size` bytes (the CRC is 0: the
    tests fail before it is checked)."""
    name = b"archive/big.bin"
    crc = 0
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(deflated), size,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc,
                          len(deflated), size, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(deflated), 0)
    path.write_bytes(local + deflated + central + end)


def _zip_with_declared_size(path, size):
    """archive/big.bin really inflates to `size` zeros. Each 1 MiB block of
    zeros is deflated once and repeated: after a full flush the blocks are
    equal."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(b"\x00" * (1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(b"\x00" * (1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert size % (1 << 20) == 0
    _zip_with_deflated_record(
        path, block + repeat * (size // (1 << 20) - 1) + compressor.flush(), size)


def _read_under_memory_limit(path, record, headroom):
    """Reads `record` in a child whose address space may grow by `headroom`
    bytes only; returns "<exception class> <is MemoryError> <message>"."""
    code = textwrap.dedent(f"""
        import resource, sys
        from hermetic import _core
        from hermetic.errors import HermeticError
        reader = _core.ArchiveReader({str(path)!r})
        with open("/proc/self/status") as f:
            vm = [int(l.split()[1]) for l in f if l.startswith("VmSize:")][0] * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + {headroom}, resource.RLIM_INFINITY))
        try:
            reader.read({record!r})
        except HermeticError as error:
            print(type(error).__name__, isinstance(error, MemoryError), error)
            sys.exit(0)
        sys.exit("read succeeded")
    """)
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_allocation_failure_is_a_resource_limit_error(tmp_path):
    # 768 MiB of real zeros, under an address-space limit that cannot hold
    # them: memory runs out while inflating.
    path = tmp_path / "big.pt"
    _zip_with_declared_size(path, 768 << 20)
    out = _read_under_memory_limit(path, "big.bin", 256 << 20)
    assert out.startswith("ResourceLimitError True archive "), out
    assert str(path) in out and "record big.bin" in out


def test_declared_size_is_never_allocated(tmp_path):
    # 512 MiB declared over 600 KiB of deflated random bytes (which inflate
    # to 600 KiB): reading must find the lie with memory in proportion to
    # the real output, not fail to allocate what the header claims.
    path = tmp_path / "liar.pt"
    data = os.urandom(600 << 10)
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    _zip_with_deflated_record(path, compressor.compress(data) + compressor.flush(), 512 << 20)
    out = _read_under_memory_limit(path, "big.bin", 128 << 20)
    assert out.startswith("CorruptArchiveError False archive "), out
    assert "record big.bin" in out


def test_declared_size_past_the_limit_is_refused_before_inflating(tmp_path):
    # 2 GiB declared (a real bomb: it inflates to that), over the 1 GiB limit
    # on one record held in memory; neither the declared size nor the
    # inflated bytes are ever allocated.
    path = tmp_path / "bomb.pt"
    _zip_with_declared_size(path, 2 << 30)
    reader = _core.ArchiveReader(str(path))
    with pytest.raises(ResourceLimitError) as info:
        reader.read("big.bin")
    assert isinstance(info.value, MemoryError)
    _named(info.value, path, "big.bin")
    assert "limit" in str(info.value)


# ---------------------------------------------------------------------------
# Files changing under the reader (subprocesses: a signal would kill pytest)

_CHANGE_UNDER_READER = """
import os, sys
from hermetic import PackageExporter, PackageImporter
from hermetic.errors import HermeticError
path = sys.argv[1]
with PackageExporter(path) as exporter:
    exporter.save_source_string("mod", "VALUE = 1\\n" + "#" * 200000 + "\\n")
    exporter.save_pickle("res", "o.pkl", list(range(50000)))
    exporter.save_text("res", "t.txt", "x" * 200000)
importer = PackageImporter(path)
{change}
loads = {{
    "mod.py": lambda: importer.import_module("mod").VALUE,
    "res/o.pkl": lambda: len(importer.load_pickle("res", "o.pkl")),
    "res/t.txt": lambda: len(importer.load_text("res", "t.txt")),
}}
for record, load in loads.items():
    try:
        print(record, "loaded", load())
    except HermeticError as error:
        named = path in str(error) and record in str(error)
        print(record, type(error).__name__, "named" if named else "UNNAMED: " + str(error))
"""


def _run_changed(tmp_path, change):
    code = _CHANGE_UNDER_READER.format(change=textwrap.dedent(change))
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.pt")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, (run.returncode, run.stderr)
    return dict(line.split(" ", 1) for line in run.stdout.splitlines())


@pytest.mark.parametrize("size", [0, 100, 4096, 150000])
def test_file_truncated_after_open(tmp_path, size):
    results = _run_changed(tmp_path, f"os.truncate(path, {size})")
    for record, result in results.items():
        assert result.endswith(" named") or result.startswith("loaded"), (record, result)
    # The last records lie beyond every truncation point.
    assert not results["res/t.txt"].startswith("loaded")


def test_file_rewritten_in_place_after_open(tmp_path):
    # Same size, every record's bytes changed: CRC mismatches, named.
    results = _run_changed(tmp_path, """
        with open(path, "r+b") as f:
            data = f.read()
            f.seek(0)
            f.write(data.replace(b"#" * 64, b"%" * 64).replace(b"x" * 64, b"y" * 64)
                    .replace(b"VALUE = 1", b"VALUE = 2"))
    """)
    assert results["mod.py"] == "CorruptArchiveError named"
    assert results["res/t.txt"] == "CorruptArchiveError named"


def test_file_replaced_after_open_keeps_the_opened_archive(tmp_path):
    # A new file renamed over the path: the reader keeps the one it opened.
    results = _run_changed(tmp_path, """
        with PackageExporter(path) as exporter:
            exporter.save_source_string("mod", "VALUE = 2\\n")
    """)
    assert results == {"mod.py": "loaded 1", "res/o.pkl": "loaded 50000",
                       "res/t.txt": "loaded 200000"}
