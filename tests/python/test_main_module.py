"""save_pickle of objects whose classes live in __main__ (hermetic._main_module):
a script, a `python -c` command and notebook cells (simulated as IPython
leaves them: compiled under a cell's file name, registered in linecache)
are packaged as module hermetic_main, every pickled reference is rewritten
to it, and the object loads in a fresh process; without a source the error
says how to fix it."""

import hashlib
import linecache
import os
import pickle
import pickletools
import subprocess
import sys
import textwrap
import types
import zipfile

import pytest

from hermetic import PackageExporter, PackageImporter, sys_importer
from hermetic.errors import MainModuleError

_HERMETIC_PATH = os.path.dirname(os.path.dirname(os.path.abspath(
    __import__("hermetic").__file__)))

# Loads model.pt in a fresh process and prints what the tests compare.
_LOAD = textwrap.dedent("""\
    from hermetic import PackageImporter
    importer = PackageImporter("model.pt")
    obj = importer.load_pickle("model", "model.pkl")
    module = importer.import_module("hermetic_main")
    print(type(obj).__name__, isinstance(obj, module.Model), obj.predict(4.0))
    """)


def _python(args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [_HERMETIC_PATH, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines()


def _pickle_strings(path):
    """Every string a pickle of the archive names globals with (GLOBAL's
    text, the strings STACK_GLOBAL takes)."""
    found = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".pkl"):
                for opcode, arg, _ in pickletools.genops(archive.read(name)):
                    if isinstance(arg, str):
                        found.append(arg)
    return found


def _assert_no_main_or_mangled(path):
    strings = _pickle_strings(path)
    assert any("hermetic_main" in s for s in strings)
    assert not [s for s in strings if "__main__" in s or "<torch_package_" in s]


def _main_source(path):
    with zipfile.ZipFile(path) as archive:
        member, = [n for n in archive.namelist() if n.endswith("/hermetic_main.py")]
        return archive.read(member).decode()


MODEL = """\
import math

SCALE = 3


def helper(value):
    return math.sqrt(value) * SCALE


class Model:
    def __init__(self, weight):
        self.weight = weight

    def predict(self, value):
        return helper(value) * self.weight
"""


def test_script_is_packaged_whole_and_its_main_block_does_not_run_at_load(tmp_path):
    (tmp_path / "train.py").write_text(MODEL + textwrap.dedent("""\

        if __name__ == "__main__":
            with open("main-block-runs.txt", "a") as runs:
                runs.write(__name__ + "\\n")
            from hermetic import PackageExporter
            with PackageExporter("model.pt") as exporter:
                exporter.extern("hermetic.**")
                exporter.save_pickle("model", "model.pkl", Model(2.0))
        """))
    _python(["train.py"], tmp_path)
    assert _main_source(tmp_path / "model.pt") == (tmp_path / "train.py").read_text()
    _assert_no_main_or_mangled(tmp_path / "model.pt")

    loaded = _python(["-c", _LOAD + "print(module.__name__)"], tmp_path)
    assert loaded == ["Model True 12.0", "<torch_package_0>.hermetic_main"]
    # The guard was false when the packaged module ran at load.
    assert (tmp_path / "main-block-runs.txt").read_text() == "__main__\n"


def test_python_c_command_packages_the_definitions_it_needs(tmp_path):
    command = MODEL + textwrap.dedent("""\
        import json
        model = Model(2.0)
        print("trained")
        from hermetic import PackageExporter
        with PackageExporter("model.pt") as exporter:
            exporter.save_pickle("model", "model.pkl", model, pickle_protocol=4)
        """)
    assert _python(["-c", command, "an-argument"], tmp_path) == ["trained"]
    source = _main_source(tmp_path / "model.pt")
    # What the class needs, and none of the command's work or unused imports.
    for needed in ("import math", "SCALE = 3", "def helper", "class Model"):
        assert needed in source
    for left_out in ("import json", "trained", "PackageExporter", "Model(2.0)"):
        assert left_out not in source
    _assert_no_main_or_mangled(tmp_path / "model.pt")
    assert _python(["-c", _LOAD], tmp_path) == ["Model True 12.0"]


def test_run_as_module_keeps_its_real_name(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "scale.py").write_text("SCALE = 3\n")
    (tmp_path / "pkg" / "train.py").write_text(textwrap.dedent("""\
        from .scale import SCALE


        class Model:
            def predict(self, value):
                return value * SCALE


        if __name__ == "__main__":
            from hermetic import PackageExporter
            with PackageExporter("model.pt") as exporter:
                exporter.intern("pkg.**")
                exporter.extern("hermetic.**")
                exporter.save_pickle("model", "model.pkl", Model())
        """))
    _python(["-m", "pkg.train"], tmp_path)
    strings = _pickle_strings(tmp_path / "model.pt")
    assert "pkg.train Model" in strings
    assert not [s for s in strings if "__main__" in s or "hermetic_main" in s]
    os.rename(tmp_path / "pkg", tmp_path / "elsewhere")
    loaded = _python(["-c", textwrap.dedent("""\
        from hermetic import PackageImporter
        importer = PackageImporter("model.pt")
        obj = importer.load_pickle("model", "model.pkl")
        print(isinstance(obj, importer.import_module("pkg.train").Model), obj.predict(2))
        """)], tmp_path)
    assert loaded == ["True 6"]


class _Session:
    """A notebook's kernel as IPython leaves it: __main__ is a module without
    __file__, and each cell's source is in linecache under its file name."""

    def __init__(self, naming):
        self.module = types.ModuleType("__main__")
        self.names = []
        self._naming = naming

    def register(self, cell):
        number = len(self.names) + 1
        digest = hashlib.sha1(cell.encode()).hexdigest()[:12]
        name = self._naming.format(number=number, digest=digest)
        linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
        self.names.append(name)
        return name

    def run(self, cell):
        exec(compile(cell, self.register(cell), "exec"), self.module.__dict__)


@pytest.fixture(params=["<ipython-input-{number}-{digest}>",  # IPython
                        "/tmp/ipykernel_4242/{digest}.py",  # Jupyter's kernel
                        "<python-input-{number}>"])  # Python 3.13's REPL
def session(request, monkeypatch):
    session = _Session(request.param)
    monkeypatch.setitem(sys.modules, "__main__", session.module)
    yield session
    for name in session.names:
        linecache.cache.pop(name, None)


CELLS = [
    "import math\nimport json\nfrom dataclasses import dataclass\nSCALE = 3\n"
    "get_ipython().run_line_magic('matplotlib', 'inline')\n",
    "def helper(value):\n    return math.sqrt(value) * SCALE\n",
    # A first version of the class, redefined below as notebooks do.
    "class Model:\n    pass\n",
    "@dataclass\nclass Model:\n    weight: float\n\n"
    "    def predict(self, value):\n        return helper(value) * self.weight\n",
    "model = Model(2.0)\nprint(json.dumps({'trained': True}))\n",
]


def _session_ran(session, cells=CELLS):
    session.module.get_ipython = lambda: types.SimpleNamespace(
        run_line_magic=lambda *args: None)
    for cell in cells:
        session.run(cell)


@pytest.mark.parametrize("importer", [sys_importer, [sys_importer]],
                         ids=["sys_importer", "ordered"])
def test_notebook_cells_are_packaged_as_the_definitions_pickles_need(
        session, tmp_path, importer):
    _session_ran(session)
    # Cells that shells leave untransformed, which are not Python.
    session.register("%%bash\necho hello\n")
    session.register("!ls\nx = 1\n")
    with PackageExporter(str(tmp_path / "model.pt"), importer=importer) as exporter:
        exporter.save_pickle("model", "model.pkl", session.module.model)
    source = _main_source(tmp_path / "model.pt")
    assert source.index("SCALE = 3") < source.index("def helper") < source.index("@dataclass")
    assert session.names[3] in source  # each statement says which cell it came from
    for left_out in ("json", "get_ipython", "model = Model", "echo hello", "x = 1"):
        assert left_out not in source
    _assert_no_main_or_mangled(tmp_path / "model.pt")
    assert _python(["-c", _LOAD], tmp_path) == ["Model True 12.0"]


def test_the_exporting_cell_is_not_packaged(session, tmp_path):
    _session_ran(session)
    session.module.path = str(tmp_path / "model.pt")
    session.run("from hermetic import PackageExporter\n"
                "with PackageExporter(path) as exporter:\n"
                "    exporter.save_pickle('model', 'model.pkl', model)\n")
    assert "PackageExporter" not in _main_source(tmp_path / "model.pt")
    assert _python(["-c", _LOAD], tmp_path) == ["Model True 12.0"]


def test_every_pickle_of_an_export_shares_one_main_module(session, tmp_path):
    _session_ran(session, CELLS + ["def make(weight):\n    return Model(weight)\n"])
    with PackageExporter(str(tmp_path / "model.pt")) as exporter:
        exporter.save_pickle("model", "model.pkl", session.module.model)
        exporter.save_pickle("model", "make.pkl", session.module.make)
    source = _main_source(tmp_path / "model.pt")
    assert "class Model" in source and "def make" in source
    with PackageImporter(str(tmp_path / "model.pt")) as importer:
        make = importer.load_pickle("model", "make.pkl")
        model = make(1.0)
        assert type(model) is type(importer.load_pickle("model", "model.pkl"))
        assert model.predict(4.0) == 6.0


def test_torch_package_loads_the_archive(session, tmp_path):
    torch_package = pytest.importorskip("torch.package")
    _session_ran(session)
    with PackageExporter(str(tmp_path / "model.pt")) as exporter:
        exporter.save_pickle("model", "model.pkl", session.module.model)
    model = torch_package.PackageImporter(str(tmp_path / "model.pt")).load_pickle(
        "model", "model.pkl")
    assert model.predict(4.0) == 12.0


def test_a_cell_name_of_another_shell_is_found_through_the_code(monkeypatch, tmp_path):
    session = _Session("<my-shell-cell-{number}>")
    monkeypatch.setitem(sys.modules, "__main__", session.module)
    try:
        session.run("class Model:\n    def predict(self, value):\n        return value + 1\n")
        with PackageExporter(str(tmp_path / "model.pt")) as exporter:
            exporter.save_pickle("model", "model.pkl", session.module.Model())
    finally:
        linecache.cache.pop(session.names[0], None)
    assert _python(["-c", _LOAD], tmp_path) == ["Model True 5.0"]


def test_a_session_without_source_says_how_to_fix_it(monkeypatch, tmp_path):
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    # What the standard REPL of Python 3.11 leaves: code, and no source.
    exec(compile("class Model:\n    def predict(self, value):\n        return value\n",
                 "<stdin>", "exec"), main.__dict__)
    path = tmp_path / "model.pt"
    with pytest.raises(MainModuleError) as raised:
        with PackageExporter(str(path)) as exporter:
            exporter.save_pickle("model", "model.pkl", main.Model())
    message = str(raised.value)
    assert "Cannot package Model from __main__" in message
    assert "no copy of its input" in message
    assert "from mymodel import Model" in message
    assert 'exporter.intern("mymodel")' in message
    assert not path.exists()


def test_a_name_no_cell_defines_is_named_in_the_error(session, tmp_path):
    session.run("globals()['Model'] = type('Model', (), {})\n")
    with pytest.raises(MainModuleError, match="none of the session's inputs") as raised:
        with PackageExporter(str(tmp_path / "model.pt")) as exporter:
            exporter.save_pickle("model", "model.pkl", session.module.Model())
    assert "from mymodel import Model" in str(raised.value)


def test_an_externed_main_is_left_to_the_loading_program(session, tmp_path):
    _session_ran(session)
    with PackageExporter(str(tmp_path / "model.pt")) as exporter:
        exporter.extern("__main__")
        exporter.save_pickle("model", "model.pkl", session.module.model)
    assert "__main__ Model" in _pickle_strings(tmp_path / "model.pt")
    with zipfile.ZipFile(tmp_path / "model.pt") as archive:
        assert not [n for n in archive.namelist() if "hermetic_main" in n]
    with PackageImporter(str(tmp_path / "model.pt")) as importer:
        assert importer.load_pickle("model", "model.pkl").predict(4.0) == 12.0


def test_out_of_band_buffers_are_written_once(session, tmp_path):
    _session_ran(session)
    session.run("class Blob:\n    def __init__(self, data):\n        self.data = data\n")
    data = b"x" * 100_000
    blob = session.module.Blob(pickle.PickleBuffer(data))
    with PackageExporter(str(tmp_path / "model.pt")) as exporter:
        exporter.save_pickle("model", "blob.pkl", blob, out_of_band=True)
    with zipfile.ZipFile(tmp_path / "model.pt") as archive:
        sizes = [info.file_size for info in archive.infolist()]
    assert sizes.count(100_000) == 1
    with PackageImporter(str(tmp_path / "model.pt")) as importer:
        loaded = importer.load_pickle("model", "blob.pkl")
        assert type(loaded) is importer.import_module("hermetic_main").Blob
        assert bytes(loaded.data) == data


def test_the_standard_repl_gets_the_fix(tmp_path):
    if sys.version_info >= (3, 13):
        pytest.skip("Python 3.13's REPL keeps its input in linecache")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [_HERMETIC_PATH, os.environ.get("PYTHONPATH", "")]))
    typed = ("class Model:\n    def predict(self, value):\n        return value\n\n"
             "import hermetic\n"
             "exporter = hermetic.PackageExporter('model.pt')\n"
             "exporter.save_pickle('model', 'model.pkl', Model())\n")
    done = subprocess.run([sys.executable, "-i"], input=typed, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "MainModuleError: Cannot package Model from __main__" in done.stderr
    assert "`from mymodel import Model`" in done.stderr
