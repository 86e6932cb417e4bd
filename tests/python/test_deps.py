"""The dependency record (docs/format.md section 12): written by
PackageExporter(graph=True), read by `hermetic deps`, `hermetic info` and
hermetic.open(...).dependency_graph; ignored by torch.package."""

import json
import os
import shutil
import subprocess
import sysconfig
import zipfile

import pytest

import hermetic
from hermetic import PackageExporter, _core
from hermetic.errors import CorruptArchiveError, InvalidArgumentError, NotFoundError

CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")
needs_cli = pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")
RECORD = ".data/hermetic/dependencies"


def run(*args, env=None):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, env=env)


def _program(cli):
    """The CLI's executable itself: a launcher script on PATH (pyenv's shim,
    as CI finds it) needs a PATH to run, and the test empties PATH."""
    with open(cli, "rb") as f:
        if f.read(2) != b"#!":
            return cli
    return os.path.join(sysconfig.get_path("scripts"), "hermetic")


@pytest.fixture
def package(tmp_path, source_tree):
    """A real export: a pickle of app.model.Model, which imports app.util,
    which imports json (extern) and a mocked module; plus a saved module."""
    source_tree({
        "app/__init__.py": "",
        "app/model.py": """
            from app import util
            class Model:
                def __init__(self):
                    self.scale = util.SCALE
        """,
        "app/util.py": """
            import json
            import fancyplot
            SCALE = 2
        """,
        "fancyplot.py": "X = 1\n",
        "tool.py": "import app.util\n",
    })
    import app.model

    path = tmp_path / "pkg.pt"
    with PackageExporter(str(path), graph=True) as e:
        e.intern(["app", "app.**", "tool"])
        e.mock("fancyplot")
        e.save_pickle("model", "model.pkl", app.model.Model())
        e.save_module("tool")
    return path


def test_the_record_holds_the_exporters_graph(package):
    with hermetic.open(package) as p:
        g = p.dependency_graph
        kinds = {n: g.nodes[n]["kind"] for n in g.nodes}
        assert kinds == {"<model.model.pkl>": "pickle", "app.model": "intern",
                         "app.util": "intern", "json": "extern",
                         "fancyplot": "mock", "tool": "intern"}
        assert [n for n in g.nodes if g.nodes[n]["root"]] == ["<model.model.pkl>", "tool"]
        assert set(g.successors("app.util")) == {"json", "fancyplot"}
        assert set(g.predecessors("app.util")) == {"app.model", "tool"}
        # The shortest chain: tool imports app.util directly.
        assert p.why("fancyplot") == ["tool", "app.util", "fancyplot"]
        assert p.why("<model.model.pkl>") == ["<model.model.pkl>"]
        with pytest.raises(InvalidArgumentError):
            p.why("not.a.module")


def test_off_by_default_and_torch_loads_an_archive_with_it(package, tmp_path, source_tree):
    torch_package = pytest.importorskip("torch.package")
    assert "pkg/" + RECORD in zipfile.ZipFile(package).namelist()[-5:]
    imported = torch_package.PackageImporter(str(package))
    assert imported.load_pickle("model", "model.pkl").scale == 2
    assert hermetic.PackageImporter(str(package)).load_pickle("model", "model.pkl").scale == 2
    plain = tmp_path / "plain.pt"
    with PackageExporter(str(plain)) as e:
        e.save_source_string("m", "X = 1\n")
    with hermetic.open(plain) as p:
        assert RECORD not in p.records
        assert p.dependency_graph is None
        with pytest.raises(NotFoundError, match="graph=True"):
            p.why("m")


def test_the_manifest_covers_the_record(tmp_path, source_tree):
    path = tmp_path / "signed.pt"
    with PackageExporter(str(path), graph=True, manifest=True) as e:
        e.save_source_string("m", "import json\n")
    manifest = zipfile.ZipFile(path).read("signed/.data/hermetic/manifest").decode()
    assert f" {RECORD}\n" in manifest
    hermetic.PackageImporter(str(path), verify=True)


def test_a_hostile_record_is_a_corrupt_archive_error():
    with pytest.raises(CorruptArchiveError, match="line 2"):
        _core.parse_dependency_record(b"hermetic-dependencies 1\nnode intern\n", "x.pt")


# --- the CLI -----------------------------------------------------------


@needs_cli
def test_deps_summary_module_and_why(package):
    summary = run("deps", package)
    assert summary.returncode == 0, summary.stderr
    text = summary.stdout.decode()
    assert "6 nodes (3 intern, 1 extern, 1 mock, 1 pickle)" in text
    assert "<model.model.pkl>" in text and "tool" in text

    one = run("deps", package, "app.util")
    assert one.returncode == 0
    lines = one.stdout.decode().splitlines()
    assert lines[0] == "app.util: intern"
    assert lines[1] == "depends on (2):"
    assert {lines[2].split()[0], lines[3].split()[0]} == {"json", "fancyplot"}
    assert lines[4] == "needed by (2):"

    why = run("deps", "--why", "fancyplot", package)
    assert why.returncode == 0
    assert [line.split()[-2:] if "saved" in line else line.split()[-1:]
            for line in why.stdout.decode().splitlines()[1:]] == [
        ["intern", "(saved)"], ["intern"], ["mock"]]
    assert why.stdout.decode().splitlines()[1].split()[0] == "tool"

    as_json = json.loads(run("deps", "--json", "--why", "fancyplot", package).stdout)
    assert as_json == {"module": "fancyplot", "kind": "mock",
                       "chain": ["tool", "app.util", "fancyplot"]}
    module_json = json.loads(run("deps", "--json", package, "app.util").stdout)
    assert sorted(module_json["dependents"]) == ["app.model", "tool"]
    whole = json.loads(run("deps", "--json", package).stdout)
    assert whole["roots"] == ["<model.model.pkl>", "tool"]
    assert len(whole["nodes"]) == 6


@needs_cli
def test_deps_errors(package, tmp_path):
    unknown = run("deps", package, "nope")
    assert unknown.returncode == 3 and b"nope is not in the dependency graph" in unknown.stderr
    plain = tmp_path / "plain.pt"
    with PackageExporter(str(plain)) as e:
        e.save_source_string("m", "X = 1\n")
    missing = run("deps", plain)
    assert missing.returncode == 3
    assert b"does not record its dependency graph" in missing.stderr
    assert b"graph=True" in missing.stderr
    bad = run("deps", "--format", "png", package)
    assert bad.returncode == 2 and b"--format must be text, dot or svg" in bad.stderr
    both = run("deps", "--why", "a", package, "b")
    assert both.returncode == 2


@needs_cli
def test_deps_names_are_escaped(tmp_path):
    path = tmp_path / "odd.pt"
    with PackageExporter(str(path), graph=True) as e:
        e.save_source_string("evil\x1b[31m", "X = 1\n")
    out = run("deps", path).stdout
    assert b"\x1b" not in out and b"evil\\x1b[31m" in out
    dot = run("deps", "--format", "dot", path).stdout
    assert b"\x1b" not in dot and b'"evil\\\\x1b[31m"' in dot


@needs_cli
def test_deps_dot(package):
    dot = run("deps", "--format", "dot", package)
    assert dot.returncode == 0
    text = dot.stdout.decode()
    assert text.startswith("digraph dependencies {")
    assert '"app.util" -> "json" [color="#c8c8c8"];' in text  # light: an extern
    assert '"app.model" -> "app.util";' in text
    assert "subgraph cluster_" in text  # app's modules boxed together
    why = run("deps", "--format", "dot", "--why", "fancyplot", package).stdout.decode()
    assert '"tool" -> "app.util";' in why and '"app.model"' not in why


@needs_cli
def test_deps_dot_groups_a_large_graph_by_package(tmp_path, source_tree):
    files = {"big/__init__.py": ""}
    for i in range(150):
        files[f"big/sub{i % 3}/m{i}.py"] = "import json\n"
    for s in range(3):
        files[f"big/sub{s}/__init__.py"] = ""
    source_tree(files)
    path = tmp_path / "big.pt"
    with PackageExporter(str(path), graph=True) as e:
        e.intern("big.**")
        e.intern("big")
        for i in range(150):
            e.save_module(f"big.sub{i % 3}.m{i}")
    text = run("deps", "--format", "dot", path).stdout.decode()
    assert '"big.sub1" [label="big.sub1 (50)"' in text
    assert '"big.sub1.m1"' not in text


@needs_cli
def test_deps_svg_or_a_clear_message(package, tmp_path):
    if shutil.which("dot") is not None:
        svg = run("deps", "--format", "svg", package)
        assert svg.returncode == 0, svg.stderr
        assert b"<svg" in svg.stdout and b"app.util" in svg.stdout
    env = dict(os.environ, PATH=str(tmp_path))  # no dot on this PATH
    missing = subprocess.run([_program(CLI), "deps", "--format", "svg", str(package)],
                             capture_output=True, env=env)
    assert missing.returncode == 4
    assert b"needs Graphviz's 'dot' program" in missing.stderr
    assert missing.stdout == b""


@needs_cli
def test_info_says_whether_the_graph_is_recorded(package, tmp_path):
    assert b"graph recorded, 6 nodes, " in run("info", package).stdout
    info = json.loads(run("info", "--json", package).stdout)
    assert info["dependency_graph"]["recorded"] is True
    assert info["dependency_graph"]["nodes"] == 6
    plain = tmp_path / "plain.pt"
    with PackageExporter(str(plain)) as e:
        e.save_source_string("m", "X = 1\n")
    assert b"graph not recorded" in run("info", plain).stdout
    scan = run("scan", "--json", package)
    assert b"record.unknown" not in scan.stdout
