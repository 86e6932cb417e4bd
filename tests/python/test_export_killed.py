"""Exports killed or failing midway: nothing partial at the destination, an
existing archive there unchanged, and no temporary left behind for good (the
next export to the folder removes those of dead writers)."""

import os
import signal
import subprocess
import sys

import pytest

from hermetic import PackageExporter, PackageImporter

TEMP_MARKER = ".hermetic-tmp-"
CHUNK = 8 << 20
CHUNKS = 4  # 32 MiB written before the kill


def _temporaries(folder):
    return sorted(n for n in os.listdir(folder) if TEMP_MARKER in n)


def _export_small(path, text="original"):
    with PackageExporter(str(path)) as exporter:
        exporter.save_text("res", "t.txt", text)


def _start_large_export(path):
    """A child exporting to `path` that stops, still inside the with-block,
    once CHUNKS chunks are written; returns it when they are."""
    import hermetic

    code = (
        "import sys, time\n"
        "from hermetic import PackageExporter\n"
        f"with PackageExporter({str(path)!r}) as exporter:\n"
        f"    for i in range({CHUNKS}):\n"
        f"        exporter.save_binary('res', f'blob{{i}}', bytes([i]) * {CHUNK})\n"
        "    print('written', flush=True)\n"
        "    time.sleep(120)\n")
    python_dir = os.path.dirname(os.path.dirname(hermetic.__file__))
    env = dict(os.environ, PYTHONPATH=python_dir)
    child = subprocess.Popen([sys.executable, "-c", code], env=env,
                             stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    if line != "written\n":
        child.kill()
        child.wait()
        pytest.fail(f"the exporting child stopped early: {line!r}")
    return child


def _kill(child):
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_killed_export_keeps_existing_archive_and_next_export_cleans_up(tmp_path):
    destination = tmp_path / "model.pt"
    _export_small(destination)
    before = destination.read_bytes()

    child = _start_large_export(destination)
    try:
        (temp,) = _temporaries(tmp_path)
        assert temp.startswith(".model.pt" + TEMP_MARKER)
        # Written as it goes, not held in memory until the end.
        assert os.path.getsize(tmp_path / temp) >= CHUNKS * CHUNK
        # A live writer's temporary survives another export to the folder.
        _export_small(tmp_path / "other.pt")
        assert _temporaries(tmp_path) == [temp]
    finally:
        _kill(child)

    assert destination.read_bytes() == before
    assert _temporaries(tmp_path) == [temp]  # the dead writer's, until...
    _export_small(tmp_path / "next.pt", "next")
    assert _temporaries(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["model.pt", "next.pt", "other.pt"]
    assert destination.read_bytes() == before
    assert PackageImporter(str(destination)).load_text("res", "t.txt") == "original"


def test_killed_export_leaves_no_destination(tmp_path):
    destination = tmp_path / "model.pt"
    _kill(_start_large_export(destination))
    assert not destination.exists()
    # Exporting to the same path again removes the leftover and succeeds.
    _export_small(destination, "again")
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]
    assert PackageImporter(str(destination)).load_text("res", "t.txt") == "again"


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


@pytest.mark.parametrize("existing", [False, True])
def test_exception_inside_with_block_leaves_nothing(tmp_path, existing):
    destination = tmp_path / "model.pt"
    if existing:
        _export_small(destination)
    before = sorted(os.listdir(tmp_path))
    content = destination.read_bytes() if existing else None
    with pytest.raises(RuntimeError, match="cannot pickle this"):
        with PackageExporter(str(destination)) as exporter:
            exporter.save_binary("res", "big", b"\0" * (4 << 20))
            exporter.save_pickle("res", "bad.pkl", _Unpicklable())
    assert sorted(os.listdir(tmp_path)) == before
    if existing:
        assert destination.read_bytes() == content
