"""Family "silent damage": a record whose bytes changed while its stored
CRC-32 stayed is never used as if it were intact.

Records read into memory (sources, trusted bytecode, pickles, text, binary)
are checked on every read; mapped tensor storages and out-of-band buffers
only with PackageImporter(verify=True), which also checks every record when
the archive is opened.
"""

import importlib
import pickle

import pytest

from hermetic import PackageExporter, PackageImporter, _core
from hermetic.errors import CorruptArchiveError

SOURCE = "VALUE = 1234\n"


def _build(path, with_tensor=False):
    with PackageExporter(str(path)) as exporter:
        exporter.save_source_string("mod", SOURCE)
        exporter.save_pickle("res", "obj.pkl", {"numbers": [1, 2, 3], "name": "intact"})
        exporter.save_text("res", "t.txt", "some text")
        exporter.save_binary("res", "b.bin", b"\x00\x01binary\x02")
        exporter.save_pickle("res", "buf.pkl", pickle.PickleBuffer(bytearray(b"B" * 256)),
                             out_of_band=True)
        if with_tensor:
            import torch

            exporter.save_pickle("res", "tensor.pkl", torch.arange(64, dtype=torch.int64))
    return path


def _damage(path, record, at=0):
    """Flips one byte of `record`'s data in the file, keeping its CRC."""
    infos = {info.name: info for info in _core.ArchiveReader(str(path)).record_infos()}
    info = infos[record]
    assert info.method == 0 and info.size > at
    with open(path, "r+b") as f:
        f.seek(info.data_offset + at)
        byte = f.read(1)
        f.seek(info.data_offset + at)
        f.write(bytes([byte[0] ^ 0x01]))


def _crc_error(path, record):
    return rf"^archive {path}, record {record}: CRC-32 mismatch"


USES = {
    "mod.py": lambda imp: imp.import_module("mod"),
    "res/obj.pkl": lambda imp: imp.load_pickle("res", "obj.pkl"),
    "res/t.txt": lambda imp: imp.load_text("res", "t.txt"),
    "res/b.bin": lambda imp: imp.load_binary("res", "b.bin"),
}


@pytest.mark.parametrize("record", list(USES))
def test_changed_record_is_refused_on_use(tmp_path, record):
    path = _build(tmp_path / "p.pt")
    _damage(path, record)
    importer = PackageImporter(str(path))
    with pytest.raises(CorruptArchiveError, match=_crc_error(path, record)):
        USES[record](importer)
    with pytest.raises(CorruptArchiveError, match=_crc_error(path, record)):
        importer.zip_reader.get_record(record)


def test_changed_trusted_bytecode_is_refused(tmp_path, source_tree):
    source_tree({"cachedmod.py": SOURCE})
    importlib.invalidate_caches()
    importlib.import_module("cachedmod")

    path = tmp_path / "p.pt"
    with PackageExporter(str(path), bytecode=True) as exporter:
        exporter.save_module("cachedmod")
    bytecode = [name for name in _core.ArchiveReader(str(path)).records()
                if name.endswith(".pyc")]
    assert len(bytecode) == 1, bytecode
    _damage(path, bytecode[0], at=20)
    with pytest.raises(CorruptArchiveError, match=_crc_error(path, bytecode[0])):
        PackageImporter(str(path), trust_bytecode=True).import_module("cachedmod")


def test_intact_package_loads_with_and_without_verify(tmp_path):
    path = _build(tmp_path / "p.pt")
    for verify in (False, True):
        importer = PackageImporter(str(path), verify=verify)
        assert importer.import_module("mod").VALUE == 1234
        assert importer.load_pickle("res", "obj.pkl")["name"] == "intact"
        assert bytes(importer.load_pickle("res", "buf.pkl")) == b"B" * 256


@pytest.mark.parametrize("record", ["res/t.txt", "res/buf.pkl.oob/0", ".data/extern_modules"])
def test_verify_checks_every_record_at_open(tmp_path, record):
    path = _build(tmp_path / "p.pt")
    _damage(path, record)
    with pytest.raises(CorruptArchiveError, match=_crc_error(path, record)):
        PackageImporter(str(path), verify=True)


def test_verify_on_bytes_and_folders(tmp_path, extract_archive):
    path = _build(tmp_path / "p.pt")
    PackageImporter(path.read_bytes(), verify=True)
    # A folder has no CRCs to check; verify must not refuse it.
    assert PackageImporter(extract_archive(path), verify=True).load_text("res", "t.txt") == (
        "some text")
    _damage(path, "res/t.txt")
    with pytest.raises(CorruptArchiveError, match=r"^archive <buffer>, record res/t.txt: CRC"):
        PackageImporter(path.read_bytes(), verify=True)


def test_out_of_band_buffer_changed_after_open(tmp_path):
    # Unchecked without verify (a mapped view), refused with it on the
    # buffer's first view: the change lands after the CRCs were checked at
    # open, as the pages are mapped from the file only when loaded.
    path = _build(tmp_path / "p.pt")
    plain = PackageImporter(str(path))
    checked = PackageImporter(str(path), verify=True)
    _damage(path, "res/buf.pkl.oob/0")
    assert bytes(plain.load_pickle("res", "buf.pkl")) == b"C" + b"B" * 255
    with pytest.raises(CorruptArchiveError, match=_crc_error(path, "res/buf.pkl.oob/0")):
        checked.load_pickle("res", "buf.pkl")


def _storage_record(path):
    names = [name for name in _core.ArchiveReader(str(path)).records()
             if name.startswith(".data/") and name.endswith(".storage")]
    assert len(names) == 1, names
    return names[0]


def test_changed_tensor_storage(tmp_path):
    torch = pytest.importorskip("torch")
    path = _build(tmp_path / "p.pt", with_tensor=True)
    storage = _storage_record(path)
    plain = PackageImporter(str(path))
    checked = PackageImporter(str(path), verify=True)
    _damage(path, storage)
    # Without verify, mapped storages are not hashed: the change shows.
    expected = torch.arange(64, dtype=torch.int64)
    expected[0] = 1
    assert torch.equal(plain.load_pickle("res", "tensor.pkl"), expected)
    with pytest.raises(CorruptArchiveError, match=_crc_error(path, storage)):
        checked.load_pickle("res", "tensor.pkl")
    with pytest.raises(CorruptArchiveError, match=_crc_error(path, storage)):
        PackageImporter(str(path), verify=True)
