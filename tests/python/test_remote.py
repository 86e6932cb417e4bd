"""Packages read where they lie (issue 15, item 3): a URL through fsspec
(a range-capable HTTP server on 127.0.0.1, fsspec's memory filesystem) and
seekable file objects are read through seek/readinto: the central directory
and local headers at open, each record when first used, a tensor storage in
one read on first use. Loading one small record from a large package
transfers less than 1 MiB, a tensor about its size, and what is loaded
equals the local load. A file that is cut or changes underneath gives a
HermeticError; a stream that cannot seek is read whole; a local file object
is mapped like its path.

That the reader over a file object accepts and refuses exactly what the
buffer reader does, over the hostile-zip corpus, is checked by
test_zip_differential.py (file_object_disagrees) for every case there.
"""

import io
import sys

import pytest

from range_server import RangeServer

from hermetic import PackageExporter, PackageImporter
from hermetic.errors import (
    CorruptArchiveError,
    HermeticError,
    HermeticIOError,
    UnsupportedError,
)

torch = pytest.importorskip("torch")
fsspec = pytest.importorskip("fsspec")

MiB = 1 << 20
LAYERS = 4
# Elements of one float32 layer: 8 MiB each, a 32 MiB package.
NUMEL = 2 * MiB
CONFIG = "hidden=512\nlayers=4\n"


def _layer(i):
    return torch.arange(NUMEL, dtype=torch.float32) * (i + 1)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    path = tmp_path_factory.mktemp("remote") / "model.pt"
    with PackageExporter(str(path)) as exporter:
        exporter.save_text("model", "config.txt", CONFIG)
        for i in range(LAYERS):
            exporter.save_pickle("model", f"layer{i}.pkl", _layer(i))
    return path


@pytest.fixture
def server(package):
    with RangeServer() as running:
        running.files["model.pt"] = package.read_bytes()
        yield running


class Counting:
    """A seekable binary file object over another that counts the bytes
    read through it."""

    def __init__(self, inner, name="counted.pt"):
        self.inner = inner
        self.name = name
        self.read_bytes = 0

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        return self.inner.seek(offset, whence)

    def tell(self):
        return self.inner.tell()

    def read(self, n=-1):
        data = self.inner.read(n)
        self.read_bytes += len(data)
        return data

    def readinto(self, buffer):
        n = self.inner.readinto(buffer)
        self.read_bytes += n or 0
        return n


def _http_url(server):
    pytest.importorskip("aiohttp")
    return server.url("model.pt")


# --------------------------------------------------------------------------
# Bytes transferred


def test_small_record_over_http_transfers_under_one_mib(server, package):
    url = _http_url(server)
    importer = PackageImporter(url)
    assert importer.filename == url
    assert importer.load_text("model", "config.txt") == CONFIG
    assert server.sent < MiB, f"{server.sent} bytes for one small record"
    assert server.sent < package.stat().st_size / 32


def test_tensor_over_http_fetches_about_its_size(server):
    importer = PackageImporter(_http_url(server))
    importer.load_text("model", "config.txt")
    before = server.sent
    layer = importer.load_pickle("model", "layer2.pkl")
    fetched = server.sent - before
    nbytes = NUMEL * 4
    assert nbytes <= fetched < nbytes + 256 * 1024
    assert torch.equal(layer, _layer(2))


def test_remote_loads_equal_the_local_load(server, package):
    local = PackageImporter(str(package))
    remote = PackageImporter(_http_url(server))
    assert remote.zip_reader.get_all_records() == local.zip_reader.get_all_records()
    for i in range(LAYERS):
        mine = remote.load_pickle("model", f"layer{i}.pkl")
        assert torch.equal(mine, local.load_pickle("model", f"layer{i}.pkl"))
        # A private copy, writable without touching anything else.
        mine[0] = -1.0
    assert torch.equal(remote.load_pickle("model", "layer0.pkl")[1:], _layer(0)[1:])


def test_memory_filesystem_url_and_file_object(package):
    fs = fsspec.filesystem("memory")
    fs.pipe("/remote-test/model.pt", package.read_bytes())
    try:
        by_url = PackageImporter("memory://remote-test/model.pt")
        assert by_url.load_text("model", "config.txt") == CONFIG
        counted = Counting(fs.open("/remote-test/model.pt", "rb"))
        importer = PackageImporter(counted)
        assert importer.load_text("model", "config.txt") == CONFIG
        assert counted.read_bytes < MiB
        before = counted.read_bytes
        assert torch.equal(importer.load_pickle("model", "layer1.pkl"), _layer(1))
        assert NUMEL * 4 <= counted.read_bytes - before < NUMEL * 4 + 256 * 1024
        assert torch.equal(by_url.load_pickle("model", "layer3.pkl"), _layer(3))
    finally:
        fs.rm("/remote-test", recursive=True)


def test_fsspec_file_fetches_every_local_header_in_one_batch(package, monkeypatch):
    fs = fsspec.filesystem("memory")
    fs.pipe("/remote-batch/model.pt", package.read_bytes())
    batches = []
    cat_ranges = type(fs).cat_ranges

    def counted(self, paths, starts, ends, **kwargs):
        batches.append(len(paths))
        return cat_ranges(self, paths, starts, ends, **kwargs)

    monkeypatch.setattr(type(fs), "cat_ranges", counted)
    try:
        counted_file = Counting(fs.open("/remote-batch/model.pt", "rb"))
        counted_file.fs, counted_file.path = fs, "/remote-batch/model.pt"
        importer = PackageImporter(counted_file)
        records = importer.zip_reader.get_all_records()
        assert len(batches) == 1 and 1 <= batches[0] <= len(records) + 1, batches
        # Through the file object: the tail (and directory) only.
        assert counted_file.read_bytes <= 64 * 1024 + 1024
        assert importer.load_text("model", "config.txt") == CONFIG
    finally:
        fs.rm("/remote-batch", recursive=True)


# --------------------------------------------------------------------------
# Files that are cut or change


def test_truncated_remote_file_is_refused(server, package):
    url = _http_url(server)
    server.files["model.pt"] = package.read_bytes()[:-100]
    with pytest.raises(CorruptArchiveError, match="model.pt"):
        PackageImporter(url)


def test_remote_file_changed_after_open_fails_its_crc(server, package):
    importer = PackageImporter(_http_url(server))
    info = {i.name: i for i in importer.zip_reader.archive.record_infos()}
    record = next(name for name in info if name.startswith(".data/") and
                  name.endswith(".storage") and info[name].size == NUMEL * 4)
    changed = bytearray(package.read_bytes())
    changed[info[record].data_offset + 1000] ^= 0xFF
    server.files["model.pt"] = bytes(changed)
    with pytest.raises(CorruptArchiveError, match="CRC-32 mismatch"):
        for i in range(LAYERS):
            importer.load_pickle("model", f"layer{i}.pkl")


def test_remote_file_cut_after_open_is_a_hermetic_error(server, package):
    importer = PackageImporter(_http_url(server))
    server.files["model.pt"] = package.read_bytes()[:MiB]
    with pytest.raises(HermeticError, match="model.pt"):
        importer.load_pickle("model", "layer3.pkl")


def test_file_object_cut_after_open_names_the_file_and_record(package):
    data = io.BytesIO(package.read_bytes())
    counted = Counting(data, name="shrinking.pt")
    importer = PackageImporter(counted)
    data.truncate(MiB)
    with pytest.raises(HermeticIOError, match="shrinking.pt.*shrank"):
        importer.load_pickle("model", "layer3.pkl")


def test_file_object_read_errors_name_the_file(package):
    class Failing(Counting):
        fail = False

        def readinto(self, buffer):
            if self.fail:
                raise OSError("connection reset by peer")
            return super().readinto(buffer)

    failing = Failing(io.BytesIO(package.read_bytes()), name="flaky.pt")
    importer = PackageImporter(failing)
    failing.fail = True
    with pytest.raises(HermeticIOError, match="flaky.pt.*connection reset by peer"):
        importer.load_text("model", "config.txt")


# --------------------------------------------------------------------------
# Which file objects are read where


def test_stream_that_cannot_seek_is_read_whole(package):
    class Stream(Counting):
        def seekable(self):
            return False

    stream = Stream(io.BytesIO(package.read_bytes()))
    importer = PackageImporter(stream)
    assert stream.read_bytes == package.stat().st_size
    assert importer.load_text("model", "config.txt") == CONFIG


def test_local_file_object_is_mapped_not_read(package):
    with open(package, "rb") as f:
        class Mapped(Counting):
            def fileno(self):
                return f.fileno()

        mapped = Mapped(f)
        importer = PackageImporter(mapped)
        assert torch.equal(importer.load_pickle("model", "layer0.pkl"), _layer(0))
        assert mapped.read_bytes == 0
    # The reader holds its own descriptor: closing the file changes nothing.
    assert importer.load_text("model", "config.txt") == CONFIG


def test_url_without_fsspec_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(UnsupportedError, match="needs fsspec"):
        PackageImporter("https://example.invalid/model.pt")


def test_missing_remote_file_is_not_found(server):
    pytest.importorskip("aiohttp")
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        PackageImporter(server.url("absent.pt"))
