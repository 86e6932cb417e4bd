"""PackageExporter(environment=True) records the Python version, platform
and the distribution and version of every extern; PackageImporter warns
when its environment differs and refuses under strict=True, naming both."""

import importlib.metadata
import platform
import warnings

import pytest

from hermetic import PackageExporter, PackageImporter, _core, scan
from hermetic._environment import (RECORD, EnvironmentMismatchError,
                                   EnvironmentMismatchWarning)


def _package(tmp_path, source_tree):
    source_tree({"envuser.py": "import json\nimport numpy\nimport pytest\nX = 1\n"})
    path = tmp_path / "env.pt"
    with PackageExporter(str(path), environment=True) as exporter:
        exporter.extern(["json", "numpy", "pytest"])
        exporter.save_module("envuser")
    return path


def _record(path):
    return _core.ArchiveReader(str(path)).read(RECORD).decode()


def _rewrite(path, tmp_path, text):
    out = tmp_path / "changed.pt"
    reader = _core.ArchiveReader(str(path))
    writer = _core.ArchiveWriter(str(out))
    for name in reader.records():
        if name in ("byteorder", ".data/serialization_id", ".data/version"):
            continue  # the writer adds its own
        writer.write_record(name, text.encode() if name == RECORD else reader.read(name))
    writer.finish()
    return out


def test_the_record_names_each_extern_and_its_distribution(tmp_path, source_tree):
    lines = _record(_package(tmp_path, source_tree)).splitlines()
    assert lines[0] == f"python {platform.python_version()}"
    assert "extern json stdlib" in lines
    assert f"extern numpy numpy {importlib.metadata.version('numpy')}" in lines
    assert f"extern pytest pytest {importlib.metadata.version('pytest')}" in lines


def test_the_same_environment_loads_without_a_word(tmp_path, source_tree):
    path = _package(tmp_path, source_tree)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PackageImporter(str(path), strict=True).import_module("envuser").X == 1
    assert scan(path).clean


def test_another_version_warns_and_strict_refuses(tmp_path, source_tree):
    path = _package(tmp_path, source_tree)
    text = _record(path).replace(
        f"numpy {importlib.metadata.version('numpy')}", "numpy 1.0.0").replace(
        "extern pytest pytest", "extern pytest no-such-distribution")
    changed = _rewrite(path, tmp_path, text)
    with pytest.warns(EnvironmentMismatchWarning) as caught:
        PackageImporter(str(changed))
    message = str(caught[0].message)
    assert f"numpy 1.0.0 provided numpy; {importlib.metadata.version('numpy')} is installed" \
        in message
    assert "no-such-distribution" in message and "not installed here" in message
    with pytest.raises(EnvironmentMismatchError, match="numpy 1.0.0"):
        PackageImporter(str(changed), strict=True)


def test_another_python_warns(tmp_path, source_tree):
    path = _package(tmp_path, source_tree)
    text = _record(path).replace(f"python {platform.python_version()}", "python 2.7.18")
    with pytest.warns(EnvironmentMismatchWarning, match="Python 2.7.18 made it"):
        PackageImporter(str(_rewrite(path, tmp_path, text)))


def test_off_by_default_and_ignored_by_torch(tmp_path, source_tree):
    path = _package(tmp_path, source_tree)
    plain = tmp_path / "plain.pt"
    with PackageExporter(str(plain)) as exporter:
        exporter.extern("json")
        exporter.save_source_string("m", "import json\n")
    assert RECORD not in _core.ArchiveReader(str(plain)).records()
    torch_package = pytest.importorskip("torch.package")
    assert torch_package.PackageImporter(str(path)).import_module("envuser").X == 1


def test_cli_requirements_pins_the_extern_distributions(tmp_path, source_tree):
    import os
    import shutil
    import subprocess

    cli = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")
    if cli is None:
        pytest.skip("no hermetic CLI")
    path = _package(tmp_path, source_tree)
    done = subprocess.run([cli, "requirements", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == sorted([
        f"numpy=={importlib.metadata.version('numpy')}",
        f"pytest=={importlib.metadata.version('pytest')}"])
    import json

    info = json.loads(subprocess.run([cli, "info", "--json", str(path)], capture_output=True,
                                     text=True, check=True).stdout)
    assert info["environment"]["python"] == platform.python_version()
    assert info["environment"]["requirements"] == done.stdout.splitlines()
    plain = tmp_path / "plain.pt"
    with PackageExporter(str(plain)) as exporter:
        exporter.save_source_string("m", "X = 1\n")
    assert json.loads(subprocess.run([cli, "info", "--json", str(plain)], capture_output=True,
                                     text=True, check=True).stdout)["environment"] is None
    done = subprocess.run([cli, "requirements", str(plain)], capture_output=True, text=True)
    assert done.returncode == 3 and "environment=True" in done.stderr
