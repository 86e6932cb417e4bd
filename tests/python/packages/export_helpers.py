"""Fixtures shared by the export tests: the real modules under this folder
(top-level package `exportee`) become importable, and loaders for archives.
"""

import os
import sys

import pytest

PACKAGES_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def fixture_packages(monkeypatch):
    """Puts `exportee` on sys.path; drops its modules afterwards so that
    tests that mutate them (or import them from packages) stay apart."""
    monkeypatch.syspath_prepend(PACKAGES_DIR)
    yield
    for name in list(sys.modules):
        if name.partition(".")[0] == "exportee":
            del sys.modules[name]


def _torch_importer(source):
    pytest.importorskip("torch")
    from torch.package import PackageImporter

    return PackageImporter(source)


def _hermetic_importer(source):
    from hermetic import PackageImporter

    return PackageImporter(source)


@pytest.fixture(params=["hermetic", "torch"])
def open_package(request):
    """open_package(path or buffer) -> a PackageImporter of hermetic or of
    torch.package (each test runs with both)."""
    if request.param == "torch":
        return _torch_importer
    return _hermetic_importer
