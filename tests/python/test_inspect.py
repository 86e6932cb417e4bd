"""hermetic.open: a read-only view of a package whose records, modules,
externs, mocks and tensor metadata agree with what loading it gives, and
which runs nothing of it."""

import pytest

import hermetic
from hermetic import PackageExporter, PackageImporter


def test_open_describes_a_package_without_running_it(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "ran"
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    state = model.state_dict()
    path = tmp_path / "p.pt"
    with PackageExporter(str(path)) as exporter:
        exporter.extern("json")
        exporter.mock("yaml")
        exporter.save_source_string(
            "pkg.code", f"import json, yaml\nopen({str(marker)!r}, 'w').close()\n",
            is_package=True)
        exporter.save_pickle("model", "state.pkl", state)
    with hermetic.open(path) as package:
        assert package.modules == ["pkg.code", "yaml"]
        assert package.mocks == ["yaml/__init__.py"]  # mocked as a package, as torch does
        assert "json" in package.externs
        assert package.pickles == ["model/state.pkl"]
        tensors = {t.name: t for t in package.tensors()}
        assert package.records == PackageImporter(str(path)).zip_reader.get_all_records()
    assert not marker.exists()
    assert list(tensors) == list(state)
    for name, tensor in state.items():
        meta = tensors[name]
        assert meta.known and meta.pickle == "model/state.pkl"
        assert meta.dtype == str(tensor.dtype).removeprefix("torch.")
        assert meta.shape == tuple(tensor.shape) and meta.stride == tuple(tensor.stride())
        assert meta.nbytes == tensor.numel() * tensor.element_size()
        assert meta.storage.startswith(".data/") and meta.storage.endswith(".storage")


def test_open_refuses_what_is_not_an_archive(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(hermetic.CorruptArchiveError):
        hermetic.open(bad)
