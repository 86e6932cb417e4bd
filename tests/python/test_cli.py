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
        "a.txt", "sub/b.bin", "empty", ".data/version", "byteorder",
        ".data/serialization_id"]
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


def _zip(entries):
    """A zip of (full name, stored bytes, method, declared size, crc, flags)
    entries, built by hand (zipfile cannot write a chosen deflate stream)."""
    import struct

    out, cd = bytearray(), bytearray()
    for name, data, method, size, crc, flags in entries:
        name = name.encode() if isinstance(name, str) else name
        head = struct.pack("<HHHHHIIIHH", 20, flags, method, 0, 0, crc,
                           len(data), size, len(name), 0)
        cd += b"PK\x01\x02" + struct.pack("<H", 20) + head + struct.pack(
            "<HHHII", 0, 0, 0, 0, len(out)) + name
        out += b"PK\x03\x04" + head + name + data
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries),
                      len(entries), len(cd), len(out), 0)
    return bytes(out + cd + end)


def _stored(name, data, flags=0x0800):
    import zlib

    return (name, data, 0, len(data), zlib.crc32(data), flags)


def _zero_bomb(mib):
    """(deflate stream, crc) of `mib` MiB of zeros, about 1 KiB per MiB."""
    import zlib

    zeros = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return block * mib + b"\x03\x00", crc


def _peak_rss(*args, stdout=subprocess.DEVNULL):
    """(exit code, stderr, peak RSS in bytes) of one CLI run.

    The peak is the process's VmHWM, polled while it runs (rusage would
    report the forking Python's peak: maxrss survives exec). Polling is
    tight, as a run that fails fast lasts a few milliseconds; a run that
    ended before its first sample is made again."""
    import threading

    for _ in range(20):
        proc = subprocess.Popen([CLI, *map(str, args)], stdout=stdout,
                                stderr=subprocess.PIPE)
        peak = [0]

        def poll():
            while proc.poll() is None:
                try:
                    with open(f"/proc/{proc.pid}/status") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                peak[0] = max(peak[0], int(line.split()[1]) * 1024)
                except OSError:
                    pass

        watcher = threading.Thread(target=poll)
        watcher.start()
        err = proc.stderr.read()
        proc.wait()
        watcher.join()
        if peak[0] > 0:
            return proc.returncode, err, peak[0]
    raise AssertionError(f"{args}: every run ended before its memory was sampled")


def test_ls_escapes_names_for_the_terminal(tmp_path):
    path = tmp_path / "esc.zip"
    path.write_bytes(_zip([_stored("p/a", b"1"),
                           _stored("p/\x1b[2Jred\u202etxt", b"2")]))
    out = run("ls", path)
    assert out.returncode == 0
    assert b"\x1b" not in out.stdout and b"\xe2\x80\xae" not in out.stdout
    assert b"\\x1b[2Jred\\xe2\\x80\\xaetxt" in out.stdout
    listing = run("ls", "--json", path)
    assert b"\x1b" not in listing.stdout
    names = [r["name"] for r in json.loads(listing.stdout)["records"]]
    assert names == ["a", "\\x1b[2Jred\\xe2\\x80\\xaetxt"]
    missing = run("cat", path, "\x1b[31m")
    assert missing.returncode == 3 and b"\x1b" not in missing.stderr
    assert b"\\x1b[31m" in missing.stderr


def test_invalid_utf8_and_nul_names_are_named_escaped(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_zip([_stored("p/a", b"1"), _stored(b"p/x\xff", b"2")]))
    out = run("verify", bad)
    assert out.returncode == 1
    assert b"record p/x\\xff: name is not valid UTF-8" in out.stderr
    nul = tmp_path / "nul.zip"
    nul.write_bytes(_zip([_stored("p/a", b"1"), _stored(b"p/x\x00tail", b"2")]))
    out = run("verify", nul)
    assert out.returncode == 1 and b"p/x\\x00tail" in out.stderr


def test_verify_refuses_an_end_record_that_hides_entries(archive, tmp_path):
    raw = bytearray(archive.read_bytes())
    end = len(raw) - 22
    raw[end + 8:end + 12] = bytes(4)  # 0 entries (classic end record)
    z64 = end - 20 - 56
    raw[z64 + 24:z64 + 40] = bytes(16)  # 0 entries (zip64 end record)
    hidden = tmp_path / "hidden.pt"
    hidden.write_bytes(bytes(raw))
    out = run("verify", hidden)
    assert out.returncode == 1 and b"0 entries" in out.stderr
    assert b"OK" not in out.stdout


def test_verify_refuses_a_second_end_record_in_the_comment(archive, tmp_path):
    import struct

    fake = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, 50, 0, 1000)
    raw = bytearray(archive.read_bytes())
    raw[-2:] = struct.pack("<H", len(fake))
    evil = tmp_path / "evil.pt"
    evil.write_bytes(bytes(raw) + fake)
    out = run("verify", evil)
    assert out.returncode == 1
    assert b"does not end at the end of the file" in out.stderr


def test_cat_and_extract_check_the_crc_and_leave_no_partial_file(tmp_path):
    import zlib

    data = bytes(range(256)) * 64
    good = _stored("p/good.bin", data)
    bad = ("p/sub/bad.bin", data, 0, len(data), zlib.crc32(data) ^ 1, 0x0800)
    path = tmp_path / "crc.zip"
    path.write_bytes(_zip([good, bad]))
    out = run("cat", path, "sub/bad.bin")
    assert out.returncode == 1 and b"record sub/bad.bin: CRC-32" in out.stderr
    dest = tmp_path / "out"
    out = run("extract", path, dest)
    assert out.returncode == 1 and b"CRC-32 mismatch" in out.stderr
    assert (dest / "good.bin").read_bytes() == data
    assert sorted(os.listdir(dest / "sub")) == []  # no file, no temporary


def test_extract_replaces_existing_files_only_once_checked(tmp_path):
    import zlib

    data = b"new contents"
    path = tmp_path / "crc.zip"
    path.write_bytes(_zip([("p/f", data, 0, len(data), zlib.crc32(data) ^ 1,
                            0x0800)]))
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "f").write_bytes(b"old contents")
    assert run("extract", path, dest).returncode == 1
    assert (dest / "f").read_bytes() == b"old contents"
    assert os.listdir(dest) == ["f"]


def _bomb_archive(tmp_path, mib, declared=None):
    stream, crc = _zero_bomb(mib)
    path = tmp_path / "bomb.zip"
    path.write_bytes(_zip([("p/zeros", stream, 8,
                            (mib << 20) if declared is None else declared,
                            crc, 0x0800)]))
    return path


def test_verify_cat_extract_stream_a_bomb_in_bounded_memory(tmp_path):
    mib = 256
    path = _bomb_archive(tmp_path, mib)
    code, err, rss = _peak_rss("verify", path)
    assert code == 0, err
    assert rss < 64 << 20
    with open(os.devnull, "wb") as null:
        code, err, rss = _peak_rss("cat", path, "zeros", stdout=null)
    assert code == 0, err
    assert rss < 64 << 20
    # Declared smaller than it inflates: refused at the declared size.
    small = _bomb_archive(tmp_path, mib, declared=1 << 20)
    dest = tmp_path / "out"
    code, err, rss = _peak_rss("extract", small, dest)
    assert code == 1 and b"inflates past its declared size" in err
    assert rss < 64 << 20
    assert os.listdir(dest) == []


@pytest.mark.slow
def test_verify_streams_a_three_gib_bomb(tmp_path):
    path = _bomb_archive(tmp_path, 3 * 1024 + 1)
    code, err, rss = _peak_rss("verify", path)
    assert code == 0, err
    assert rss < 64 << 20
