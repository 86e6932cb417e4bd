"""Round trips: what hermetic's PackageExporter writes loads back (with
hermetic's and with torch.package's PackageImporter) as the same code and
objects. The scenarios follow those of PyTorch's save/load tests."""

import io
import pickle
import pickletools

import pytest

from hermetic import PackageExporter, PackageImporter, sys_importer
from packages.export_helpers import fixture_packages, open_package  # noqa: F401


def export(target, fill, importer=sys_importer):
    with PackageExporter(target, importer=importer) as exporter:
        fill(exporter)
    return target


def test_source_file(open_package, tmp_path):
    source = tmp_path / "standalone.py"
    source.write_text("import json\nVALUE = json.dumps([1])\n")
    path = export(tmp_path / "p.pt",
                  lambda e: e.save_source_file("standalone", str(source)))
    assert open_package(path).import_module("standalone").VALUE == "[1]"


def test_source_folder_with_packages_and_relative_imports(open_package, tmp_path):
    folder = tmp_path / "tree"
    (folder / "inner").mkdir(parents=True)
    (folder / "__init__.py").write_text("from .inner.mod import B\nA = B + 1\n")
    (folder / "inner" / "__init__.py").write_text("")
    (folder / "inner" / "mod.py").write_text("from .. import helper\nB = helper.TWO\n")
    (folder / "helper.py").write_text("TWO = 2\n")
    path = export(tmp_path / "p.pt", lambda e: e.save_source_file("tree", str(folder)))
    tree = open_package(path).import_module("tree")
    assert tree.A == 3


def test_source_strings_packages_and_no_dependencies(open_package, tmp_path):
    def fill(exporter):
        exporter.save_source_string("pkg", "from . import child\n", is_package=True)
        exporter.save_source_string("pkg.child", "VALUE = 'child'\n")
        # Not scanned: exportee would otherwise need an action.
        exporter.save_source_string("lonely", "import exportee\n", dependencies=False)

    importer = open_package(export(tmp_path / "p.pt", fill))
    assert importer.import_module("pkg").child.VALUE == "child"
    with pytest.raises(ModuleNotFoundError):
        importer.import_module("lonely")


def test_save_module_packages_and_submodules(open_package, tmp_path):
    def fill(exporter):
        exporter.intern("exportee.**")
        exporter.save_module("exportee")
        exporter.save_module("exportee.sub")

    importer = open_package(export(tmp_path / "p.pt", fill))
    assert importer.import_module("exportee").VERSION == "1.0"
    sub = importer.import_module("exportee.sub")
    assert sub.LEAF == ("leaf", (0, 0))
    assert sub.leaf.__name__.endswith(">.exportee.sub.leaf")


def test_dunder_imports_are_followed_and_unresolvable_ones_ignored(open_package, tmp_path):
    def fill(exporter):
        exporter.intern("exportee.**")
        exporter.save_module("exportee.dunder")
        assert exporter.interned_modules() == ["exportee.dunder", "exportee.util"]

    dunder = open_package(export(tmp_path / "p.pt", fill)).import_module("exportee.dunder")
    assert dunder.RESULT == 42
    assert dunder.load_by_name("json").dumps(1) == "1"


def test_pickled_objects_of_packaged_classes(open_package, tmp_path):
    from exportee.models import Point, make_points

    obj = {"points": make_points(3), "nested": Point.Nested(7), "p": Point(1, 2)}

    def fill(exporter):
        exporter.intern("exportee.**")
        exporter.save_pickle("res", "p3.pkl", obj)
        exporter.save_pickle("res", "p4.pkl", [Point(5, 6)], pickle_protocol=4)

    importer = open_package(export(tmp_path / "p.pt", fill))
    loaded = importer.load_pickle("res", "p3.pkl")
    assert loaded == obj
    assert type(loaded["p"]).__module__.endswith(">.exportee.models")
    assert type(loaded["p"]) is importer.import_module("exportee.models").Point
    assert loaded["p"].scaled() == Point(2, 4)
    assert importer.load_pickle("res", "p4.pkl") == [Point(5, 6)]


def save_models(exporter):
    exporter.intern("exportee.**")
    exporter.save_module("exportee.models")


def test_mismatched_code_from_two_packages_is_refused(tmp_path):
    first = PackageImporter(export(tmp_path / "a.pt", save_models))
    second = PackageImporter(export(tmp_path / "b.pt", save_models))
    obj = second.import_module("exportee.models").Point(1, 2)
    exporter = PackageExporter(io.BytesIO(), importer=first)
    with pytest.raises(pickle.PicklingError, match=(
            r"^Can't pickle <class '(<torch_package_\d+>)\.exportee\.models\.Point'>: \n\n"
            r"The object provided is from '\1\.exportee\.models', which is coming from \1\.\n"
            r"However, when we import '(<torch_package_\d+>)\.exportee\.models', it's coming "
            r"from \2\.\n")):
        exporter.save_pickle("res", "obj.pkl", obj)


def test_no_importer_of_an_ordered_list_knows_the_class(tmp_path):
    first = PackageImporter(export(tmp_path / "a.pt", save_models))
    second = PackageImporter(export(tmp_path / "b.pt", save_models))
    obj = second.import_module("exportee.models").Point(1, 2)
    exporter = PackageExporter(io.BytesIO(), importer=(first, sys_importer))
    with pytest.raises(pickle.PicklingError, match=(
            r"Can't pickle <class '<torch_package_\d+>\.exportee\.models\.Point'>: "
            r"Could not find obj .* in any of the importers")):
        exporter.save_pickle("res", "obj.pkl", obj)


def test_packaged_class_unknown_to_the_sys_importer_is_refused(tmp_path):
    imported = PackageImporter(export(tmp_path / "a.pt", save_models))
    obj = imported.import_module("exportee.models").Point(1, 2)
    exporter = PackageExporter(io.BytesIO())
    with pytest.raises(pickle.PicklingError, match=(
            r"However, when we import 'exportee\.models', it's coming from the current "
            r"Python environment\.")):
        exporter.save_pickle("res", "obj.pkl", obj)


def test_resaving_modules_and_objects_of_a_package(open_package, tmp_path):
    # The first package's util differs from the file on disk: re-saving must
    # take the package's source, not the environment's.
    def fill(exporter):
        exporter.intern("exportee.**")
        exporter.save_source_string(
            "exportee.util", "def scale(value, factor=2):\n    return value * 100\n")
        exporter.save_module("exportee.models")

    first = PackageImporter(export(tmp_path / "a.pt", fill))
    models = first.import_module("exportee.models")
    obj = models.Point(1, 2)

    def refill(exporter):
        exporter.intern("**")
        exporter.save_pickle("res", "obj.pkl", obj)

    second = open_package(export(tmp_path / "b.pt", refill,
                                 importer=(first, sys_importer)))
    loaded = second.load_pickle("res", "obj.pkl")
    assert loaded.scaled() == models.Point(100, 200)
    data = second.load_binary("res", "obj.pkl")
    assert b"torch_package" not in data


def test_modules_using_torch_package_importer(open_package, tmp_path):
    def fill(exporter):
        exporter.intern("exportee.**")
        exporter.save_module("exportee.self_loading")
        exporter.save_text("exportee", "greeting.txt", "hello from inside")

    path = export(tmp_path / "p.pt", fill)
    module = open_package(path).import_module("exportee.self_loading")
    assert module.greeting() == "hello from inside"


def test_resaving_a_module_using_torch_package_importer(open_package, tmp_path):
    def fill(exporter):
        exporter.intern("exportee.**")
        exporter.save_module("exportee.self_loading")

    first = PackageImporter(export(tmp_path / "a.pt", fill))
    first.import_module("exportee.self_loading")

    def refill(exporter):
        exporter.intern("**")
        exporter.save_module("exportee.self_loading")
        exporter.save_text("exportee", "greeting.txt", "second")

    second = open_package(export(tmp_path / "b.pt", refill, importer=(first, sys_importer)))
    assert second.import_module("exportee.self_loading").greeting() == "second"


def test_mocked_modules_and_resaving_them(open_package, tmp_path):
    def fill(exporter):
        exporter.intern("exportee.**", exclude=["exportee.heavy"])
        exporter.mock("exportee.heavy")
        exporter.save_module("exportee.uses_heavy")

    first = PackageImporter(export(tmp_path / "a.pt", fill))
    uses_heavy = first.import_module("exportee.uses_heavy")
    assert uses_heavy.maybe_run(False) == "skipped"
    with pytest.raises(NotImplementedError, match="was mocked out during packaging"):
        uses_heavy.maybe_run(True)

    def refill(exporter):
        exporter.intern("**")
        exporter.save_module("exportee.uses_heavy")

    second = open_package(export(tmp_path / "b.pt", refill, importer=(first, sys_importer)))
    heavy = second.import_module("exportee.heavy")
    assert repr(heavy.run).startswith("MockedObject(<torch_package_")
    assert second.import_module("exportee.uses_heavy").maybe_run(False) == "skipped"


def test_reduce_package_objects(open_package, tmp_path):
    from exportee.reducible import Reducible

    obj = Reducible("payload text", "tag")

    def fill(exporter):
        exporter.intern("exportee.**")
        exporter.save_pickle("res", "r.pkl", {"a": obj, "b": obj})

    importer = open_package(export(tmp_path / "p.pt", fill))
    loaded = importer.load_pickle("res", "r.pkl")
    assert loaded["a"] == obj
    # One reduction per object: both keys load the same object.
    assert loaded["a"] is loaded["b"]


def test_protocol_4_long_names(open_package, source_tree, tmp_path):
    class_name = "C" + "x" * 300
    source_tree({"longnames/__init__.py": f"""
        class {class_name}:
            def __eq__(self, other):
                return type(other).__name__ == type(self).__name__
        """})
    import longnames

    obj = getattr(longnames, class_name)()

    def fill(exporter):
        exporter.intern("longnames")
        exporter.save_pickle("res", "long.pkl", obj, pickle_protocol=4)

    importer = open_package(export(tmp_path / "p.pt", fill))
    data = importer.load_binary("res", "long.pkl")
    assert "BINUNICODE" in {op.name for op, _, _ in pickletools.genops(data)}
    assert importer.load_pickle("res", "long.pkl") == obj


def test_save_module_by_its_mangled_name(open_package, tmp_path):
    first = PackageImporter(export(tmp_path / "a.pt", save_models))
    mangled = first.import_module("exportee.models").__name__
    assert mangled.startswith("<torch_package_")

    def refill(exporter):
        exporter.intern("**")
        exporter.save_module(mangled)
        assert "exportee.models" in exporter.interned_modules()

    second = open_package(export(tmp_path / "b.pt", refill, importer=(first, sys_importer)))
    assert second.import_module("exportee.models").Point(1, 2).scaled().x == 2
