"""PackageImporter(real_files=...): packages whose code reads its own folder
get real, read-only files in the local cache (python/hermetic/_files.py)."""

import os
import stat
import subprocess
import sys
import textwrap
import traceback

import pytest

from hermetic import PackageExporter, PackageImporter, _core
from hermetic.errors import CorruptArchiveError

LIBRARY = {
    "selfreader/__init__.py": textwrap.dedent("""\
        import json
        import os

        HERE = os.path.dirname(__file__)
        PLUGINS = sorted(name for name in os.listdir(os.path.join(HERE, "plugins"))
                         if not name.startswith("_"))
        with open(os.path.join(HERE, "config.json")) as file:
            CONFIG = json.load(file)


        def fail():
            raise ValueError("from the package")
        """),
    "selfreader/plugins/__init__.py": "",
    "selfreader/plugins/alpha.py": "NAME = 'alpha'\n",
    "selfreader/plugins/beta.py": "NAME = 'beta'\n",
}


def _package(tmp_path, config='{"layers": 3}', name="lib.pt"):
    path = tmp_path / name
    with PackageExporter(str(path)) as exporter:
        exporter.extern(["json", "os"])
        for record, source in LIBRARY.items():
            module = record[: -len(".py")].replace("/", ".").removesuffix(".__init__")
            exporter.save_source_string(module, source, is_package=record.endswith("__init__.py"))
        exporter.save_text("selfreader", "config.json", config)
    return path


def test_without_real_files_the_error_says_how_to_fix_it(tmp_path):
    with PackageImporter(str(_package(tmp_path))) as importer:
        with pytest.raises(FileNotFoundError) as info:
            importer.import_module("selfreader")
    assert "real_files=['selfreader']" in "".join(getattr(info.value, "__notes__", ()))


def test_a_library_that_lists_and_opens_its_own_folder_works(tmp_path):
    with PackageImporter(str(_package(tmp_path)), real_files="selfreader") as importer:
        lib = importer.import_module("selfreader")
        assert lib.PLUGINS == ["alpha.py", "beta.py"]
        assert lib.CONFIG == {"layers": 3}
        assert importer.import_module("selfreader.plugins.beta").NAME == "beta"
        root = os.environ["HERMETIC_FILES_DIR"]
        assert lib.__file__.startswith(root + os.sep)
        assert lib.__file__.endswith(os.path.join("selfreader", "__init__.py"))
        assert lib.__path__ == [os.path.dirname(lib.__file__)]
        # Read-only, byte for byte the archive's records.
        assert not os.stat(lib.__file__).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        with open(lib.__file__) as file:
            assert file.read() == LIBRARY["selfreader/__init__.py"]
        # Tracebacks name the real file and show the line.
        with pytest.raises(ValueError) as info:
            lib.fail()
        text = "".join(traceback.format_exception(info.value))
        assert lib.__file__ in text and 'raise ValueError("from the package")' in text


def test_the_folder_is_written_once_per_content(tmp_path):
    path = _package(tmp_path)
    with PackageImporter(str(path), real_files=True) as first:
        file = first.import_module("selfreader").__file__
    written = os.stat(file).st_mtime_ns
    with PackageImporter(str(path), real_files=True) as second:
        assert second.import_module("selfreader").__file__ == file
    assert os.stat(file).st_mtime_ns == written
    changed = _package(tmp_path, config='{"layers": 4}', name="changed.pt")
    with PackageImporter(str(changed), real_files=True) as third:
        lib = third.import_module("selfreader")
        assert lib.__file__ != file and lib.CONFIG == {"layers": 4}
    leftovers = [n for n in os.listdir(os.environ["HERMETIC_FILES_DIR"]) if n.startswith(".")]
    assert leftovers == []


def test_processes_writing_the_same_folder_at_once_agree(tmp_path):
    path = _package(tmp_path)
    env = dict(os.environ, HERMETIC_FILES_DIR=str(tmp_path / "shared"))
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(_core.__file__)),
                                         env.get("PYTHONPATH", "")])
    code = ("import sys; from hermetic import PackageImporter; "
            "m = PackageImporter(sys.argv[1], real_files=True).import_module('selfreader'); "
            "print(m.__file__, m.PLUGINS)")
    runs = [subprocess.Popen([sys.executable, "-c", code, str(path)], env=env,
                             stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = {run.communicate()[0] for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert len(outputs) == 1 and "['alpha.py', 'beta.py']" in outputs.pop()
    assert [n for n in os.listdir(tmp_path / "shared") if n.startswith(".")] == []


def test_a_record_that_is_both_file_and_folder_is_refused(tmp_path):
    path = str(tmp_path / "clash.pt")
    writer = _core.ArchiveWriter(path)
    writer.write_record(".data/extern_modules", b"\n")
    writer.write_record("clash/__init__.py", b"")
    writer.write_record("clash/data", b"a file")
    writer.write_record("clash/data/inner.txt", b"and a folder")
    writer.finish()
    with PackageImporter(path, real_files=True) as importer:
        with pytest.raises(CorruptArchiveError, match="both a file and a folder"):
            importer.import_module("clash")
    assert [n for n in os.listdir(os.environ["HERMETIC_FILES_DIR"]) if n.startswith(".")] == []
