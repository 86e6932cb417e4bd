"""Hostile archives hermetic must refuse outright (issue 9), beyond the
reader-by-reader comparison of test_zip_differential.py:

* the end-of-central-directory attack of issue 9 through the importers: torch
  and zipfile load the harmless decoy, hermetic must refuse instead of
  loading the real, malicious pickle; `hermetic verify` must not say OK;
* silent damage: a record whose bytes changed while its CRC-32 was kept is
  refused on read (ArchiveReader.read, and every PackageImporter entry
  point) with a CorruptArchiveError naming the archive and the record;
* truncation: every strict prefix of small valid archives is refused with a
  HermeticError naming the archive, never a crash or another exception;
* the most telling hostile archives (hostile_zip.telling_archives) are
  refused from a path, a buffer and by the CLI.
"""

import builtins
import hashlib
import importlib.util
import io
import os
import pickle
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

import hostile_zip as hz
from hostile_zip import Entry as E

from hermetic import _core
from hermetic.errors import CorruptArchiveError, HermeticError

DATA = Path(__file__).resolve().parent.parent / "data"
TORCH_PACKAGE = DATA / "torch213_package.pt"
CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")
MARKER = "_hermetic_eocd_attack"


# ---------------------------------------------------------------------------
# Issue 9's end-record attack through the importers


def _attack(tmp_path):
    path = tmp_path / "attack.pt"
    path.write_bytes(hz.telling_archives()["eocd_comment_attack"])
    return path


def test_attack_archive_is_what_the_issue_describes(tmp_path):
    # zipfile takes the decoy directory and loads the harmless pickle; a
    # reader that skips end records whose comment does not fit (what
    # hermetic does) finds the real one, holding the malicious pickle.
    path = _attack(tmp_path)
    decoy = hz.zipfile_view(str(path))
    assert decoy.status == "ok"
    assert dict(decoy.records)["res/obj.pkl"] == hz.HARMLESS_PICKLE
    data = path.read_bytes()
    layout = hz.parse(data)
    assert {p.name for p in layout.entries} >= {b"attack/res/obj.pkl"}
    real = [p for p in layout.entries if p.name == b"attack/res/obj.pkl"][0]
    assert data[real.data:real.data + real.size] == hz.MALICIOUS_PICKLE


def test_attack_is_refused_by_the_archive_reader(tmp_path):
    path = _attack(tmp_path)
    for source in (str(path), path.read_bytes()):
        view = hz.in_worker("hermetic_view", source)
        assert view.status == "refused" and view.hermetic_error, view.short()
    assert str(path) in hz.in_worker("hermetic_view", str(path)).message


def _load_with_hermetic(path, package, resource):
    from hermetic import PackageImporter
    try:
        obj = PackageImporter(str(path)).load_pickle(package, resource)
    except HermeticError as exc:
        return ("refused", type(exc).__name__, str(exc),
                getattr(builtins, MARKER, None))
    except BaseException as exc:
        return ("raised", f"{type(exc).__module__}.{type(exc).__name__}",
                str(exc), getattr(builtins, MARKER, None))
    return ("loaded", repr(obj), "", getattr(builtins, MARKER, None))


@pytest.mark.parametrize("case,package,resource", [
    ("eocd_comment_attack", "res", "obj.pkl"),
    ("zip64_locator_attack", "model", "model.pkl")])
def test_attack_is_refused_by_the_package_importer(tmp_path, case, package,
                                                   resource):
    # In a forked child: if hermetic loads the malicious pickle, its code
    # runs there, not in the test process.
    path = tmp_path / f"{case}.pt"
    path.write_bytes(hz.telling_archives()[case])
    outcome = hz.isolated(_load_with_hermetic, path, package, resource)
    assert isinstance(outcome, tuple), outcome
    verdict, what, message, marker = outcome
    assert marker is None, (
        f"hermetic ran the malicious pickle of the hidden directory ({what})")
    assert verdict == "refused", f"{verdict}: {what} {message}"
    assert str(path) in message


def test_torch_package_loads_the_decoy(tmp_path):
    # The differential is real: torch.package sees the harmless directory.
    torch_package = pytest.importorskip("torch.package")
    path = _attack(tmp_path)

    def load():
        obj = torch_package.PackageImporter(str(path)).load_pickle(
            "res", "obj.pkl")
        return obj, getattr(builtins, MARKER, None)

    assert hz.isolated(load) == ({"ok": True}, None)


def test_zip64_locator_attack_is_what_it_says(tmp_path):
    # zipfile reads the zip64 end record just before the locator, miniz the
    # one the locator points to: two different archives in one file.
    path = tmp_path / "zip64.pt"
    path.write_bytes(hz.telling_archives()["zip64_locator_attack"])
    seen = dict(hz.zipfile_view(str(path)).records)
    assert "model/model.pkl" not in seen and "data/blob.bin" in seen
    if importlib.util.find_spec("torch") is not None:
        torch_seen = dict(hz.in_worker("torch_view", str(path)).records)
        assert torch_seen["model/model.pkl"] == hz.MALICIOUS_PICKLE


@pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")
@pytest.mark.parametrize("case", sorted(hz.TELLING))
def test_cli_verify_refuses_telling_archive(tmp_path, case):
    path = tmp_path / f"{case}.pt"
    path.write_bytes(hz.telling_archives()[case])
    run = subprocess.run([CLI, "verify", str(path)], capture_output=True,
                         timeout=60)
    assert run.returncode > 0, run.stdout.decode(errors="replace")
    assert str(path) in run.stderr.decode(errors="replace")


@pytest.mark.parametrize("case", sorted(hz.TELLING))
def test_telling_archive_is_refused(tmp_path, case):
    data = hz.telling_archives()[case]
    path = tmp_path / f"{case}.pt"
    path.write_bytes(data)
    for source in (str(path), data):
        view = hz.in_worker("hermetic_view", source)
        assert view.status == "refused" and view.hermetic_error, view.short()


def _open_package(source):
    from hermetic import PackageImporter
    try:
        PackageImporter(source)
    except HermeticError as exc:
        return ("refused", type(exc).__name__, str(exc))
    except BaseException as exc:
        return ("raised", f"{type(exc).__module__}.{type(exc).__name__}",
                str(exc))
    return ("opened", "", "")


@pytest.mark.parametrize("source", ["path", "buffer", "file"])
@pytest.mark.parametrize("case", sorted(hz.TELLING))
def test_package_importer_refuses_telling_archive(tmp_path, case, source):
    path = tmp_path / f"{case}.pt"
    path.write_bytes(hz.telling_archives()[case])
    if source == "path":
        outcome = hz.isolated(_open_package, str(path))
    elif source == "buffer":
        outcome = hz.isolated(_open_package, path.read_bytes())
    else:
        def from_file():
            with open(path, "rb") as f:
                return _open_package(f)
        outcome = hz.isolated(from_file)
    assert isinstance(outcome, tuple), outcome.short()
    verdict, kind, message = outcome
    assert verdict == "refused", f"{verdict}: {kind} {message}"
    if source != "buffer":
        assert str(path) in message or path.name in message, message


TELLING_SHA256 = {
    "entry_count_zero":
        "e7f941ca8be31b48167fdaf28f40846d1936b9123db0c31550abf8c80aad4f1f",
    "eocd_comment_attack":
        "38dd9d5ca40df09d4102529f678c61fe0ab6a8da746e7b5a2125eec0d8831887",
    "smuggled_record_in_gap":
        "f02487ffc231b1fbf04c7b60bb3ef65a5675155e4f10db8cb64a08918db63aec",
    "zip64_locator_attack":
        "19c5a6d949a05bc324fc7b3318c98555d8aa9c146ca911ca6a164917478c3425",
}
REGRESSIONS = (Path(__file__).resolve().parent.parent.parent / "fuzz"
               / "regressions" / "archive_reader")


def test_telling_archives_are_reproducible():
    # The same bytes on every run and machine, so that the copies kept as
    # fuzz regression inputs (`python3 tests/python/hostile_zip.py DIR`)
    # stay the archives these tests describe.
    archives = hz.telling_archives()
    assert {k: hashlib.sha256(v).hexdigest() for k, v in archives.items()} \
        == TELLING_SHA256
    for case, data in archives.items():
        copy = REGRESSIONS / f"{case}.zip"
        assert copy.exists(), f"{case} is not kept as a fuzz regression input"
        assert copy.read_bytes() == data, f"{copy} is not {case}"


# ---------------------------------------------------------------------------
# CRC-32: changed bytes, old CRC


def _hermetic_writer_archive():
    sink = io.BytesIO()
    writer = _core.ArchiveWriter(sink)
    writer.write_record("model/model.pkl", pickle.dumps({"w": [1.0, 2.0]}))
    writer.write_record("code/mod.py", b"def f():\n    return 1\n")
    writer.write_record("data/blob.bin", bytes(range(256)))
    writer.write_record("notes.txt", b"n")
    writer.finish()
    return sink.getvalue()


def _hermetic_compressed_archive():
    # What PackageExporter(compress=True) writes: libdeflate streams.
    from hermetic import PackageExporter
    sink = io.BytesIO()
    with PackageExporter(sink, compress=True) as exporter:
        exporter.save_source_string("m", "def f():\n    return 1\n" * 30)
        exporter.save_pickle("r", "p.pkl", {"w": [1.0, 2.0] * 50})
        exporter.save_text("r", "n.txt", "some text " * 40)
        exporter.save_binary("r", "b.bin", bytes(range(256)))
    return sink.getvalue()


def _builder_deflated_archive():
    return hz.build([E("archive/.data/version", b"6\n"),
                     E("archive/text.txt", b"abc" * 300, method=hz.DEFLATED),
                     E("archive/code.py", b"x = 1\n" * 20,
                       method=hz.DEFLATED)]).data


CRC_BASES = {
    "hermetic_writer": _hermetic_writer_archive,
    "torch213_package": TORCH_PACKAGE.read_bytes,
    "builder_deflated": _builder_deflated_archive,
    "hermetic_compressed": _hermetic_compressed_archive,
}


def _changed_keeping_crc(data, placed):
    """data with one bit of the record's content flipped (for a deflated
    record, re-deflated to the same size), CRC-32 kept."""
    method = hz.get(data, placed.central, hz.CENTRAL, "method")
    stored = data[placed.data:placed.data + placed.size]
    if method == hz.STORED:
        changed = stored[:-1] + bytes([stored[-1] ^ 0x01])
        return data[:placed.data] + changed + data[placed.data + placed.size:]
    content = zlib.decompress(stored, -15)
    # A one-byte change whose deflated form keeps the stored size, so no
    # offset moves.
    for at in range(len(content) - 1, -1, -1):
        for bit in range(8):
            changed = bytearray(content)
            changed[at] ^= 1 << bit
            raw = hz.deflate(bytes(changed))
            if len(raw) == len(stored):
                return (data[:placed.data] + raw
                        + data[placed.data + placed.size:])
    raise AssertionError("no same-size change found; pick other data")


def _records_with_data(data):
    layout = hz.parse(data)
    prefix_len = layout.entries[0].name.index(b"/") + 1
    return [(p.name[prefix_len:].decode(), p) for p in layout.entries
            if p.size > 0]


def _read_outcome(source, name):
    try:
        reader = _core.ArchiveReader(source)
    except BaseException as exc:
        return ("open refused", type(exc).__qualname__, str(exc),
                isinstance(exc, CorruptArchiveError))
    try:
        reader.read(name)
    except BaseException as exc:
        return ("read refused", type(exc).__qualname__, str(exc),
                isinstance(exc, CorruptArchiveError))
    return ("read", "", "", False)


@pytest.mark.parametrize("base", sorted(CRC_BASES))
def test_changed_record_with_old_crc_is_refused_on_read(tmp_path, base):
    data = CRC_BASES[base]()
    problems = []
    for name, placed in _records_with_data(data):
        hostile = _changed_keeping_crc(data, placed)
        path = tmp_path / f"crc-{len(problems)}-{placed.central}.pt"
        path.write_bytes(hostile)
        for source, shown in ((str(path), str(path)), (hostile, None)):
            outcome = hz.isolated(_read_outcome, source, name)
            if not isinstance(outcome, tuple):
                problems.append(f"{name}: {outcome.short()}")
                continue
            verdict, kind, message, corrupt = outcome
            if verdict == "read":
                problems.append(f"{name}: changed bytes read without error "
                                f"({'path' if shown else 'buffer'})")
            elif not corrupt:
                problems.append(f"{name}: {verdict} with {kind}, not "
                                f"CorruptArchiveError: {message}")
            elif name not in message or (shown and shown not in message):
                problems.append(f"{name}: error names neither archive nor "
                                f"record: {message}")
    assert not problems, "\n".join(problems)


def test_changed_crc_field_is_refused_on_read(tmp_path):
    data = _hermetic_writer_archive()
    name, placed = _records_with_data(data)[1]
    crc = hz.get(data, placed.central, hz.CENTRAL, "crc")
    hostile = hz.patch(data, placed.central, hz.CENTRAL, "crc", crc ^ 1)
    outcome = hz.isolated(_read_outcome, hostile, name)
    assert outcome[0] != "read" and outcome[3], outcome


def _torch_package_with_changed(record):
    data = TORCH_PACKAGE.read_bytes()
    placed = dict(_records_with_data(data))[record]
    return _changed_keeping_crc(data, placed)


def _importer_outcome(path, action):
    from hermetic import PackageImporter
    try:
        importer = PackageImporter(str(path))
        result = action(importer)
    except BaseException as exc:
        return ("refused", type(exc).__qualname__, str(exc),
                isinstance(exc, CorruptArchiveError))
    return ("loaded", repr(result)[:200], "", False)


IMPORTER_READS = {
    "m.py": lambda imp: imp.import_module("m").A,
    "r/n.txt": lambda imp: imp.load_text("r", "n.txt"),
    "r/t.pkl": lambda imp: imp.load_pickle("r", "t.pkl"),
    ".data/extern_modules": lambda imp: imp.extern_modules,
}


@pytest.mark.parametrize("record", sorted(IMPORTER_READS))
def test_package_importer_refuses_changed_record_with_old_crc(tmp_path,
                                                              record):
    if record.endswith(".pkl"):
        pytest.importorskip("torch")
    path = tmp_path / "damaged.pt"
    path.write_bytes(_torch_package_with_changed(record))
    outcome = hz.isolated(_importer_outcome, path, IMPORTER_READS[record])
    assert isinstance(outcome, tuple), outcome.short()
    verdict, kind, message, corrupt = outcome
    assert verdict == "refused", f"loaded the changed {record}: {kind}"
    assert corrupt, f"{kind}: {message}"
    assert str(path) in message and record in message, message


def test_package_importer_verify_checks_tensor_storages(tmp_path):
    # Issue 9: verify=True on the importer checks every CRC at open,
    # mapped tensor storages included.
    path = tmp_path / "damaged.pt"
    path.write_bytes(_torch_package_with_changed(".data/0.storage"))

    def open_verified():
        from hermetic import PackageImporter
        try:
            PackageImporter(str(path), verify=True)
        except BaseException as exc:
            return ("refused", type(exc).__qualname__, str(exc),
                    isinstance(exc, CorruptArchiveError))
        return ("opened", "", "", False)

    verdict, kind, message, corrupt = hz.isolated(open_verified)
    assert verdict == "refused" and corrupt, f"{verdict} {kind}: {message}"
    assert ".data/0.storage" in message and str(path) in message


# ---------------------------------------------------------------------------
# Truncation at every offset


def _zipfile_streamed_archive():
    return hz.zipfile_streamed((("archive/.data/version", b"6\n"),
                                ("archive/a.txt", b"abc" * 50),
                                ("archive/empty", b"")))


TRUNCATION_BASES = {
    "hermetic_writer": _hermetic_writer_archive,
    "torch213_package": TORCH_PACKAGE.read_bytes,
    "zipfile_streamed": _zipfile_streamed_archive,
    "hermetic_compressed": _hermetic_compressed_archive,
    "builder_zip64_deflated": lambda: hz.build(
        [E("archive/.data/version", b"6\n"),
         E("archive/text.txt", b"abc" * 100, method=hz.DEFLATED),
         E("archive/x.bin", bytes(range(100)), flags=hz.FLAG_UTF8
           | hz.FLAG_DESCRIPTOR)], zip64_end=True).data,
}


@pytest.mark.parametrize("source", ["path", "buffer"])
@pytest.mark.parametrize("base", sorted(TRUNCATION_BASES))
def test_every_truncation_is_refused(tmp_path, base, source):
    data = TRUNCATION_BASES[base]()
    verdicts = hz.prefix_verdicts(data, range(len(data)),
                                  str(tmp_path) if source == "path" else None)
    problems = []
    for length, view in verdicts.items():
        if view.status == "ok":
            problems.append(f"{length}: accepted {view.short()}")
        elif view.status != "refused" or not view.hermetic_error:
            problems.append(f"{length}: {view.short()}")
        elif source == "path" and f"prefix-{length}.pt" not in view.message:
            problems.append(f"{length}: error does not name the archive: "
                            f"{view.message[:200]}")
    assert not problems, (f"{len(problems)} of {len(data)} prefixes:\n"
                          + "\n".join(problems[:40]))


# ---------------------------------------------------------------------------
# Names in messages and listings


def _names_archive(*names):
    return hz.build([E("archive/.data/version", b"6\n")]
                    + [E(n, b"x") for n in names]).data


def test_nul_in_name_does_not_cut_the_error_text(tmp_path):
    path = tmp_path / "nul.pt"
    path.write_bytes(_names_archive(b"archive/model.pkl\x00hidden-suffix.py"))
    view = hz.in_worker("hermetic_view", str(path))
    assert view.status == "refused" and view.hermetic_error, view.short()
    assert "hidden-suffix.py" in view.message, view.message


@pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")
def test_cli_ls_escapes_terminal_sequences_in_names(tmp_path):
    path = tmp_path / "escape.pt"
    path.write_bytes(_names_archive("archive/\x1b]0;owned\x07\x1b[2J.txt",
                                    "archive/line\nbreak.txt",
                                    "archive/invoice\u202efdp.exe"))
    run = subprocess.run([CLI, "ls", str(path)], capture_output=True,
                         timeout=60)
    shown = run.stdout + run.stderr
    assert run.returncode == 0, shown
    assert b"\x1b" not in shown and b"\x07" not in shown, shown
    assert b"line\nbreak" not in shown, shown
    # a right-to-left override would show "invoiceexe.pdf"
    assert "\u202e".encode() not in shown, shown
