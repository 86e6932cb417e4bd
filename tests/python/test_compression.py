"""PackageExporter(compress=...): sources, texts and pickles deflated,
tensor storages and binaries stored and aligned (docs/format.md section
2, "Compression"), and every reader we know agreeing on the result: hermetic,
torch 2.13's PackageImporter and PyTorchFileReader, Python's zipfile, the
CLI."""

import io
import os
import pickle
import shutil
import subprocess
import zipfile
import zlib

import pytest

import hostile_zip as hz
from hermetic import PackageExporter, PackageImporter, _core
from hermetic.errors import CorruptArchiveError, HermeticError
from process_maps import mapped_ranges

CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")
SOURCE = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(300))
TEXT = "a line of packaged text\n" * 400
BLOB = bytes(range(256)) * 8
WORDS = {"words": [f"word{i % 50}" for i in range(2000)]}


def _export(target, compress=True, tensors=None, **options):
    with PackageExporter(target, compress=compress, **options) as exporter:
        exporter.save_source_string("mod", SOURCE)
        exporter.save_source_string("pkg", "from . import sub\n", is_package=True)
        exporter.save_source_string("pkg.sub", "VALUE = 42\n" * 50)
        exporter.save_pickle("res", "words.pkl", WORDS)
        if tensors is not None:
            exporter.save_pickle("res", "tensors.pkl", tensors)
        exporter.save_text("res", "notes.txt", TEXT)
        exporter.save_binary("res", "blob.bin", BLOB)


def _tensors():
    torch = pytest.importorskip("torch")
    return {"w": torch.arange(4096, dtype=torch.float32).reshape(64, 64),
            "b": torch.zeros(1000, dtype=torch.int64)}


def _infos(path):
    return {info.name: info for info in _core.ArchiveReader(str(path)).record_infos()}


def test_sources_texts_and_pickles_are_deflated_storages_and_binaries_stored(tmp_path):
    path = tmp_path / "p.pt"
    _export(path, tensors=_tensors())
    infos = _infos(path)
    for name in ("mod.py", "pkg/sub.py", "res/words.pkl",
                 "res/tensors.pkl", "res/notes.txt"):
        assert infos[name].method == 8, name
        assert infos[name].compressed_size < infos[name].size, name
    for name in (".data/0.storage", ".data/1.storage", "res/blob.bin"):
        assert infos[name].method == 0, name
        assert infos[name].data_offset % 64 == 0, name
    # Too small to shrink: stored although asked.
    assert infos[".data/version"].method == 0
    assert infos[".data/python_version"].method == 0
    assert infos["pkg/__init__.py"].method == 0


def _check_loads(importer, tensors):
    """What _export wrote, read back through `importer` (hermetic's or torch's)."""
    import torch

    assert importer.import_module("mod").f299(1) == 300
    assert importer.import_module("mod").f10(5) == 15
    assert importer.import_module("pkg").sub.VALUE == 42
    assert importer.load_pickle("res", "words.pkl") == WORDS
    assert importer.load_text("res", "notes.txt") == TEXT
    assert importer.load_binary("res", "blob.bin") == BLOB
    loaded = importer.load_pickle("res", "tensors.pkl")
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)


def test_compressed_archive_is_smaller_and_loads_the_same(tmp_path):
    torch = pytest.importorskip("torch")
    tensors = _tensors()
    _export(tmp_path / "stored.pt", compress=False, tensors=tensors)
    _export(tmp_path / "deflated.pt", tensors=tensors)
    stored, deflated = (tmp_path / "stored.pt"), (tmp_path / "deflated.pt")
    assert deflated.stat().st_size * 2 < stored.stat().st_size
    for path in (stored, deflated):
        _check_loads(PackageImporter(str(path)), tensors)


def test_storages_of_a_compressed_archive_load_zero_copy(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "p.pt"
    tensors = _tensors()
    _export(path, tensors=tensors)
    loaded = PackageImporter(str(path)).load_pickle("res", "tensors.pkl")
    ranges = mapped_ranges(path)
    assert ranges, "archive is not memory-mapped"
    for name, tensor in loaded.items():
        start = tensor.data_ptr()
        assert any(low <= start and start + tensor.nbytes <= high
                   for low, high in ranges), name
        assert torch.equal(tensor, tensors[name])


def test_torch_package_importer_loads_a_compressed_archive(tmp_path):
    torch = pytest.importorskip("torch")
    from torch.package import PackageImporter as TorchImporter
    path = tmp_path / "p.pt"
    tensors = _tensors()
    _export(path, tensors=tensors)
    _check_loads(TorchImporter(str(path)), tensors)


def test_pytorch_file_reader_and_zipfile_read_every_record_alike(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "p.pt"
    _export(path, tensors=_tensors(), manifest=True, environment=True)
    reader = _core.ArchiveReader(str(path))
    ours = {name: reader.read(name) for name in reader.records()}
    assert any(info.method == 8 for info in reader.record_infos())
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        theirs = {name.split("/", 1)[1]: zf.read(name) for name in zf.namelist()}
        deflated = {i.filename.split("/", 1)[1] for i in zf.infolist()
                    if i.compress_type == zipfile.ZIP_DEFLATED}
    assert theirs == ours
    assert deflated == {info.name for info in reader.record_infos() if info.method == 8}
    torch_reader = torch._C.PyTorchFileReader(str(path))
    assert sorted(torch_reader.get_all_records()) == sorted(ours)
    for name, data in ours.items():
        assert bytes(torch_reader.get_record(name)) == data, name


def test_exports_are_deterministic_and_levels_trade_size(tmp_path):
    sizes = {}
    for level in (1, 6, 12):
        first, second = io.BytesIO(), io.BytesIO()
        _export(first, compress=level)
        _export(second, compress=level)
        assert first.getvalue() == second.getvalue()
        sizes[level] = len(first.getvalue())
    default = io.BytesIO()
    _export(default, compress=True)
    assert len(default.getvalue()) == sizes[_core.DEFAULT_DEFLATE_LEVEL]
    assert sizes[12] <= sizes[6] <= sizes[1]
    stored, off = io.BytesIO(), io.BytesIO()
    _export(stored, compress=False)
    _export(off, compress=0)
    assert off.getvalue() == stored.getvalue()


@pytest.mark.parametrize("compress", [13, -1, "yes", 2.5, None])
def test_compress_must_be_a_bool_or_a_level(tmp_path, compress):
    with pytest.raises(ValueError, match="compress must be"):
        PackageExporter(tmp_path / "p.pt", compress=compress)
    assert not (tmp_path / "p.pt").exists()


def test_manifest_and_verify_cover_deflated_records(tmp_path):
    path = tmp_path / "p.pt"
    _export(path, manifest=True, reproducible=True)
    assert _infos(path)[_core.MANIFEST_RECORD].method == 8
    importer = PackageImporter(str(path), verify=True)
    assert importer.import_module("mod").f1(1) == 2


@pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")
def test_cli_verifies_and_prints_deflated_records(tmp_path):
    path = tmp_path / "p.pt"
    _export(path)
    done = subprocess.run([CLI, "verify", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([CLI, "cat", str(path), "res/notes.txt"], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == TEXT


# ---------------------------------------------------------------------------
# Hostile deflate data in an archive hermetic wrote


def _compressed_archive():
    sink = io.BytesIO()
    _export(sink)
    return sink.getvalue()


def _placed(data, record):
    layout = hz.parse(data)
    for placed in layout.entries:
        if placed.name == b"archive/" + record.encode():
            return layout, placed
    raise AssertionError(record)


def _with_declared_size(data, record, size):
    """data with the record's uncompressed size changed in its central
    entry and its data descriptor (which must agree)."""
    layout, placed = _placed(data, record)
    data = hz.patch(data, placed.central, hz.CENTRAL, "usize", size)
    at = placed.data + placed.size + 4 + 8  # signature, CRC, compressed size
    return data[:at] + size.to_bytes(4, "little") + data[at + 4:]


def _with_stream(data, record, raw):
    """data with the record's deflate stream replaced by `raw` of the same
    length."""
    layout, placed = _placed(data, record)
    assert len(raw) == placed.size
    return data[:placed.data] + raw + data[placed.data + placed.size:]


def _import_outcome(source):
    try:
        PackageImporter(source).import_module("mod")
    except HermeticError as exc:
        return ("refused", type(exc).__name__, str(exc),
                isinstance(exc, CorruptArchiveError))
    except BaseException as exc:
        return ("other", type(exc).__name__, str(exc), False)
    return ("loaded", "", "", False)


def _garbage_stream(data):
    _, placed = _placed(data, "mod.py")
    return _with_stream(data, "mod.py", b"\xff" * placed.size)


def _truncated_stream(data):
    # A stored-block header that announces more bytes than the record has.
    _, placed = _placed(data, "mod.py")
    raw = b"\x00\xff\xff\x00\x00" + b"x" * (placed.size - 5)
    return _with_stream(data, "mod.py", raw)


def _past_declared_size(data):
    return _with_declared_size(data, "mod.py", len(SOURCE) - 10)


def _short_of_declared_size(data):
    return _with_declared_size(data, "mod.py", len(SOURCE) + 10)


def _bomb_ratio(data):
    # Far more than deflate's 1032:1 could ever give: refused at open,
    # before anything is inflated or allocated.
    _, placed = _placed(data, "mod.py")
    return _with_declared_size(data, "mod.py", placed.size * 2000)


def _changed_bit(data):
    _, placed = _placed(data, "mod.py")
    raw = bytearray(data[placed.data:placed.data + placed.size])
    raw[len(raw) // 2] ^= 0x10
    return _with_stream(data, "mod.py", bytes(raw))


HOSTILE = {
    "garbage_stream": (_garbage_stream, "invalid deflate data"),
    "truncated_stream": (_truncated_stream, "truncated"),
    "inflates_past_declared_size": (_past_declared_size, "past its declared size"),
    "inflates_short_of_declared_size": (_short_of_declared_size, "declared"),
    "bomb_ratio": (_bomb_ratio, "is impossible for"),
    "changed_bit": (_changed_bit, "mod.py"),
}


@pytest.mark.parametrize("source", ["path", "buffer"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_deflate_data_is_refused_naming_the_record(tmp_path, case, source):
    make, reason = HOSTILE[case]
    data = make(_compressed_archive())
    path = tmp_path / "hostile.pt"
    path.write_bytes(data)
    outcome = hz.isolated(_import_outcome, str(path) if source == "path" else data)
    assert isinstance(outcome, tuple), outcome.short()
    verdict, kind, message, corrupt = outcome
    assert verdict == "refused" and corrupt, f"{verdict} {kind}: {message}"
    assert "mod.py" in message and reason in message, message
    assert (str(path) if source == "path" else "<buffer>") in message, message


def test_a_large_record_deflates_and_reads_back():
    # 64 MiB of zeros deflate to ~64 KiB (the reader's ratio limit is 1032:1).
    big = b"\0" * (64 << 20)
    sink = io.BytesIO()
    writer = _core.ArchiveWriter(sink, deflate_level=1)
    writer.write_record("zeros.bin", big, compress=True)
    writer.finish()
    data = sink.getvalue()
    assert len(data) < 1 << 20
    info = next(i for i in _core.ArchiveReader(data).record_infos() if i.name == "zeros.bin")
    assert (info.method, info.size) == (8, len(big))
    assert zlib.crc32(_core.ArchiveReader(data).read("zeros.bin")) == zlib.crc32(big)
