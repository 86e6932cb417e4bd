"""PackageImporter on an unzipped package folder."""

import importlib.resources
import os

import pytest

from hermetic import PackageImporter
from hermetic._directory_reader import DirectoryReader


def fill(exporter):
    exporter.save_source_string("pkg", "from .mod import X\n", is_package=True)
    exporter.save_source_string("pkg.mod", "X = 41 + 1\n")
    exporter.save_text("pkg", "a.txt", "alpha")
    exporter.save_pickle("pkg", "obj.pkl", {"k": [1, 2, 3]})


@pytest.fixture
def folder(torch_export, extract_archive):
    return extract_archive(torch_export(fill, name="unzipped_pkg.pt"))


def test_imports_and_loads_from_folder(folder):
    importer = PackageImporter(folder)
    assert importer.filename == os.fspath(folder)
    assert isinstance(importer.zip_reader, DirectoryReader)
    assert importer.zip_reader.directory == os.fspath(folder)
    assert importer.import_module("pkg").X == 42
    assert importer.load_text("pkg", "a.txt") == "alpha"
    assert importer.load_pickle("pkg", "obj.pkl") == {"k": [1, 2, 3]}
    assert importer.import_module("pkg.mod").__file__ == f"{importer.id()}.pkg/mod.py"


def test_folder_records_and_tree(folder):
    importer = PackageImporter(str(folder))
    records = importer.zip_reader.get_all_records()
    assert {"pkg/__init__.py", "pkg/mod.py", "pkg/a.txt", "pkg/obj.pkl"} <= set(records)
    tree = importer.file_structure(include="pkg/**")
    assert str(tree) == (
        f"\u2500\u2500\u2500 {folder}\n"
        "    \u2514\u2500\u2500 pkg\n"
        "        \u251c\u2500\u2500 __init__.py\n"
        "        \u251c\u2500\u2500 a.txt\n"
        "        \u251c\u2500\u2500 mod.py\n"
        "        \u2514\u2500\u2500 obj.pkl\n"
    )


def test_resource_path_is_the_real_file(folder):
    importer = PackageImporter(folder)
    reader = importer.get_resource_reader("pkg")
    path = reader.resource_path("a.txt")
    assert path == os.path.join(folder, "pkg", "a.txt")
    with open(path) as handle:
        assert handle.read() == "alpha"
    with pytest.raises(FileNotFoundError):
        reader.resource_path("absent.txt")
    pkg = importer.import_module("pkg")
    assert (importlib.resources.files(pkg) / "a.txt").read_text() == "alpha"


def test_folder_without_extern_list_is_refused(folder):
    from hermetic import CorruptArchiveError

    os.remove(folder / ".data" / "extern_modules")
    with pytest.raises(CorruptArchiveError, match="extern_modules"):
        PackageImporter(folder)


def test_folder_tree_equals_archive_tree(torch_export, extract_archive):
    # torch hides .data/ of unzipped packages (its glob skips dot-names);
    # hermetic shows a folder exactly like its archive.
    archive = torch_export(fill, name="same_tree.pt")
    folder = extract_archive(archive)
    from_zip = str(PackageImporter(archive).file_structure()).split("\n", 1)[1]
    from_folder = str(PackageImporter(folder).file_structure()).split("\n", 1)[1]
    assert from_folder == from_zip
    assert ".data" in from_folder
