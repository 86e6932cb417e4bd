"""hermetic.analyze and find_file_dependencies (spec section 11)."""

import io
import types

import pytest

from hermetic import PackageExporter, PackagingError, is_from_package
from hermetic.analyze import find_first_use_of_broken_modules, trace_dependencies
from hermetic.find_file_dependencies import find_files_source_depends_on
from packages.export_helpers import fixture_packages, open_package  # noqa: F401


def test_find_first_use_of_broken_modules_gives_the_first_path():
    exporter = PackageExporter(io.BytesIO())
    exporter.intern("exportee.uses_heavy")
    exporter.save_source_string("a", "import exportee.uses_heavy\n")
    exporter.save_source_string("b", "import exportee.heavy\n")
    with pytest.raises(PackagingError) as info:
        exporter.close()
    assert find_first_use_of_broken_modules(info.value) == {
        "exportee.heavy": ["a", "exportee.uses_heavy", "exportee.heavy"]}


def test_find_first_use_of_broken_modules_wants_a_packaging_error():
    with pytest.raises(AssertionError, match="exception must be a PackagingError, got ValueError"):
        find_first_use_of_broken_modules(ValueError())


def test_is_from_package(open_package, tmp_path):
    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter.intern("exportee.**")
        exporter.save_module("exportee.models")
    importer = open_package(path)
    module = importer.import_module("exportee.models")
    assert is_from_package(module)
    assert is_from_package(module.Point(1, 2))
    # Judged by type(obj): a packaged class's type is `type`.
    assert not is_from_package(module.Point)
    assert not is_from_package(types)
    assert not is_from_package(3)


def test_trace_dependencies_reports_modules_of_called_functions():
    from exportee import util
    from exportee.models import Point

    def run(x):
        return Point(x, x).scaled()

    # `run` itself is a local: found neither in globals nor as a method.
    assert sorted(trace_dependencies(run, [(1,), (2,)])) == [
        "exportee.models", "exportee.util"]
    assert trace_dependencies(util.scale, [(3,)]) == ["exportee.util"]


def test_trace_dependencies_restores_the_previous_profiler():
    import sys

    def profiler(frame, event, arg):
        pass

    sys.setprofile(profiler)
    try:
        trace_dependencies(len, [("ab",)])
        assert sys.getprofile() is profiler
    finally:
        sys.setprofile(None)


def test_find_files_source_depends_on_resolves_relative_imports():
    source = "import a.b\nfrom . import x\nfrom ..up import y\nfrom m import *\n"
    assert find_files_source_depends_on(source, "pkg.sub") == [
        ("a.b", None), ("pkg.sub", "x"), ("pkg.up", "y"), ("m", None)]


def test_find_files_source_depends_on_agrees_with_torch():
    torch_deps = pytest.importorskip("torch.package.find_file_dependencies")
    source = (
        "import os.path, a.b as c\n"
        "from .. import sibling\n"
        "from .mod import f, g\n"
        "def h():\n"
        "    from json import decoder\n"
        "    __import__('x.y.z')\n"
        "    __import__('q', globals(), locals(), ['r', '*'])\n"
        "    getattr(__import__('hidden'), 'k')\n")
    assert find_files_source_depends_on(source, "pkg.sub") == \
        torch_deps.find_files_source_depends_on(source, "pkg.sub")
