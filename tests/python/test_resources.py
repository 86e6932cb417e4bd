"""Resources of a package: load_text/load_binary and importlib.resources."""

import importlib.resources

import pytest

from hermetic import PackageImporter


def fill(exporter):
    exporter.save_source_string("pkg", "", is_package=True)
    exporter.save_source_string("pkg.mod", "X = 1\n")
    exporter.save_text("pkg", "a.txt", "alpha")
    exporter.save_binary("pkg", "b.bin", b"\x00\x01\xff")
    exporter.save_text("pkg.data", "c.txt", "charlie")
    exporter.save_text("res", "note.txt", "resource folder without code")


@pytest.fixture
def importer(torch_export):
    return PackageImporter(torch_export(fill))


def test_load_text_and_binary(importer):
    assert importer.load_text("pkg", "a.txt") == "alpha"
    assert importer.load_binary("pkg", "b.bin") == b"\x00\x01\xff"
    assert importer.load_text("res", "note.txt") == "resource folder without code"
    pkg = importer.import_module("pkg")
    assert importer.load_text(pkg, "a.txt") == "alpha"  # a module works as well as a name
    assert importer.load_text("pkg", "b.bin", errors="replace") == "\x00\x01\ufffd"
    with pytest.raises(FileNotFoundError):
        importer.load_binary("pkg", "absent.txt")


def test_files_api(importer):
    pkg = importer.import_module("pkg")
    root = importlib.resources.files(pkg)
    assert (root / "a.txt").read_text() == "alpha"
    assert root.joinpath("b.bin").read_bytes() == b"\x00\x01\xff"
    assert root.joinpath("data", "c.txt").read_text() == "charlie"
    assert (root / "data/c.txt").is_file()
    assert (root / "data").is_dir() and not (root / "data").is_file()
    assert sorted(child.name for child in root.iterdir()) == ["__init__.py", "a.txt", "b.bin", "data", "mod.py"]
    assert not (root / "absent").is_file() and not (root / "absent").is_dir()
    with pytest.raises(FileNotFoundError):
        (root / "absent").read_bytes()
    with (root / "a.txt").open("rb") as stream:
        assert stream.read() == b"alpha"
    with pytest.raises(ValueError, match="read-only"):
        (root / "a.txt").open("w")


def test_legacy_reader_interface(importer):
    pkg = importer.import_module("pkg")
    reader = importer.get_resource_reader("pkg")
    assert reader.open_resource("a.txt").read() == b"alpha"
    assert reader.is_resource("a.txt") and not reader.is_resource("data")
    assert sorted(reader.contents()) == ["__init__.py", "a.txt", "b.bin", "data", "mod.py"]
    with pytest.raises(FileNotFoundError):
        reader.resource_path("a.txt")  # no real file behind a zip record
    with pytest.warns(DeprecationWarning):
        assert importlib.resources.read_text(pkg, "a.txt") == "alpha"


def test_resource_only_folder_is_an_importable_package(importer):
    res = importer.import_module("res")
    assert res.__path__ == [] and res.__file__ is None
    assert (importlib.resources.files(res) / "note.txt").read_text() == "resource folder without code"


def test_resource_reader_only_for_own_packages(importer, torch_export):
    assert importer.get_resource_reader("no.such.package") is None
    other = PackageImporter(torch_export(fill))
    foreign = other.import_module("pkg")
    assert importer.get_resource_reader("pkg") is not None
    with pytest.raises(ValueError, match="was not imported by this PackageImporter"):
        importer.load_text(foreign, "a.txt")


def test_plain_module_is_not_a_resource_package(importer):
    with pytest.raises(TypeError, match="'pkg.mod' is not a package"):
        importer.load_text("pkg.mod", "a.txt")
    with pytest.raises(TypeError, match="'pkg.mod' is not a package"):
        importer.load_text(importer.import_module("pkg.mod"), "a.txt")
    with pytest.raises(ValueError, match="'data/c.txt' must be only a file name"):
        importer.load_text("pkg", "data/c.txt")
