"""Shared fixtures of the Python tests.

Archives are written by torch.package (the reference implementation) unless a
test says otherwise, so the importer is checked against real torch output.
"""

import itertools
import sys
import textwrap

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_bytecode_cache(tmp_path_factory):
    """Importers (and the processes tests start) use a bytecode cache of
    this run, never the user's."""
    import os

    saved = os.environ.get("HERMETIC_CACHE_DIR")
    os.environ["HERMETIC_CACHE_DIR"] = str(tmp_path_factory.mktemp("bytecode-cache"))
    yield
    if saved is None:
        del os.environ["HERMETIC_CACHE_DIR"]
    else:
        os.environ["HERMETIC_CACHE_DIR"] = saved


@pytest.fixture(autouse=True, scope="session")
def _private_files_folder(tmp_path_factory):
    """Real files of packages (PackageImporter(real_files=...)) go to a
    folder of this run."""
    import os

    saved = os.environ.get("HERMETIC_FILES_DIR")
    os.environ["HERMETIC_FILES_DIR"] = str(tmp_path_factory.mktemp("package-files"))
    yield
    if saved is None:
        del os.environ["HERMETIC_FILES_DIR"]
    else:
        os.environ["HERMETIC_FILES_DIR"] = saved


@pytest.fixture
def torch_export(tmp_path):
    """build(fill, name=None, importer=None) -> path of an archive that
    torch.package's PackageExporter wrote; fill(exporter) adds the content."""
    pytest.importorskip("torch")
    from torch.package import PackageExporter, sys_importer

    numbers = itertools.count()

    def build(fill, name=None, importer=None):
        path = tmp_path / (name or f"package{next(numbers)}.pt")
        with PackageExporter(str(path), importer=importer or sys_importer) as exporter:
            fill(exporter)
        return path

    return build


@pytest.fixture
def source_tree(tmp_path, monkeypatch):
    """write({relative path: source}) -> folder, put on sys.path.

    Lets a test define real modules (e.g. classes to pickle) that an exporter
    interns. Every module imported from the folder is dropped from
    sys.modules afterwards, so names never leak between tests.
    """
    root = tmp_path / "src"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    top_names = set()

    def write(files):
        for relative, source in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(source))
            top_names.add(relative.split("/")[0].removesuffix(".py"))
        return root

    yield write
    for name in list(sys.modules):
        if name.split(".")[0] in top_names:
            del sys.modules[name]


@pytest.fixture
def zip_archive(tmp_path):
    """build(name, {record: bytes or str}) -> path of a plain zip whose
    records sit under the top-level folder `name`, as in a package. For
    archives torch.package cannot write (broken or hand-made layouts)."""
    import zipfile

    def build(name, records):
        path = tmp_path / f"{name}.pt"
        with zipfile.ZipFile(path, "w") as zf:
            for record, data in records.items():
                zf.writestr(f"{name}/{record}", data)
        return path

    return build


@pytest.fixture
def extract_archive(tmp_path):
    """extract(archive path) -> the unzipped package folder (holding .data/)."""
    import zipfile

    def extract(archive):
        target = tmp_path / "unzipped"
        with zipfile.ZipFile(archive) as zf:
            prefix = zf.namelist()[0].split("/")[0]
            zf.extractall(target)
        return target / prefix

    return extract
