"""Mangling of packaged module names."""

import sys
import types

import pytest

from hermetic._mangling import PackageMangler, demangle, get_mangle_prefix, is_mangled


def test_mangle_and_own_demangle():
    mangler = PackageMangler()
    prefix = mangler.parent_name()
    assert is_mangled(prefix)
    assert mangler.mangle("a.b") == f"{prefix}.a.b"
    assert mangler.demangle(f"{prefix}.a.b") == "a.b"
    assert mangler.demangle("a.b") == "a.b"


def test_each_mangler_has_its_own_prefix_and_leaves_others_alone():
    first, second = PackageMangler(), PackageMangler()
    assert first.parent_name() != second.parent_name()
    foreign = second.mangle("x.y")
    assert first.demangle(foreign) == foreign
    assert demangle(foreign) == "x.y"


def test_module_level_helpers():
    assert is_mangled("<torch_package_12>.a")
    assert is_mangled("<torch_package_0>")
    assert not is_mangled("torch_package_0.a")
    assert not is_mangled("x.<torch_package_0>.a")
    assert demangle("<torch_package_3>.a.b") == "a.b"
    assert demangle("<torch_package_3>") == ""
    assert demangle("plain.name") == "plain.name"
    assert get_mangle_prefix("<torch_package_3>.a.b") == "<torch_package_3>"
    assert get_mangle_prefix("plain.name") == "plain.name"


def test_numbering_is_shared_with_loaded_torch_package(monkeypatch):
    fake = types.ModuleType("torch.package._mangling")
    fake._mangle_index = 1000
    monkeypatch.setitem(sys.modules, "torch.package._mangling", fake)
    ours = PackageMangler()
    assert ours.parent_name() == "<torch_package_1000>"
    assert fake._mangle_index == 1001  # torch's next importer gets a fresh number
    assert PackageMangler().parent_name() == "<torch_package_1001>"


def test_real_torch_and_hermetic_importers_never_share_a_prefix(tmp_path):
    import pytest

    pytest.importorskip("torch")
    from torch.package import PackageExporter
    from torch.package import PackageImporter as TorchImporter

    from hermetic import PackageImporter

    path = tmp_path / "p.pt"
    with PackageExporter(str(path)) as exporter:
        exporter.save_source_string("m", "X = 1\n")
    ids = [PackageImporter(path).id(), TorchImporter(str(path)).id(), PackageImporter(path).id(),
           TorchImporter(str(path)).id()]
    assert len(set(ids)) == 4


def test_names_that_are_not_utf8_survive_demangling():
    # Surrogate escapes (os.fsdecode of a non-UTF-8 file name) round-trip.
    assert demangle("<torch_package_3>.caf\udce9") == "caf\udce9"
    name = "caf\udce9.x"
    assert demangle(name) is name
    assert not is_mangled(name)


def test_the_core_rule_is_the_one_used_here():
    from hermetic import _core

    assert is_mangled is _core.is_mangled and demangle is _core.demangle
    assert not is_mangled("<torch_package_>.a")  # digits are required
    assert not is_mangled("<torch_package_1")  # and the closing bracket


def test_mangling_an_empty_name_is_an_assertion_error_as_in_torch():
    with pytest.raises(AssertionError):
        PackageMangler().mangle("")
    torch_mangling = pytest.importorskip("torch.package._mangling")
    with pytest.raises(AssertionError):
        torch_mangling.PackageMangler().mangle("")
