"""The tutorial (docs/tutorial.md) is true: its code blocks run, in order,
in a copy of examples/tutorial, and print what the page shows.

- a `python` block runs in one interpreter shared by all of them (a
  process started in that folder, as a reader typing them in would); the
  `text` block right after it is its exact stdout, and a block with none
  must print nothing;
- a `python title="F"` block is written to the file F;
- a `console` block runs in bash: `$ ` lines are the commands (`python` is
  this interpreter, `hermetic` the CLI under test), the other lines their
  stdout, and every command must succeed.

In expected output, a line "..." stands for any lines and "..." inside a
line for any text; trailing blank lines are ignored.
`python tests/python/test_docs.py` prints what each block prints now, to
update the page after a deliberate change.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
EXAMPLE = ROOT / "examples" / "tutorial"
CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")

_FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(text):
    """(language, title or None, body) of each fenced block, in order."""
    found = []
    for match in _FENCE.finditer(text):
        title = re.search(r'title="([^"]+)"', match.group(2))
        found.append((match.group(1), title.group(1) if title else None, match.group(3)))
    return found


def steps(text):
    """(kind, code or file name, body, expected output) to run, in order."""
    found = blocks(text)
    result = []
    for i, (language, title, body) in enumerate(found):
        if language == "python" and title:
            result.append(("file", title, body, None))
        elif language == "python":
            following = found[i + 1] if i + 1 < len(found) else None
            expected = following[2] if following and following[0] == "text" else ""
            result.append(("python", None, body, expected))
        elif language == "console":
            commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
            expected = "".join(line + "\n" for line in body.splitlines()
                               if not line.startswith("$ "))
            result.append(("console", None, "\n".join(commands), expected))
    return result


def matches(expected, actual):
    """Whether `actual` is `expected`, "..." standing for anything, and
    trailing blank lines (invisible on the page) aside."""
    expected, actual = expected.rstrip("\n") + "\n", actual.rstrip("\n") + "\n"
    pattern = []
    for line in expected.splitlines(keepends=True):
        if line.rstrip("\n") == "...":
            pattern.append(r"(?:.*\n)*?")
        else:
            pattern.append(".*".join(re.escape(part) for part in line.split("...")))
    return re.fullmatch("".join(pattern), actual) is not None


# The interpreter of the `python` blocks: reads one JSON string of code a
# line, runs it in one namespace, answers with a JSON line of what it printed
# (and the traceback if it raised). A process of its own, so that what the
# tutorial imports (interning numpy imports all of it) stays out of the
# test's process, as it would in the reader's.
_INTERPRETER = """
import contextlib, io, json, sys, traceback
namespace = {"__name__": "__main__"}
for line in sys.stdin:
    out, error = io.StringIO(), None
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(json.loads(line), "docs/tutorial.md", "exec"), namespace)
    except BaseException:
        error = traceback.format_exc()
    sys.__stdout__.write(json.dumps({"out": out.getvalue(), "error": error}) + "\\n")
    sys.__stdout__.flush()
"""


def run(workdir, bin_dir):
    """Runs the tutorial's steps in `workdir`; yields (step, what it printed)."""
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with subprocess.Popen([sys.executable, "-c", _INTERPRETER], cwd=workdir, env=env,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as interpreter:
        try:
            for step in steps(TUTORIAL.read_text()):
                kind, title, body, _ = step
                if kind == "file":
                    (workdir / title).write_text(body)
                    yield step, None
                elif kind == "python":
                    interpreter.stdin.write(json.dumps(body) + "\n")
                    interpreter.stdin.flush()
                    answer = json.loads(interpreter.stdout.readline())
                    assert answer["error"] is None, f"{body}\nraised:\n{answer['error']}"
                    yield step, answer["out"]
                else:
                    done = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=workdir,
                                          env=env, capture_output=True, text=True)
                    assert done.returncode == 0, (
                        f"{body}\nexited {done.returncode}:\n{done.stderr}")
                    yield step, done.stdout
        finally:
            interpreter.stdin.close()


def tutorial_folder(tmp_path):
    """A copy of examples/tutorial to work in, and a folder holding the
    `python` and `hermetic` that console blocks call."""
    workdir = tmp_path / "tutorial"
    shutil.copytree(EXAMPLE, workdir, ignore=shutil.ignore_patterns("__pycache__"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "hermetic").symlink_to(CLI)
    return workdir, bin_dir


def test_tutorial_blocks_print_what_the_page_shows(tmp_path):
    pytest.importorskip("torch")
    if not CLI:
        pytest.skip("the hermetic CLI is not built ($HERMETIC_CLI)")
    checked = 0
    for (kind, _, body, expected), actual in run(*tutorial_folder(tmp_path)):
        if expected is not None:
            assert matches(expected, actual), (
                f"{kind} block:\n{body}\nprinted:\n{actual}\nthe page shows:\n{expected}")
            checked += 1
    # Every kind of block is exercised: the page did not lose its code.
    kinds = {kind for kind, *_ in steps(TUTORIAL.read_text())}
    assert kinds == {"python", "file", "console"}
    assert checked >= 10


def test_expected_output_matching():
    assert matches("a\n...\nd\n", "a\nb\nc\nd\n")
    assert matches("a\n...\nd\n", "a\nd\n")
    assert matches("python   ...\n", "python   3.11.7\n")
    assert not matches("a\nd\n", "a\nb\nd\n")
    assert not matches("a\n", "a\nextra\n")


def test_steps_pair_code_with_its_output():
    page = ("```python\nprint(1)\n```\n```text\n1\n```\n"
            "```python\nx = 2\n```\n"
            "```python title=\"f.py\"\nprint(3)\n```\n"
            "```console\n$ echo hi\nhi\n$ true\n```\n")
    assert steps(page) == [
        ("python", None, "print(1)\n", "1\n"),
        ("python", None, "x = 2\n", ""),
        ("file", "f.py", "print(3)\n", None),
        ("console", None, "echo hi\ntrue", "hi\n"),
    ]


def test_cli_reference_has_every_command_with_its_help():
    """The hook that writes docs/cli.md's reference at build time."""
    pytest.importorskip("mkdocs")
    if not CLI:
        pytest.skip("the hermetic CLI is not built ($HERMETIC_CLI)")
    import importlib.util

    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    top = subprocess.run([CLI, "--help"], capture_output=True, text=True, check=True).stdout
    names = hooks.commands(top)
    assert {"info", "ls", "scan", "verify"} <= set(names)
    page = hooks.reference(CLI)
    for name in names:
        usage = subprocess.run([CLI, name, "--help"], capture_output=True, text=True,
                               check=True).stdout.splitlines()[0]
        assert f"### hermetic {name}\n" in page and usage in page
    # The exit codes every command's help repeats are shown once.
    assert page.count("\nExit codes:\n") == 1
    marked = hooks.on_page_markdown(f"# CLI\n{hooks.MARKER}\n", None, None, None)
    assert marked.startswith("# CLI\n### hermetic\n")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for (kind, _, body, _), actual in run(*tutorial_folder(Path(tmp))):
            print(f"===== {kind}\n{body}\n----- prints\n{actual}")
