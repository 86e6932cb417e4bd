"""hermetic._core.ArchiveWriter / ArchiveReader, and their compatibility with
torch's zip container in both directions."""

import gc
import io
import os
import pathlib
import zipfile

import pytest

from hermetic import _core, errors

RECORDS = [
    ("a.txt", b"hello"),
    ("empty", b""),
    ("b/c.bin", bytes(range(256)) * 3),
    (".data/0.storage", b"\x00" * 63),
    (".data/1.storage", b"\x01" * 64),
    ("res/" + "n" * 120 + ".pkl", b"\x80\x03N." * 17),
]


def write(target, records=RECORDS, **kw):
    w = _core.ArchiveWriter(target, **kw)
    for name, data in records:
        w.write_record(name, data)
    w.finish()
    return w


def test_round_trip_through_a_path(tmp_path):
    path = tmp_path / "model.pt"
    w = write(path)
    assert w.finished and w.archive_name == "model"
    r = _core.ArchiveReader(path)
    assert r.prefix == "model" and r.name == str(path) and not r.is_directory
    assert r.records() == [n for n, _ in RECORDS] + [
        ".data/version", "byteorder", ".data/serialization_id"]
    for name, data in RECORDS:
        assert r.read(name) == data
        assert bytes(r.view(name)) == data
    assert r.read(".data/version") == b"6\n"
    for info in r.record_infos():
        assert info.data_offset % 64 == 0 and info.method == 0
        assert info.size == info.compressed_size
    r.verify()


def test_buffer_and_file_like_targets_and_sources():
    buf = io.BytesIO()
    w = write(buf)
    assert w.archive_name == "archive"
    raw = buf.getvalue()
    for source in (raw, bytearray(raw), memoryview(raw), io.BytesIO(raw)):
        r = _core.ArchiveReader(source)
        assert r.prefix == "archive"
        assert r.read("b/c.bin") == dict(RECORDS)["b/c.bin"]


def test_streamed_record_matches_whole_record():
    whole, streamed = io.BytesIO(), io.BytesIO()
    write(whole, [("big", b"xy" * 5000)])
    w = _core.ArchiveWriter(streamed)
    w.begin_record("big")
    for _ in range(10):
        w.append(b"xy" * 500)
    w.end_record()
    w.finish()
    assert whole.getvalue() == streamed.getvalue()


def test_view_is_copy_on_write_and_outlives_the_reader(tmp_path):
    path = tmp_path / "m.pt"
    write(path)
    before = path.read_bytes()
    r = _core.ArchiveReader(str(path))
    v = r.view("a.txt")
    assert not v.readonly
    v[0] = ord("J")
    r.close()
    del r
    gc.collect()
    assert bytes(v) == b"Jello"
    assert path.read_bytes() == before


@pytest.mark.parametrize("source", ["path", "buffer", "folder"])
def test_record_maps_are_private_per_map_and_outlive_the_reader(tmp_path, source):
    path = tmp_path / "m.pt"
    write(path)
    before = path.read_bytes()
    if source == "path":
        r = _core.ArchiveReader(str(path))
    elif source == "buffer":
        r = _core.ArchiveReader(before)
    else:
        with zipfile.ZipFile(path) as z:
            z.extractall(tmp_path / "unzipped")
            r = _core.ArchiveReader(str(tmp_path / "unzipped" / z.namelist()[0].split("/")[0]))
    first, second = r.map_records(), r.map_records("a.")
    v = first.view("a.txt")
    assert not v.readonly
    v[0] = ord("J")
    assert bytes(first.view("a.txt")) == b"Jello"
    assert bytes(second.view("a.txt")) == b"hello"
    assert bytes(r.view("a.txt")) == b"hello"
    with pytest.raises(errors.NotFoundError, match="b/c.bin"):
        second.view("b/c.bin")
    r.close()
    del r, first
    gc.collect()
    assert bytes(v) == b"Jello"
    assert bytes(second.view("a.txt")) == b"hello"
    assert path.read_bytes() == before


def test_closed_reader_raises_state_error(tmp_path):
    r = _core.ArchiveReader(write(io.BytesIO()) and _archive_bytes())
    r.close()
    with pytest.raises(errors.StateError):
        r.records()


def _archive_bytes(records=RECORDS):
    buf = io.BytesIO()
    write(buf, records)
    return buf.getvalue()


def test_errors_map_to_hermetic_exceptions(tmp_path):
    w = _core.ArchiveWriter(io.BytesIO())
    w.write_record("x", b"1")
    with pytest.raises(errors.InvalidArgumentError, match="duplicate record x"):
        w.write_record("x", b"2")
    with pytest.raises(errors.InvalidArgumentError):
        w.write_record("../evil", b"2")
    with pytest.raises(errors.InvalidArgumentError,
                       match="^invalid file name: .hidden$"):
        _core.ArchiveWriter(tmp_path / ".hidden")
    with pytest.raises(errors.NotFoundError, match="missingdir"):
        _core.ArchiveWriter(tmp_path / "missingdir" / "a.pt")
    with pytest.raises(errors.CorruptArchiveError):
        _core.ArchiveReader(b"not a zip at all, not even close....")
    r = _core.ArchiveReader(_archive_bytes())
    with pytest.raises(errors.NotFoundError, match="nope"):
        r.read("nope")
    with pytest.raises(TypeError):
        _core.ArchiveReader(12)


def test_verify_names_the_damaged_record():
    raw = bytearray(_archive_bytes())
    at = raw.index(b"hello")
    raw[at] ^= 0xFF
    r = _core.ArchiveReader(bytes(raw))
    r.verify("b/c.bin")
    with pytest.raises(errors.CorruptArchiveError, match="record a.txt"):
        r.verify()
    with pytest.raises(errors.CorruptArchiveError, match="a.txt"):
        _core.ArchiveReader(bytes(raw), verify_crc=True).read("a.txt")


def test_record_maps_of_a_checking_reader_check_crcs(tmp_path):
    raw = bytearray(_archive_bytes())
    raw[raw.index(b"hello")] ^= 0xFF
    path = tmp_path / "damaged.pt"
    path.write_bytes(raw)
    record_map = _core.ArchiveReader(str(path), verify_crc=True).map_records()
    assert bytes(record_map.view("b/c.bin")) == bytes(range(256)) * 3
    with pytest.raises(errors.CorruptArchiveError, match="a.txt"):
        record_map.view("a.txt")
    assert bytes(_core.ArchiveReader(str(path)).map_records().view("a.txt"))[1:] == b"ello"


def test_file_target_is_atomic(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    w = _core.ArchiveWriter(path)
    w.write_record("a", b"new")
    assert path.read_bytes() == b"old"
    w.abort()
    assert os.listdir(tmp_path) == ["model.pt"]
    w = _core.ArchiveWriter(path)
    w.write_record("a", b"new")
    del w
    gc.collect()
    assert os.listdir(tmp_path) == ["model.pt"]
    assert path.read_bytes() == b"old"


def test_sink_errors_surface_as_io_errors():
    class Broken:
        def write(self, data):
            raise RuntimeError("disk on fire")

    w = _core.ArchiveWriter(Broken())
    w.write_record("a", b"1")
    with pytest.raises(errors.HermeticIOError, match="disk on fire"):
        w.finish()


def test_unzipped_folder(tmp_path):
    root = tmp_path / "pkg"
    (root / ".data").mkdir(parents=True)
    (root / "m").mkdir()
    (root / ".data" / "extern_modules").write_bytes(b"\n")
    (root / "m" / "x.py").write_bytes(b"x = 1\n")
    r = _core.ArchiveReader(root)
    assert r.is_directory and r.prefix == "pkg"
    assert r.records() == [".data/extern_modules", "m/x.py"]
    assert r.read("m/x.py") == b"x = 1\n"
    assert bytes(r.view("m/x.py")) == b"x = 1\n"


def test_reads_deflated_zips_written_by_zipfile():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("top/a.py", "print('hi')\n" * 100)
        z.writestr("top/b/", "")  # directory entry: not a record
        z.writestr("top/b/c.txt", "c")
    r = _core.ArchiveReader(buf.getvalue(), verify_crc=True)
    assert r.records() == ["a.py", "b/c.txt"]
    assert r.read("a.py") == b"print('hi')\n" * 100
    assert r.record_infos()[0].method == 8
    with pytest.raises(errors.UnsupportedError):
        r.view("a.py")
    r.verify()


# ------------------------------------------------------------ torch interop


def test_our_archives_open_in_torch_and_zipfile(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "ours.pt"
    write(path)
    tr = torch._C.PyTorchFileReader(str(path))
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None  # every CRC checks out
        for name, data in RECORDS:
            assert tr.get_record(name) == data
            assert z.read("ours/" + name) == data
            assert tr.get_record_offset(name) % 64 == 0


def _torch_archive(torch, path, records):
    w = torch._C.PyTorchFileWriter(str(path))
    w.set_min_version(6)
    for name, data in records:
        w.write_record(name, data, len(data))
    w.write_end_of_file()
    return path.read_bytes()


def test_byte_identical_to_torch_writer(tmp_path):
    torch = pytest.importorskip("torch")
    theirs = _torch_archive(torch, tmp_path / "same.pt", RECORDS)
    # Both finalisers append .data/version, "byteorder" and
    # ".data/serialization_id" (derived from the names and CRC-32s).
    ours_path = tmp_path / "ours" / "same.pt"
    ours_path.parent.mkdir()
    write(ours_path, RECORDS)
    assert ours_path.read_bytes() == theirs


def test_byte_identical_to_torch_writer_on_a_buffer(tmp_path):
    torch = pytest.importorskip("torch")
    theirs = io.BytesIO()
    w = torch._C.PyTorchFileWriter(theirs)
    w.set_min_version(6)
    w.write_record("x", b"abc", 3)
    w.write_end_of_file()
    ours = io.BytesIO()
    write(ours, [("x", b"abc")])
    assert ours.getvalue() == theirs.getvalue()


def test_torch_package_archives_open_in_our_reader(tmp_path):
    torch = pytest.importorskip("torch")
    from torch.package import PackageExporter

    path = tmp_path / "pkg.pt"
    with PackageExporter(str(path)) as exp:
        exp.save_source_string("mod", "VALUE = 3\n")
        exp.save_pickle("res", "obj.pkl", {"t": torch.arange(10.0), "x": 1})
        exp.save_text("res", "note.txt", "hi")
        exp.save_binary("res", "blob.bin", b"\x00\x01")
    r = _core.ArchiveReader(path)
    assert r.prefix == "pkg"
    r.verify()
    with zipfile.ZipFile(path) as z:
        names = [n.split("/", 1)[1] for n in z.namelist()]
        assert r.records() == names
        for name in names:
            assert r.read(name) == z.read("pkg/" + name)
            assert bytes(r.view(name)) == z.read("pkg/" + name)
    assert ".data/extern_modules" in names and "res/obj.pkl" in names


@pytest.mark.slow
def test_zip64_record_larger_than_4gib(tmp_path):
    path = tmp_path / "big.pt"
    chunk = memoryview(bytes(64 << 20))
    w = _core.ArchiveWriter(path)
    w.begin_record("huge")
    for _ in range(65):  # 4160 MiB
        w.append(chunk)
    w.end_record()
    w.write_record("after", b"tail")
    w.finish()
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("big/huge").file_size == 65 << 26
        assert z.read("big/after") == b"tail"
        assert z.getinfo("big/after").header_offset > 0xFFFFFFFF
        assert z.testzip() is None
    r = _core.ArchiveReader(path)
    assert r.read("after") == b"tail"
    assert r.record_infos()[0].size == 65 << 26
    r.verify()


def test_concurrent_writers_share_one_python_sink_safely():
    import threading

    buf = io.BytesIO()
    w = _core.ArchiveWriter(buf)

    def work(tag):
        for i in range(50):
            w.write_record(f"{tag}/{i}", bytes([i]) * (i * 9700))
            w.has_record(f"{tag}/{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.finish()
    r = _core.ArchiveReader(buf.getvalue(), verify_crc=True)
    assert len(r.records()) == 100 + 3  # and the framework records
    for tag in "ab":
        for i in range(50):
            assert r.read(f"{tag}/{i}") == bytes([i]) * (i * 9700)
