"""Archives written by torch.package 2.13 load in hermetic's PackageImporter,
and packages written by hermetic's exporter load back."""

import io

import pytest

torch = pytest.importorskip("torch")

from hermetic import PackageImporter  # noqa: E402

MODEL_SOURCE = """
import torch
from torch import nn

from .util import scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        return scale(self.linear(x))


class Holder:
    class Payload:
        def __init__(self, tensor, view):
            self.tensor, self.view = tensor, view
"""


@pytest.fixture
def models(source_tree):
    source_tree({"h4models/__init__.py": "", "h4models/net.py": MODEL_SOURCE,
                 "h4models/util.py": "def scale(x):\n    return x * 2\n"})
    import h4models.net

    return h4models.net


@pytest.fixture
def worked_example(torch_export, models, source_tree):
    """Like the spec's worked example (section 1.13)."""
    source_tree({"h4mocked/__init__.py": "X = 1\n"})
    torch.manual_seed(0)
    net = models.Net()
    base = torch.arange(10.0)
    payload = models.Holder.Payload(base, base[2:5])

    def fill(exporter):
        exporter.extern("numpy.**")
        exporter.mock("h4mocked")
        exporter.intern("h4models.**")
        exporter.save_pickle("res", "model.pkl", net)
        exporter.save_pickle("res", "payload.pkl", payload, pickle_protocol=4)
        exporter.save_pickle("res", "sd.pkl", net.state_dict(), pickle_protocol=4)
        exporter.save_text("res", "note.txt", "a note")
        exporter.save_binary("res", "blob.bin", b"\x01\x02\x03")
        exporter.save_source_string("extra.mod", "import h4mocked\nMOCKED = h4mocked.thing\n")

    return torch_export(fill, name="out.pt"), net


def test_module_with_parameters(worked_example):
    path, net = worked_example
    importer = PackageImporter(path)
    loaded = importer.load_pickle("res", "model.pkl")
    assert type(loaded).__module__ == f"{importer.id()}.h4models.net"
    assert isinstance(loaded, torch.nn.Module) and isinstance(loaded.linear, torch.nn.Linear)
    x = torch.ones(4, 3)
    assert torch.equal(loaded(x), net(x))
    state = importer.load_pickle("res", "sd.pkl")
    assert list(state) == ["linear.weight", "linear.bias"]
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_shared_storage_and_nested_class_at_protocol_4(worked_example):
    importer = PackageImporter(worked_example[0])
    payload = importer.load_pickle("res", "payload.pkl")
    assert type(payload).__qualname__ == "Holder.Payload"
    assert torch.equal(payload.view, torch.tensor([2.0, 3.0, 4.0]))
    # One storage within one load ...
    assert payload.view.untyped_storage().data_ptr() == payload.tensor.untyped_storage().data_ptr()
    payload.tensor[3] = -1
    assert payload.view[1] == -1


def test_each_load_gets_its_own_storage(worked_example):
    importer = PackageImporter(worked_example[0])
    first = importer.load_pickle("res", "payload.pkl")
    first.tensor[3] = -1
    again = importer.load_pickle("res", "payload.pkl")
    assert again.view[1] == 3


def test_map_location(worked_example):
    importer = PackageImporter(worked_example[0])
    seen = []

    def locate(storage, location):
        seen.append(location)
        return storage

    state = importer.load_pickle("res", "sd.pkl", map_location=locate)
    assert seen == ["cpu", "cpu"]
    assert state["linear.weight"].device.type == "cpu"
    state = importer.load_pickle("res", "sd.pkl", map_location=torch.device("cpu"))
    assert state["linear.bias"].shape == (2,)


def test_mocks_text_binary_and_externs(worked_example):
    importer = PackageImporter(worked_example[0])
    extra = importer.import_module("extra.mod")
    assert repr(extra.MOCKED) == f"MockedObject({importer.id()}.h4mocked.thing)"
    assert importer.load_text("res", "note.txt") == "a note"
    assert importer.load_binary("res", "blob.bin") == b"\x01\x02\x03"
    assert "torch" in importer.extern_modules
    assert importer.import_module("torch") is torch


def test_same_tree_as_torch(worked_example):
    from torch.package import PackageImporter as TorchImporter

    path = str(worked_example[0])
    assert str(PackageImporter(path).file_structure()) == str(TorchImporter(path).file_structure())


def test_numpy_arrays_through_extern(torch_export):
    np = pytest.importorskip("numpy")
    array = np.arange(6, dtype=np.int32).reshape(2, 3)

    def fill(exporter):
        exporter.extern("numpy.**")
        exporter.save_pickle("res", "arr.pkl", {"a": array})

    loaded = PackageImporter(torch_export(fill)).load_pickle("res", "arr.pkl")
    assert loaded["a"].dtype == np.int32 and (loaded["a"] == array).all()


def test_fx_graph_module_uses_reduce_package(torch_export, models):
    torch.manual_seed(0)
    net = models.Net()
    traced = torch.fx.symbolic_trace(net)

    def fill(exporter):
        exporter.intern("h4models.**")
        exporter.save_pickle("res", "traced.pkl", traced)

    importer = PackageImporter(torch_export(fill))
    loaded = importer.load_pickle("res", "traced.pkl")
    x = torch.randn(2, 3)
    assert isinstance(loaded, torch.fx.GraphModule)
    assert torch.allclose(loaded(x), traced(x))
    # The generated code lives in the package as its own module.
    assert any(name.startswith("fx-generated") for name in importer.modules)


def test_torch_importer_reexport_then_hermetic_load(worked_example, torch_export):
    from torch.package import PackageImporter as TorchImporter
    from torch.package import sys_importer as torch_sys_importer

    first = TorchImporter(str(worked_example[0]))
    net = first.load_pickle("res", "model.pkl")
    path = torch_export(lambda e: e.intern("h4models.**") or e.save_pickle("res", "again.pkl", net),
                        importer=(first, torch_sys_importer))
    loaded = PackageImporter(path).load_pickle("res", "again.pkl")
    x = torch.ones(1, 3)
    assert torch.equal(loaded(x), net(x))


def test_hermetic_export_round_trip(tmp_path, models):
    from hermetic import PackageExporter
    from torch.package import PackageImporter as TorchImporter

    torch.manual_seed(0)
    net = models.Net()
    path = tmp_path / "ours.pt"
    with PackageExporter(path) as exporter:
        exporter.intern("h4models.**")
        exporter.save_pickle("res", "model.pkl", net)
        exporter.save_text("res", "t.txt", "text")
    x = torch.ones(2, 3)
    for importer in (PackageImporter(path), TorchImporter(str(path))):
        assert torch.equal(importer.load_pickle("res", "model.pkl")(x), net(x))
        assert importer.load_text("res", "t.txt") == "text"

    # A hermetic importer as the exporter's importer re-exports its objects.
    first = PackageImporter(path)
    reloaded = first.load_pickle("res", "model.pkl")
    buffer = io.BytesIO()
    from hermetic import sys_importer

    with PackageExporter(buffer, importer=(first, sys_importer)) as exporter:
        exporter.intern("h4models.**")
        exporter.save_pickle("res", "model.pkl", reloaded)
    again = PackageImporter(io.BytesIO(buffer.getvalue())).load_pickle("res", "model.pkl")
    assert torch.equal(again(x), net(x))
    assert type(again) is not type(reloaded)


@pytest.mark.slow
def test_million_small_objects(torch_export, capsys):
    import time

    from torch.package import PackageImporter as TorchImporter

    data = [(i, str(i), float(i)) for i in range(1_000_000)]
    path = torch_export(lambda e: e.save_pickle("res", "big.pkl", data))
    figures = {}
    for label, importer in (("hermetic", PackageImporter(path)), ("torch.package", TorchImporter(str(path)))):
        start = time.perf_counter()
        loaded = importer.load_pickle("res", "big.pkl")
        figures[label] = time.perf_counter() - start
        assert loaded == data
    with capsys.disabled():
        print(f"\nload_pickle of 1e6 small tuples: {figures}, "
              f"speed-up {figures['torch.package'] / figures['hermetic']:.1f}x")
