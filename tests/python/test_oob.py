"""Out-of-band buffers of protocol-5 pickles: record naming, alignment,
zero-copy loading, and that none of it needs torch."""

import gc
import os
import pickle
import subprocess
import sys
import zipfile

import pytest

import hermetic
from hermetic import PackageExporter, PackageImporter, _core, _oob
from hermetic.errors import StateError
from process_maps import mapped_ranges


class _Exporter:
    """The part of PackageExporter that BufferWriter uses."""

    def __init__(self, path):
        self.writer = _core.ArchiveWriter(str(path))

    def _write_record(self, name, data):
        self.writer.write_record(name, data)


class _Importer:
    """The part of PackageImporter that load_buffers uses."""

    def __init__(self, path):
        self._reader = _core.ArchiveReader(str(path))


def _save(path, obj, package="pkg.sub", resource="obj.pkl"):
    exporter = _Exporter(path)
    callback = _oob.BufferWriter(exporter, package, resource)
    data = pickle.dumps(obj, protocol=5, buffer_callback=callback)
    count = callback.finish()
    exporter.writer.write_record(f"{package.replace('.', '/')}/{resource}", data)
    exporter.writer.finish()
    return data, count


def _load(path, package="pkg.sub", resource="obj.pkl"):
    importer = _Importer(path)
    buffers = _oob.load_buffers(importer, package, resource)
    data = importer._reader.read(f"{package.replace('.', '/')}/{resource}")
    return pickle.loads(data, buffers=buffers), buffers


def test_buffers_become_numbered_aligned_records(tmp_path):
    path = tmp_path / "a.pt"
    first, second = bytearray(b"x" * 100), bytearray(b"y" * 7)
    data, count = _save(path, [pickle.PickleBuffer(first), pickle.PickleBuffer(second), pickle.PickleBuffer(first)])
    assert count == 3
    assert first not in data  # the bytes went out of band
    reader = _core.ArchiveReader(str(path))
    infos = {info.name: info for info in reader.record_infos()}
    assert [n for n in reader.records() if ".oob/" in n] == [
        "pkg/sub/obj.pkl.oob/0",
        "pkg/sub/obj.pkl.oob/1",
        "pkg/sub/obj.pkl.oob/2",
    ]
    assert reader.read("pkg/sub/obj.pkl.oob/1") == bytes(second)
    for n in range(3):
        info = infos[f"pkg/sub/obj.pkl.oob/{n}"]
        assert info.method == 0
        assert info.data_offset % 64 == 0


def test_round_trip_of_bytearray_and_picklebuffer(tmp_path):
    path = tmp_path / "a.pt"
    obj = {
        "ba": pickle.PickleBuffer(bytearray(b"abc" * 50)),
        "ro": pickle.PickleBuffer(b"readonly bytes"),
        "empty": pickle.PickleBuffer(bytearray()),
        "inband": bytearray(b"pickle keeps bytearrays in band"),
    }
    _save(path, obj)
    loaded, buffers = _load(path)
    assert len(buffers) == 3
    assert bytes(loaded["ba"]) == b"abc" * 50
    assert bytes(loaded["ro"]) == b"readonly bytes"
    assert bytes(loaded["empty"]) == b""
    assert loaded["inband"] == obj["inband"]


def test_no_buffers_gives_none(tmp_path):
    path = tmp_path / "a.pt"
    _, count = _save(path, {"plain": [1, 2, 3]})
    assert count == 0
    assert _oob.load_buffers(_Importer(path), "pkg.sub", "obj.pkl") is None


def test_buffers_of_two_resources_are_kept_apart(tmp_path):
    path = tmp_path / "a.pt"
    exporter = _Exporter(path)
    for resource, payload in (("a.pkl", b"A" * 10), ("b.pkl", b"B" * 20)):
        callback = _oob.BufferWriter(exporter, "p", resource)
        pickle.dumps(pickle.PickleBuffer(payload), protocol=5, buffer_callback=callback)
        callback.finish()
    exporter.writer.finish()
    importer = _Importer(path)
    assert [bytes(b) for b in _oob.load_buffers(importer, "p", "a.pkl")] == [b"A" * 10]
    assert [bytes(b) for b in _oob.load_buffers(importer, "p", "b.pkl")] == [b"B" * 20]


def test_compressed_buffer_records_load_as_copies(tmp_path):
    path, deflated = tmp_path / "a.pt", tmp_path / "deflated.pt"
    _save(path, [pickle.PickleBuffer(bytearray(b"q" * 5000))])
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    loaded, _ = _load(deflated)
    assert bytes(loaded[0]) == b"q" * 5000
    loaded[0][0] = ord("w")  # a private, writable copy


def test_each_load_gets_its_own_buffers(tmp_path):
    path = tmp_path / "a.pt"
    _save(path, [pickle.PickleBuffer(bytearray(b"abc"))])
    importer = _Importer(path)
    first = _oob.load_buffers(importer, "pkg.sub", "obj.pkl")
    first[0][0] = ord("X")
    second = _oob.load_buffers(importer, "pkg.sub", "obj.pkl")
    assert bytes(first[0]) == b"Xbc"
    assert bytes(second[0]) == b"abc"


def test_writer_refuses_buffers_after_finish(tmp_path):
    callback = _oob.BufferWriter(_Exporter(tmp_path / "a.pt"), "p", "r")
    callback.finish()
    with pytest.raises(StateError):
        callback(pickle.PickleBuffer(b"late"))


def test_numpy_arrays_load_zero_copy_and_copy_on_write(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "a.pt"
    c_order = np.arange(1 << 16, dtype=np.float64).reshape(256, 256)
    f_order = np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4))
    _save(path, {"c": c_order, "f": f_order})
    before = path.read_bytes()
    loaded, _ = _load(path)
    np.testing.assert_array_equal(loaded["c"], c_order)
    np.testing.assert_array_equal(loaded["f"], f_order)
    assert loaded["f"].flags.f_contiguous
    address = loaded["c"].__array_interface__["data"][0]
    assert any(start <= address < end for start, end in mapped_ranges(path))
    loaded["c"][:] = -1
    assert path.read_bytes() == before


def test_exporter_and_importer_use_out_of_band_records(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "e.pt"
    array = np.arange(1000, dtype=np.int64)
    with PackageExporter(path) as exporter:
        exporter.extern("numpy.**")
        exporter.save_pickle("res", "arr.pkl", {"a": array, "b": pickle.PickleBuffer(b"zz")}, out_of_band=True)
    with zipfile.ZipFile(path) as z:
        names = [n.split("/", 1)[1] for n in z.namelist()]
    assert "res/arr.pkl.oob/0" in names and "res/arr.pkl.oob/1" in names
    importer = PackageImporter(path)
    loaded = importer.load_pickle("res", "arr.pkl")
    del importer
    gc.collect()
    np.testing.assert_array_equal(loaded["a"], array)
    assert bytes(loaded["b"]) == b"zz"


def test_glue_modules_do_not_import_torch():
    code = "import sys, hermetic._oob, hermetic._tensors; sys.exit('torch' in sys.modules)"
    # The hermetic under test, whether installed or from the source tree.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(hermetic.__file__)))
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
