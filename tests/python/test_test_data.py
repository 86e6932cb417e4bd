"""The checked-in test archives can be made again by their scripts."""

import importlib.util
import pathlib
import zipfile

import pytest

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
# The interpreter's version, and the id hashing it with the other records.
VARYING = {"torch_package/.data/serialization_id", "torch_package/.data/python_version"}


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch213_package_is_what_its_script_writes(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.__version__.startswith("2.13."):
        pytest.skip("the archive is torch 2.13's")
    out = tmp_path / "again.pt"
    load_script("make_torch213_package").write(out)
    with zipfile.ZipFile(DATA / "torch213_package.pt") as kept, zipfile.ZipFile(out) as made:
        assert kept.namelist() == made.namelist()
        for name in kept.namelist():
            if name not in VARYING:
                assert kept.read(name) == made.read(name), name
        assert len(made.read("torch_package/.data/serialization_id")) == len(
            kept.read("torch_package/.data/serialization_id"))
