"""hermetic is typed for its users: mypy --strict and pyright's strict mode
accept a user script of the public API (examples/typed/user_script.py),
which also runs, and pyright finds every public symbol's type known."""

import json
import os
import pathlib
import subprocess
import sys

import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "typed" / "user_script.py"


def _env():
    # The hermetic under test (the installed wheel in CI, the source tree
    # with its built _core otherwise), for mypy and the script alike.
    import hermetic

    here = os.path.dirname(os.path.dirname(os.path.abspath(hermetic.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
    # mypy finds an installed package through its py.typed and refuses
    # site-packages on MYPYPATH; the source tree needs MYPYPATH.
    if os.path.basename(here) not in ("site-packages", "dist-packages"):
        env["MYPYPATH"] = here
    return env


def test_mypy_strict_accepts_the_user_script_and_rejects_a_wrong_call(tmp_path):
    pytest.importorskip("mypy")
    wrong = tmp_path / "wrong.py"
    wrong.write_text("from hermetic import PackageImporter\n"
                     "PackageImporter('p.pt').load_pickle('a', 3)\n")
    # One run for both files: mypy's start-up is most of its time.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "mypy-cache"), str(SCRIPT), str(wrong)],
        capture_output=True, text=True, env=_env())
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert errors and all(line.startswith(str(wrong)) for line in errors), done.stdout
    assert any("load_pickle" in line for line in errors), done.stdout


def test_the_user_script_runs(tmp_path):
    import hermetic

    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "p.pt")],
                          capture_output=True, text=True, env=_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{hermetic.__version__} dict"


def _pyright():
    # basedpyright: pyright's checker as a PyPI wheel with its own node (the
    # npm registry, where pyright itself comes from, is out of reach here).
    pyright = shutil.which("basedpyright")
    if pyright is None:
        pytest.skip("basedpyright is not installed (scripts/setup.sh installs it)")
    return pyright


def _hermetic_dir():
    import hermetic

    return os.path.dirname(os.path.dirname(os.path.abspath(hermetic.__file__)))


def test_pyright_strict_accepts_the_user_script_and_rejects_a_wrong_call(tmp_path):
    pyright = _pyright()
    (tmp_path / "user_script.py").write_text(SCRIPT.read_text())
    (tmp_path / "wrong.py").write_text("from hermetic import PackageImporter\n"
                                       "PackageImporter('p.pt').load_pickle('a', 3)\n")
    (tmp_path / "pyrightconfig.json").write_text(
        '{"typeCheckingMode": "strict", "extraPaths": [%s]}' % json.dumps(_hermetic_dir()))
    done = subprocess.run([pyright, "user_script.py", "wrong.py"], cwd=tmp_path,
                          capture_output=True, text=True, env=_env())
    errors = [line for line in done.stdout.splitlines() if " - error: " in line]
    assert errors and all("wrong.py" in line for line in errors), done.stdout
    assert any('"resource"' in line for line in errors), done.stdout


def test_pyright_knows_the_type_of_every_public_symbol(tmp_path):
    pyright = _pyright()
    done = subprocess.run([pyright, "--verifytypes", "hermetic", "--ignoreexternal"],
                          cwd=tmp_path, capture_output=True, text=True, env=_env())
    unknown = [line for line in done.stdout.splitlines() if " - error: " in line]
    assert not unknown, "\n".join(unknown)
    assert "Type completeness score: 100%" in done.stdout, done.stdout
