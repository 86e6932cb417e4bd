"""The hermetic command-line tool (tools/hermetic/main.cc).

The binary is found through $HERMETIC_CLI or on PATH; without it the tests
are skipped."""

import io
import json
import os
import shutil
import subprocess

import pytest

from hermetic import _core

CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")
pytestmark = pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")

RECORDS = {"a.txt": b"hello", "sub/b.bin": bytes(range(200)), "empty": b""}


def run(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True)


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "model.pt"
    w = _core.ArchiveWriter(path)
    for name, data in RECORDS.items():
        w.write_record(name, data)
    w.finish()
    return path


def test_help_documents_every_command_and_the_exit_codes():
    top = run("--help")
    assert top.returncode == 0
    for command in ("ls", "cat", "verify", "extract"):
        assert command in top.stdout.decode()
        sub = run(command, "--help")
        assert sub.returncode == 0
        assert f"usage: hermetic {command}" in sub.stdout.decode()
        assert "Exit codes" in sub.stdout.decode()


def test_usage_errors_exit_2():
    assert run().returncode == 2
    bad = run("frobnicate")
    assert bad.returncode == 2 and b"unknown command" in bad.stderr
    assert run("cat", "only-one-arg").returncode == 2


def test_ls_lists_records_offsets_and_alignment(archive):
    out = run("ls", archive)
    assert out.returncode == 0
    lines = out.stdout.decode().splitlines()
    assert [line.split()[-1] for line in lines[1:]] == [
        "a.txt", "sub/b.bin", "empty", ".data/version"]
    listing = json.loads(run("ls", "--json", archive).stdout)
    assert listing["prefix"] == "model"
    infos = {i.name: i for i in _core.ArchiveReader(archive).record_infos()}
    for rec in listing["records"]:
        info = infos[rec["name"]]
        assert rec["size"] == info.size
        assert rec["data_offset"] == info.data_offset
        assert rec["alignment"] >= 64 and rec["data_offset"] % 64 == 0


def test_cat_prints_the_record_bytes(archive):
    out = run("cat", archive, "sub/b.bin")
    assert out.returncode == 0 and out.stdout == RECORDS["sub/b.bin"]
    missing = run("cat", archive, "nope")
    assert missing.returncode == 3
    assert b"nope" in missing.stderr and missing.stdout == b""


def test_verify_names_the_damaged_record(archive, tmp_path):
    assert run("verify", archive).returncode == 0
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"hello")] ^= 1
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(raw))
    out = run("verify", bad)
    assert out.returncode == 1
    assert b"record a.txt" in out.stderr and b"CRC-32 mismatch" in out.stderr


def test_corrupt_or_missing_archives(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not a zip archive......")
    out = run("ls", junk)
    assert out.returncode == 1 and str(junk).encode() in out.stderr
    assert run("ls", tmp_path / "absent.pt").returncode == 3


def test_extract_writes_every_record(archive, tmp_path):
    dest = tmp_path / "out"
    assert run("extract", archive, dest).returncode == 0
    for name, data in RECORDS.items():
        assert (dest / name).read_bytes() == data
    assert (dest / ".data" / "version").read_bytes() == b"6\n"


def test_extract_refuses_symlinked_directories(archive, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    out = run("extract", archive, dest)
    assert out.returncode == 1
    assert b"refusing to extract sub/b.bin" in out.stderr
    assert list(outside.iterdir()) == []


def test_extract_refuses_symlinked_files(archive, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a.txt").symlink_to(victim)
    out = run("extract", archive, dest)
    assert out.returncode == 1 and b"symbolic link" in out.stderr
    assert victim.read_bytes() == b"precious"


def test_extract_does_not_write_through_hard_links(archive, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    dest = tmp_path / "out"
    dest.mkdir()
    os.link(victim, dest / "a.txt")
    assert run("extract", archive, dest).returncode == 0
    assert victim.read_bytes() == b"precious"
    assert (dest / "a.txt").read_bytes() == b"hello"


def test_extract_rejects_unsafe_names(tmp_path):
    import zipfile

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("p/ok", "1")
        z.writestr("p/../../escape", "2")
    dest = tmp_path / "out"
    out = run("extract", evil, dest)
    assert out.returncode == 1 and b"unsafe record name" in out.stderr
    assert not (tmp_path / "escape").exists()
