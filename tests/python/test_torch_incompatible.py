"""Exporter options torch.package cannot read warn, once per exporter, with
hermetic.TorchIncompatibleWarning; options it can read do not. Each verdict
is checked against torch.package itself: the archive that warned fails to
load there, the ones that did not warn load."""

import pickle
import warnings

import numpy
import pytest

import hermetic
from hermetic import PackageExporter, PackageImporter, TorchIncompatibleWarning, _manifest

torch_package = pytest.importorskip("torch.package")


def _export(path, options=None, pickles=1, out_of_band=False, obj=None):
    """Exports `pickles` copies of `obj` (by default one holding a numpy
    array, whose data protocol 5 hands out of band) plus the interned module
    `mod`; returns the TorchIncompatibleWarnings issued."""
    if obj is None:
        obj = {"array": numpy.arange(100), "n": 1}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with PackageExporter(path, **(options or {})) as exporter:
            exporter.intern("mod")
            exporter.extern("numpy.**")
            exporter.save_module("mod")
            for n in range(pickles):
                exporter.save_pickle("res", f"obj{n}.pkl", obj, out_of_band=out_of_band)
    return [w for w in caught if issubclass(w.category, TorchIncompatibleWarning)]


@pytest.fixture
def module(source_tree):
    source_tree({"mod.py": "VALUE = 7\n"})


def test_out_of_band_buffers_warn_once_and_torch_cannot_load_them(tmp_path, module):
    path = tmp_path / "oob.pt"
    caught = _export(path, pickles=2, out_of_band=True)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "'obj0.pkl'" in message and "torch.package cannot load" in message
    assert caught[0].filename == __file__  # points at the save_pickle call
    with pytest.raises(pickle.UnpicklingError, match="out-of-band"):
        torch_package.PackageImporter(str(path)).load_pickle("res", "obj0.pkl")
    loaded = PackageImporter(path).load_pickle("res", "obj1.pkl")
    assert loaded["array"].tolist() == list(range(100))


def test_each_exporter_warns_for_itself(tmp_path, module):
    assert len(_export(tmp_path / "a.pt", out_of_band=True)) == 1
    assert len(_export(tmp_path / "b.pt", out_of_band=True)) == 1


@pytest.mark.parametrize("options, out_of_band, obj, hermetic_record", [
    ({}, False, None, None),
    ({"bytecode": True}, False, None, ".data/bytecode/"),
    ({"manifest": True, "reproducible": True}, False, None, ".data/hermetic/manifest"),
    ({"environment": True}, False, None, ".data/hermetic/environment"),
    ({"sign_with": "a new key"}, False, None, ".data/hermetic/signature"),
    # Protocol 5 with no buffer handed out of band: torch's unpickler reads it.
    ({}, True, {"n": [1, 2, 3]}, None),
], ids=["plain", "bytecode", "manifest", "environment", "signed",
        "out-of-band-without-buffers"])
def test_options_torch_reads_do_not_warn(tmp_path, module, options, out_of_band, obj,
                                         hermetic_record):
    path = tmp_path / "ok.pt"
    if "sign_with" in options:
        options = dict(options, sign_with=_manifest.generate_key()[0])
    assert _export(path, options, out_of_band=out_of_band, obj=obj) == []
    theirs = torch_package.PackageImporter(str(path))
    ours = PackageImporter(path)
    for importer in (theirs, ours):
        assert importer.import_module("mod").VALUE == 7
        loaded = importer.load_pickle("res", "obj0.pkl")
        assert loaded["n"] == (obj or {"n": 1})["n"]
    if hermetic_record:
        # The option did write its record, which torch.package passed over.
        assert any(r.startswith(hermetic_record) for r in hermetic.open(path).records)


def test_warning_is_exported_and_a_user_warning():
    assert issubclass(hermetic.TorchIncompatibleWarning, UserWarning)
    assert "TorchIncompatibleWarning" in hermetic.__all__
