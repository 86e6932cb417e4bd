"""Archives hermetic writes load in torch.package's PackageImporter, and
hold the same records as torch.package's own exporter writes for the same
calls."""

import io
import sys
import zipfile

import pytest

import hermetic
from hermetic import PackageExporter, PackageImporter, _core
from packages.export_helpers import fixture_packages  # noqa: F401

torch_package = pytest.importorskip("torch.package")


def fill(exporter):
    from exportee.models import Point
    from exportee.reducible import Reducible

    exporter.intern("exportee.**", exclude=["exportee.heavy"])
    exporter.mock("exportee.heavy")
    exporter.extern("numpy.**")
    exporter.save_module("exportee.sub")
    exporter.save_module("exportee.uses_heavy")
    exporter.save_pickle("res", "p3.pkl", {"p": Point(1, 2), "n": Point.Nested(3)})
    exporter.save_pickle("res", "p4.pkl", [Point(3, 4)], pickle_protocol=4)
    exporter.save_pickle("res", "r.pkl", Reducible("data", 1))
    exporter.save_text("res", "note.txt", "some text")
    exporter.save_binary("res", "blob.bin", b"\x00\xff")
    exporter.save_source_string("extra.mod", "import numpy\nVALUE = 5\n")


def contents(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name.partition("/")[2]: zf.read(name) for name in zf.namelist()}


@pytest.fixture
def archives():
    """(hermetic bytes, torch bytes) of the same export."""
    ours = io.BytesIO()
    with PackageExporter(ours) as exporter:
        fill(exporter)
    theirs = io.BytesIO()
    with torch_package.PackageExporter(theirs) as exporter:
        fill(exporter)
    return ours.getvalue(), theirs.getvalue()


def test_torch_loads_every_kind_of_content(archives):
    from exportee.models import Point
    from exportee.reducible import Reducible

    importer = torch_package.PackageImporter(io.BytesIO(archives[0]))
    assert importer.load_pickle("res", "p3.pkl") == {"p": Point(1, 2), "n": Point.Nested(3)}
    assert importer.load_pickle("res", "p4.pkl") == [Point(3, 4)]
    assert importer.load_pickle("res", "r.pkl") == Reducible("data", 1)
    assert importer.load_text("res", "note.txt") == "some text"
    assert importer.load_binary("res", "blob.bin") == b"\x00\xff"
    assert importer.import_module("exportee.sub").LEAF == ("leaf", (0, 0))
    uses_heavy = importer.import_module("exportee.uses_heavy")
    assert uses_heavy.maybe_run(False) == "skipped"
    assert repr(uses_heavy.exportee.heavy.run).endswith(".exportee.heavy.run)")
    with pytest.raises(NotImplementedError):
        uses_heavy.maybe_run(True)
    extra = importer.import_module("extra.mod")
    assert extra.VALUE == 5
    assert extra.numpy is __import__("numpy")


def test_same_records_in_the_same_order_as_torch(archives):
    ours, theirs = contents(archives[0]), contents(archives[1])
    assert list(ours) == list(theirs)
    assert list(ours)[-3:] == [".data/version", "byteorder", ".data/serialization_id"]


def test_same_file_structure_as_torch(archives):
    ours = PackageImporter(io.BytesIO(archives[0])).file_structure()
    theirs = torch_package.PackageImporter(io.BytesIO(archives[1])).file_structure()
    assert str(ours) == str(theirs)
    assert ours.has_file("byteorder") and ours.has_file(".data/serialization_id")
    assert str(PackageImporter(io.BytesIO(archives[0])).file_structure(
        include=["**/*.txt", "byteorder"])) == str(
        torch_package.PackageImporter(io.BytesIO(archives[1])).file_structure(
            include=["**/*.txt", "byteorder"]))


def test_same_sources_and_resources_as_torch(archives):
    ours, theirs = contents(archives[0]), contents(archives[1])
    # Our own mock runtime and stub text; pickles compared by value above;
    # the serialization id hashes all of those (compared where they agree,
    # below).
    skip = {"_mock.py", "exportee/heavy.py", ".data/serialization_id"}
    for name, data in ours.items():
        if name in skip or name.endswith(".pkl"):
            continue
        assert data == theirs[name], name


def fill_identically(exporter):
    """Calls whose every record hermetic writes with torch's bytes."""
    import torch

    exporter.save_source_string("m", "A = 1\n")
    exporter.save_source_string("pkg", "from . import sub\n", is_package=True)
    exporter.save_source_string("pkg.sub", "X = 2\n")
    exporter.save_text("r", "n.txt", "hi")
    exporter.save_binary("r", "b.bin", b"\x00\x01")
    exporter.save_binary("r", "empty.bin", b"")
    exporter.save_pickle("r", "p.pkl", {"a": [1, 2.5, "x"], "t": torch.arange(4.0)})


@pytest.mark.parametrize("target", ["buffer", "path"])
def test_whole_archive_is_byte_identical_to_torch_package(tmp_path, target):
    # byteorder and .data/serialization_id included: the id is torch's own
    # function of the record names and CRC-32s, not a per-process value.
    def export(module, folder):
        if target == "buffer":
            out = io.BytesIO()
            with module.PackageExporter(out) as exporter:
                fill_identically(exporter)
            return out.getvalue()
        path = tmp_path / folder / "model.pt"
        path.parent.mkdir()
        with module.PackageExporter(str(path)) as exporter:
            fill_identically(exporter)
        return path.read_bytes()

    theirs = export(torch_package, "theirs")
    ours = export(hermetic, "ours")
    assert ours == theirs
    assert ours == export(hermetic, "again")
    with zipfile.ZipFile(io.BytesIO(ours)) as zf:
        prefix = zf.namelist()[0].partition("/")[0]
        assert zf.read(prefix + "/byteorder") == sys.byteorder.encode()
        assert len(zf.read(prefix + "/.data/serialization_id")) == 40


def test_reproducible_export_keeps_torchs_serialization_id(tmp_path):
    # The manifest (hermetic's own) follows the framework records and covers
    # them; the id itself is the one torch computes for the records before it.
    a, b = tmp_path / "a" / "m.pt", tmp_path / "b" / "m.pt"
    for path in (a, b):
        path.parent.mkdir()
        with PackageExporter(str(path), manifest=True, reproducible=True) as exporter:
            fill_identically(exporter)
    assert a.read_bytes() == b.read_bytes()
    theirs = io.BytesIO()
    with torch_package.PackageExporter(theirs) as exporter:
        fill_identically(exporter)
    with zipfile.ZipFile(a) as zf:
        names = [n.partition("/")[2] for n in zf.namelist()]
        assert names[-4:] == [".data/version", "byteorder", ".data/serialization_id",
                              ".data/hermetic/manifest"]
        ours_id = zf.read("m/.data/serialization_id")
    assert ours_id == contents(theirs.getvalue())[".data/serialization_id"]
    PackageImporter(str(a), verify=True)  # the manifest covers both records


RECORD_COUNTS = [0, 1, 13, 14, 30, 60, 128, 258, 542, 1110, 2358]


@pytest.mark.parametrize("count", RECORD_COUNTS)
def test_archive_writer_matches_torch_writer_through_every_table_growth(count):
    # torch orders the name half by its hash table's iteration order, which
    # changes each time the table grows (at 13, 29, 59, ... names).
    import torch

    records = [(f"d{i % 7}/{'n' * (i % 19)}{i}.bin", bytes([i % 256]) * (i % 3))
               for i in range(count)]
    theirs = io.BytesIO()
    writer = torch._C.PyTorchFileWriter(theirs)
    writer.set_min_version(6)
    for name, data in records:
        writer.write_record(name, data, len(data))
    writer.write_end_of_file()
    ours = io.BytesIO()
    writer = _core.ArchiveWriter(ours)
    for name, data in records:
        writer.write_record(name, data)
    writer.finish()
    assert ours.getvalue() == theirs.getvalue()


def test_fx_graph_module_and_tensors_load_in_torch():
    torch = pytest.importorskip("torch")
    import torch.fx

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)

        def forward(self, x):
            return torch.relu(self.linear(x)) + 1

    graph_module = torch.fx.symbolic_trace(Model())
    weights = torch.arange(6.0).reshape(2, 3)
    buffer = io.BytesIO()
    with PackageExporter(buffer) as exporter:
        exporter.save_pickle("model", "gm.pkl", graph_module)
        exporter.save_pickle("model", "w.pkl", {"w": weights, "view": weights[1]},
                             pickle_protocol=4)
    importer = torch_package.PackageImporter(io.BytesIO(buffer.getvalue()))
    loaded = importer.load_pickle("model", "gm.pkl")
    x = torch.randn(4, 3)
    assert torch.equal(loaded(x), graph_module(x))
    tensors = importer.load_pickle("model", "w.pkl")
    assert torch.equal(tensors["w"], weights)
    assert tensors["view"].data_ptr() == tensors["w"].data_ptr() + 3 * 4
