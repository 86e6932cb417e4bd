"""Archives hermetic writes load in torch.package's PackageImporter, and
hold the same records as torch.package's own exporter writes for the same
calls."""

import io
import zipfile

import pytest

from hermetic import PackageExporter
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
    # torch 2.13 adds these two framework records; readers ignore them.
    theirs.pop(".data/serialization_id", None)
    theirs.pop("byteorder", None)
    assert list(ours) == list(theirs)


def test_same_sources_and_resources_as_torch(archives):
    ours, theirs = contents(archives[0]), contents(archives[1])
    # Our own mock runtime and stub text; pickles compared by value above.
    skip = {"_mock.py", "exportee/heavy.py"}
    for name, data in ours.items():
        if name in skip or name.endswith(".pkl"):
            continue
        assert data == theirs[name], name


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
