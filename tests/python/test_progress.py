"""The exporter's progress line (_progress.py): drawn on a terminal only,
never into a pipe, never with progress=False. The exports run in a child
process whose standard error is a pseudo-terminal or a pipe; nothing is
timed (the child sets QUIET_SECONDS to 0 so the default draws at once)."""

import os
import pty
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import sys
    import hermetic._progress
    from hermetic import PackageExporter
    hermetic._progress.QUIET_SECONDS = 0
    progress = {"auto": None, "on": True, "off": False}[sys.argv[2]]
    with PackageExporter(sys.argv[1], progress=progress) as e:
        e.intern("progmod.**")
        e.intern("progmod")
        e.save_module("progmod.a")
    print("done")
""")


@pytest.fixture
def child_env(tmp_path):
    src = tmp_path / "src" / "progmod"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "a.py").write_text("from progmod import b\n")
    (src / "b.py").write_text("import json\nX = 1\n")
    paths = [str(tmp_path / "src"), *sys.path]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def export_on_pty(tmp_path, env, mode):
    """The bytes the child wrote to its standard error, a terminal."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path / f"{mode}.pt"), mode],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        slave = -1
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out == b"done\n", seen
        return seen
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_progress_is_drawn_on_a_terminal(tmp_path, child_env, mode):
    seen = export_on_pty(tmp_path, child_env, mode).decode()
    assert "\r\x1b[Khermetic: " in seen
    assert "modules scanned" in seen or "writing" in seen
    # The last line stays: the summary, ending the line it drew on.
    assert f"hermetic: exported {mode}.pt: 2 modules" in seen
    assert seen.endswith("\r\n")  # the terminal's newline


def test_progress_false_draws_nothing_on_a_terminal(tmp_path, child_env):
    assert export_on_pty(tmp_path, child_env, "off") == b""


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_nothing_is_drawn_into_a_pipe(tmp_path, child_env, mode):
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "p.pt"), mode],
        capture_output=True, env=child_env, timeout=120)
    assert proc.returncode == 0 and proc.stderr == b""
