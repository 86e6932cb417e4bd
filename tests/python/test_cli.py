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
    for command in ("info", "ls", "tree", "tensors", "deps", "diff", "cat", "verify", "extract", "scan",
                    "keygen", "sign", "version"):
        assert command in top.stdout.decode()
        sub = run(command, "--help")
        assert sub.returncode == 0
        assert f"usage: hermetic {command}" in sub.stdout.decode()
        assert "Exit codes" in sub.stdout.decode()


def test_usage_errors_exit_2_and_say_what_was_wrong(archive):
    none = run()
    assert none.returncode == 2 and b"missing COMMAND" in none.stderr
    bad = run("frobnicate")
    assert bad.returncode == 2 and b"unknown command 'frobnicate'" in bad.stderr
    cases = {
        ("cat", "only-one-arg"): b"hermetic cat: missing RECORD",
        ("ls", "--frob", archive): b"hermetic ls: unknown option '--frob'",
        ("ls", archive, "a", "b"): b"hermetic ls: unexpected argument 'b'",
        ("ls", "--kind", "nonsense", archive): b"hermetic ls: unknown kind 'nonsense'",
        ("ls", "--kind"): b"hermetic ls: option --kind needs a value",
        ("verify", archive, "--key"): b"hermetic verify: option --key needs a value",
        ("extract", archive): b"hermetic extract: missing DIR",
        ("sign", archive): b"hermetic sign: missing --key KEY",
        ("keygen",): b"hermetic keygen: missing KEY",
        ("info",): b"hermetic info: missing ARCHIVE",
        ("tree", "--include", "a**", archive): b"hermetic tree: bad pattern",
    }
    for args, message in cases.items():
        out = run(*args)
        assert out.returncode == 2, args
        err = out.stderr.decode()
        # What was wrong first, then the command's usage.
        assert err.startswith(message.decode()), (args, err)
        assert f"usage: hermetic {args[0]}" in err, args
        assert out.stdout == b""


def test_version_and_python_m_hermetic_run_the_same_cli():
    from hermetic import _core  # noqa: F401  (the build this CLI belongs to)
    import re
    import sys

    pyproject = open(os.path.join(os.path.dirname(__file__), "..", "..",
                                  "pyproject.toml")).read()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    for args in (("--version",), ("version",)):
        out = run(*args)
        assert out.returncode == 0 and out.stdout == f"hermetic {version}\n".encode()
    assert json.loads(run("version", "--json").stdout) == {"version": version}
    env = dict(os.environ, HERMETIC_CLI=CLI,
               PYTHONPATH=os.pathsep.join(sys.path))
    py = subprocess.run([sys.executable, "-m", "hermetic", "--version"],
                        capture_output=True, env=env)
    assert py.returncode == 0 and py.stdout == f"hermetic {version}\n".encode()
    # Arguments and exit codes pass through unchanged.
    py = subprocess.run([sys.executable, "-m", "hermetic", "cat", "x"],
                        capture_output=True, env=env)
    assert py.returncode == 2 and b"hermetic cat: missing RECORD" in py.stderr
    missing = dict(env, HERMETIC_CLI="/nonexistent/hermetic")
    py = subprocess.run([sys.executable, "-m", "hermetic", "--version"],
                        capture_output=True, env=missing)
    assert py.returncode == 4 and b"cannot run /nonexistent/hermetic" in py.stderr


def test_ls_lists_records_offsets_and_alignment(archive):
    out = run("ls", archive)
    assert out.returncode == 0
    lines = out.stdout.decode().splitlines()
    assert [line.split()[-1] for line in lines[1:-1]] == [
        "a.txt", "sub/b.bin", "empty", ".data/version", "byteorder", ".data/serialization_id"]
    assert [line.split()[5] for line in lines[1:-1]] == [
        "resource", "resource", "resource", "framework", "framework", "framework"]
    assert lines[-1].split()[:3] == ["253", "253", "total:"]
    assert "6 records, 253 B" in lines[-1]
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
    # Nothing is left: not the good record, not the folders, not DIR.
    assert not dest.exists()


def test_a_failed_extract_removes_only_what_it_created(tmp_path):
    import zlib

    data = b"payload"
    bad = ("p/new/deep/bad.bin", data, 0, len(data), zlib.crc32(data) ^ 1, 0x0800)
    path = tmp_path / "crc.zip"
    path.write_bytes(_zip([_stored("p/keep.txt", b"new"),
                           _stored("p/old/added.txt", b"added"),
                           _stored("p/fresh.txt", b"fresh"), bad]))
    dest = tmp_path / "out"
    (dest / "old").mkdir(parents=True)
    (dest / "keep.txt").write_bytes(b"mine")
    (dest / "old" / "other").write_bytes(b"other")
    out = run("extract", path, dest)
    assert out.returncode == 1 and b"record new/deep/bad.bin" in out.stderr
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "keep.txt", "old", "old/other"]
    assert (dest / "keep.txt").read_bytes() == b"mine"
    # A refusal half-way (a symbolic link in DIR) rolls back as well.
    (tmp_path / "elsewhere").mkdir()
    (dest / "new").symlink_to(tmp_path / "elsewhere")
    out = run("extract", path, dest)
    assert out.returncode == 1 and b"refusing to extract new/deep/bad.bin" in out.stderr
    assert sorted(os.listdir(dest)) == ["keep.txt", "new", "old"]
    assert os.listdir(tmp_path / "elsewhere") == []


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
    assert not dest.exists()


@pytest.mark.slow
def test_verify_streams_a_three_gib_bomb(tmp_path):
    path = _bomb_archive(tmp_path, 3 * 1024 + 1)
    code, err, rss = _peak_rss("verify", path)
    assert code == 0, err
    assert rss < 64 << 20


# --- info, ls kinds and filters, tree -----------------------------------

@pytest.fixture
def package(tmp_path, source_tree):
    """An archive the exporter wrote, with a record of every common kind:
    interned modules, a mocked one, stdlib externs, a pickle, a resource, a
    resource that is a pickle, and a manifest."""
    import pickle

    from hermetic import PackageExporter

    source_tree({
        "pkgx/__init__.py": "import json\nimport mockedmod\nfrom pkgx import sub\n"
                            "class Thing:\n    pass\n",
        "pkgx/sub.py": "VALUE = 1\n",
        "mockedmod.py": "X = 1\n",
    })
    import pkgx

    path = tmp_path / "pkg.pt"
    with PackageExporter(str(path), manifest=True) as e:
        e.intern("pkgx.**")
        e.mock("mockedmod")
        e.save_pickle("res", "thing.pkl", pkgx.Thing())
        e.save_text("res", "notes.txt", "hello")
        e.save_binary("res", "data.bin", pickle.dumps([1, 2], protocol=3))
    return path


def _zip_records(path):
    import zipfile

    with zipfile.ZipFile(path) as z:
        return {i.filename.split("/", 1)[1]: z.read(i) for i in z.infolist()}


EXPECTED_KINDS = {
    "pkgx/__init__.py": "module", "pkgx/sub.py": "module",
    "mockedmod.py": "mock", "_mock.py": "mock",
    "res/thing.pkl": "pickle", "res/data.bin": "pickle",
    "res/notes.txt": "resource",
    ".data/version": "framework", ".data/extern_modules": "framework",
    ".data/python_version": "framework", ".data/hermetic/manifest": "framework",
    "byteorder": "framework", ".data/serialization_id": "framework",
}


def test_ls_shows_kinds_and_totals_and_filters(package):
    records = _zip_records(package)
    assert set(records) == set(EXPECTED_KINDS)
    listing = json.loads(run("ls", "--json", package).stdout)
    assert {r["name"]: r["kind"] for r in listing["records"]} == EXPECTED_KINDS
    assert listing["totals"] == {
        "records": len(records), "size": sum(map(len, records.values())),
        "compressed_size": sum(map(len, records.values()))}
    assert listing["kinds"]["mock"]["records"] == 2
    assert listing["kinds"]["module"]["size"] == len(records["pkgx/__init__.py"]) + len(
        records["pkgx/sub.py"])

    text = run("ls", package).stdout.decode().splitlines()
    rows = {line.split()[-1]: line.split()[5] for line in text[1:-1]}
    assert rows == EXPECTED_KINDS
    # Columns line up: every kind starts where the header's does.
    column = text[0].index("kind")
    assert all(line[column:].split()[0] == rows[line.split()[-1]] for line in text[1:-1])

    def names(*args):
        out = run("ls", "--json", *args)
        assert out.returncode == 0, out.stderr
        return sorted(r["name"] for r in json.loads(out.stdout)["records"])

    assert names("--kind", "module", package) == ["pkgx/__init__.py", "pkgx/sub.py"]
    assert names("--kind", "mock", "--kind", "pickle", package) == [
        "_mock.py", "mockedmod.py", "res/data.bin", "res/thing.pkl"]
    assert names(package, "res/*") == ["res/data.bin", "res/notes.txt", "res/thing.pkl"]
    assert names(package, "**/*.py") == ["_mock.py", "mockedmod.py", "pkgx/__init__.py",
                                         "pkgx/sub.py"]
    assert names("--kind", "pickle", package, "res/*.pkl") == ["res/thing.pkl"]
    assert names(package, "nothing/**") == []
    filtered = run("ls", "--kind", "module", package).stdout.decode().splitlines()
    total = len(records["pkgx/__init__.py"]) + len(records["pkgx/sub.py"])
    assert filtered[-1].split()[:3] == [str(total), str(total), "total:"]
    assert "2 records" in filtered[-1]


def test_info_summarises_the_package(package):
    from hermetic import PackageImporter

    records = _zip_records(package)
    out = run("info", "--json", package)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["format"] == "zip" and info["file_size"] == package.stat().st_size
    assert info["records"] == len(records)
    assert info["size"] == sum(map(len, records.values()))
    assert info["torch_package"] == {"readable": True, "problems": [],
                                     "notes": ["manifest and signature ignored"]}
    assert info["python_version"] == PackageImporter(str(package)).python_version()
    assert info["hermetic_version"] == json.loads(run("version", "--json").stdout)["version"]
    assert info["manifest"]["present"] and info["manifest"]["valid"]
    assert info["manifest"]["records"] == len(records) - 1
    assert info["signature"] == {"present": False, "key": None}
    externs = [n for n in records[".data/extern_modules"].decode().split("\n") if n]
    assert "json" in externs and info["externs"] == len(externs)
    for kind in set(EXPECTED_KINDS.values()):
        names = [n for n, k in EXPECTED_KINDS.items() if k == kind]
        assert info["kinds"][kind] == {"records": len(names),
                                       "size": sum(len(records[n]) for n in names)}
    assert info["kinds"]["storage"] == {"records": 0, "size": 0}
    largest = sorted(records, key=lambda n: -len(records[n]))[:5]
    assert [r["size"] for r in info["largest"]] == [len(records[n]) for n in largest]
    assert {r["name"] for r in info["largest"]} <= set(largest) | {
        n for n in records if len(records[n]) == len(records[largest[-1]])}

    text = run("info", package).stdout.decode()
    fields = {line[:14].strip(): line[15:] for line in text.split("\n\n")[0].splitlines()}
    assert fields["format"].startswith(f"zip, {len(records)} records")
    assert fields["torch.package"] == "readable (torch 2.13)"
    assert fields["manifest"].startswith(f"present, {len(records) - 1} records")
    assert fields["signature"] == "absent"
    rows = {line.split()[0]: line.split()[1] for line in text.split("\n\n")[1].splitlines()[1:]}
    assert rows["module"] == "2" and rows["mock"] == "2" and rows["pickle"] == "2"
    assert rows["extern"] == str(len(externs)) and rows["total"] == str(len(records))
    assert "largest records" in text


def test_info_reports_what_torch_package_cannot_read_and_the_signer(tmp_path):
    np = pytest.importorskip("numpy")
    from hermetic import PackageExporter

    path = tmp_path / "oob.pt"
    with PackageExporter(str(path)) as e:
        e.extern(["numpy", "numpy.**"])
        e.save_pickle("res", "arr.pkl", np.arange(1000), out_of_band=True)
    info = json.loads(run("info", "--json", path).stdout)
    assert not info["torch_package"]["readable"]
    assert info["torch_package"]["problems"] == [
        "1 pickle with out-of-band buffers (res/arr.pkl)"]
    assert info["kinds"]["oob"] == {"records": 1, "size": np.arange(1000).nbytes}
    assert info["manifest"]["present"] is False and info["hermetic_version"] is None
    text = run("info", path).stdout.decode()
    assert "NOT readable: 1 pickle with out-of-band buffers (res/arr.pkl)" in text
    assert "out-of-band buffers" in text
    assert json.loads(run("ls", "--json", "--kind", "oob", path).stdout)["records"][0][
        "name"] == "res/arr.pkl.oob/0"

    key = tmp_path / "key"
    made = run("keygen", key).stdout.decode()
    public = made.rsplit("public key ", 1)[1].rstrip(")\n")
    assert run("sign", path, "--key", key).returncode == 0
    info = json.loads(run("info", "--json", path).stdout)
    assert info["signature"] == {"present": True, "key": public}
    assert info["manifest"]["valid"] and info["manifest"]["created"]
    assert f"present, key {public}" in run("info", path).stdout.decode()


def test_info_names_missing_framework_records(zip_archive):
    bare = zip_archive("bare", {"m.py": "x = 1\n"})
    info = json.loads(run("info", "--json", bare).stdout)
    assert info["torch_package"]["problems"] == [
        "no version record (.data/version)", "no .data/extern_modules record"]
    assert info["python_version"] is None and info["externs"] is None
    missing = run("info", bare.with_name("absent.pt"))
    assert missing.returncode == 3 and b"absent.pt" in missing.stderr


def test_info_counts_tensor_storages(tmp_path):
    torch = pytest.importorskip("torch")
    from hermetic import PackageExporter

    path = tmp_path / "t.pt"
    weights = torch.zeros(10, 4)
    with PackageExporter(str(path)) as e:
        e.save_pickle("m", "w.pkl", {"w": weights, "view": weights[2:], "b": torch.ones(3)})
    info = json.loads(run("info", "--json", path).stdout)
    # The view shares its base's storage: two storages, not three.
    assert info["kinds"]["storage"] == {"records": 2, "size": 40 * 4 + 3 * 4}
    assert info["torch_package"]["readable"]


def test_tree_draws_what_file_structure_prints(package, tmp_path):
    from hermetic import PackageImporter

    imp = PackageImporter(str(package))
    out = run("tree", str(package))
    assert out.returncode == 0
    assert out.stdout.decode() == str(imp.file_structure())
    out = run("tree", "--include", "pkgx/**", "--include", "res/*", "--exclude", "**/*.txt",
              str(package))
    assert out.stdout.decode() == str(imp.file_structure(
        include=["pkgx/**", "res/*"], exclude=["**/*.txt"]))
    tree = json.loads(run("tree", "--json", package).stdout)["tree"]
    assert tree["pkgx"] == {"__init__.py": len(_zip_records(package)["pkgx/__init__.py"]),
                            "sub.py": 10}
    # An unzipped folder reads the same.
    folder = tmp_path / "unzipped"
    assert run("extract", package, folder).returncode == 0
    assert run("tree", str(folder)).stdout.decode() == str(
        imp.file_structure()).replace(str(package), str(folder), 1)
    assert json.loads(run("info", "--json", folder).stdout)["format"] == "folder"


def test_info_and_tree_escape_names(tmp_path):
    path = tmp_path / "esc.zip"
    path.write_bytes(_zip([_stored("p/a", b"1"), _stored("p/\x1b[2Jred\u202etxt", b"2")]))
    for command in ("info", "tree"):
        out = run(command, path)
        assert out.returncode == 0, out.stderr
        assert b"\x1b" not in out.stdout and b"\xe2\x80\xae" not in out.stdout
        assert b"\\x1b[2Jred\\xe2\\x80\\xaetxt" in out.stdout


def test_tensors_match_what_loading_gives(tmp_path):
    torch = pytest.importorskip("torch")
    from hermetic import PackageExporter, PackageImporter

    w = torch.arange(12.0).reshape(3, 4)
    obj = {"w": w, "t": w.t(), "row": w[1],
           "p": torch.nn.Parameter(torch.ones(2, dtype=torch.float16)),
           "u": torch.ones(2, 3, dtype=torch.uint16),
           "lin": torch.nn.Linear(3, 2), "n": 5}
    path = tmp_path / "t.pt"
    with PackageExporter(str(path)) as e:
        e.extern("torch.**")
        e.save_pickle("m", "x.pkl", obj)
    out = run("tensors", "--json", path)
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    [pickle] = listing["pickles"]
    assert pickle["record"] == "m/x.pkl" and pickle["error"] is None
    loaded = PackageImporter(str(path)).load_pickle("m", "x.pkl")
    by_name = {t["name"]: t for t in pickle["tensors"]}
    assert set(by_name) == {"w", "t", "row", "p", "u", "lin.weight", "lin.bias"}
    records = _zip_records(path)
    for name, entry in by_name.items():
        tensor = loaded[name] if "." not in name else getattr(
            loaded["lin"], name.split(".")[1])
        assert entry["known"], entry
        assert entry["dtype"] == str(tensor.dtype).removeprefix("torch.")
        assert entry["shape"] == list(tensor.shape)
        assert entry["stride"] == list(tensor.stride())
        assert entry["storage_offset"] == tensor.storage_offset()
        assert entry["parameter"] == isinstance(tensor, torch.nn.Parameter)
        assert entry["storage_size"] == len(records[entry["storage"]])
        assert entry["storage_size"] == tensor.untyped_storage().nbytes()
    assert by_name["w"]["bytes"] == 48 and by_name["row"]["bytes"] == 16
    assert by_name["w"]["storage"] == by_name["t"]["storage"] == by_name["row"]["storage"]
    assert by_name["w"]["shared_by"] == 3 and by_name["p"]["shared_by"] == 1
    assert listing["storages"] == 5

    text = run("tensors", path, "m/x.pkl").stdout.decode().splitlines()
    assert text[0] == "m/x.pkl"
    assert text[1].split() == ["name", "dtype", "shape", "bytes", "storage", "notes"]
    rows = {line.split()[0]: line.split()[1:] for line in text[2:-1]}
    assert rows["row"] == ["float32", "[4]", "16", "B", by_name["w"]["storage"], "shared", "by",
                           "3"]
    assert rows["p"] == ["float16", "[2]", "4", "B", by_name["p"]["storage"], "parameter"]
    assert rows["lin.weight"][-1] == "parameter"
    # The storage column starts at the same place on every line.
    column = text[1].index("storage")
    assert all(line[column:].startswith(".data/") for line in text[2:-1])
    storage_bytes = sum(len(v) for k, v in records.items() if k.endswith(".storage"))
    assert storage_bytes < 1024
    assert text[-1] == f"7 tensors in 1 pickle, 5 storages, {storage_bytes} B"


def test_tensors_needs_no_torch_and_names_bad_pickles(zip_archive):
    # A pickle of a tensor written by hand: nothing to import.
    def s(text):
        return b"X" + len(text).to_bytes(4, "little") + text.encode()

    storage = b"(" + s("storage") + b"ctorch\nDoubleStorage\nK\x00" + s("cpu") + b"K\x06tQ"
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"K\x00(K\x02K\x03t(K\x03K\x01t"
              b"\x89)tR")
    good = b"\x80\x03}(" + s("x") + tensor + b"u."
    path = zip_archive("hand", {"a.pkl": good, "bad.pkl": b"\x80\x03(", ".data/version": "6\n",
                                ".data/0.storage": bytes(48)})
    out = run("tensors", "--json", path, "a.pkl")
    assert out.returncode == 0, out.stderr
    [entry] = json.loads(out.stdout)["pickles"][0]["tensors"]
    assert (entry["name"], entry["dtype"], entry["shape"], entry["bytes"]) == ("x", "float64", [2, 3], 48)
    everything = run("tensors", path)
    assert everything.returncode == 1
    assert b"record bad.pkl" in everything.stderr
    assert b"bad.pkl\n  cannot be indexed" in everything.stdout
    assert b"1 tensor in 2 pickles" in everything.stdout
    missing = run("tensors", path, "nope.pkl")
    assert missing.returncode == 3 and b"no record nope.pkl" in missing.stderr


def _apply_unified(old, hunks):
    """`old` with the hunks of `hermetic diff --source` (indented by 4)
    applied; checks each hunk's header against its lines."""
    import re

    lines = old.splitlines(keepends=True)
    out, at = [], 0
    body = [line[4:] for line in hunks]
    i = 0
    while i < len(body):
        m = re.fullmatch(r"@@ -(\d+),(\d+) \+(\d+),(\d+) @@", body[i])
        assert m, body[i]
        a_start, a_len, b_start, b_len = map(int, m.groups())
        a_start -= a_len > 0
        out += lines[at:a_start]
        at = a_start
        i += 1
        seen_a = seen_b = 0
        while i < len(body) and not body[i].startswith("@@"):
            op, text = body[i][0], body[i][1:] + "\n"
            if op in " -":
                assert lines[at] == text, (lines[at], text)
                at += 1
                seen_a += 1
            if op in " +":
                out.append(text)
                seen_b += 1
            i += 1
        assert (seen_a, seen_b) == (a_len, b_len)
    return "".join(out + lines[at:])


@pytest.fixture
def two_versions(tmp_path, source_tree):
    """(a, b): one package, then a second with a module changed, one added,
    an extern added, a tensor reshaped and a resource removed."""
    import random
    import sys

    from hermetic import PackageExporter

    rng = random.Random(4)
    lines = [f"V{i} = {i}\n" for i in range(60)]
    changed = list(lines)
    for _ in range(8):
        changed[rng.randrange(len(changed))] = f"W = {rng.random()}\n"
    changed.insert(30, "import json\n")
    changed += ["TAIL = 1\n"]
    paths = []
    for version, body, extra in (("a", lines, False), ("b", changed, True)):
        root = source_tree({"pk/__init__.py": "".join(body), "pk/more.py": "M = 1\n"})
        for name in [m for m in sys.modules if m == "pk" or m.startswith("pk.")]:
            del sys.modules[name]
        import pk  # noqa: F401

        path = tmp_path / f"{version}.pt"
        with PackageExporter(str(path)) as e:
            e.intern("pk.**")
            e.save_module("pk")
            if extra:
                e.save_module("pk.more")
            e.save_pickle("d", "data.pkl", {"n": [1, 2, 3] if extra else [1, 2]})
            if not extra:
                e.save_text("d", "old.txt", "x")
        paths.append((path, root / "pk" / "__init__.py", "".join(body)))
    return paths


def test_diff_reports_what_changed_by_kind(two_versions):
    (a, _, old), (b, _, new) = two_versions
    same = run("diff", a, a)
    assert same.returncode == 0 and same.stdout.decode().endswith("no differences\n")
    out = run("diff", "--json", a, b)
    assert out.returncode == 1, out.stderr
    d = json.loads(out.stdout)
    assert d["modules"]["added"] == ["pk.more"] and d["modules"]["removed"] == []
    assert [c["name"] for c in d["modules"]["changed"]] == ["pk"]
    assert d["externs"]["added"] == ["json"] and d["externs"]["removed"] == []
    assert [c["name"] for c in d["pickles"]["changed"]] == ["d/data.pkl"]
    assert d["records"]["removed"] == ["d/old.txt"]
    assert d["differences"] == 5 + len(d["records"]["changed"])
    text = run("diff", "--source", a, b).stdout.decode().splitlines()
    start = text.index("  ~ pk  (%s -> %s)" % (
        _human(len(old)), _human(len(new))))
    hunks = []
    for line in text[start + 1:]:
        if not line.startswith("    "):
            break
        hunks.append(line)
    assert hunks and _apply_unified(old, hunks) == new


def _human(n):
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def test_diff_compares_tensors_by_name(tmp_path):
    torch = pytest.importorskip("torch")
    from hermetic import PackageExporter

    def export(name, obj):
        path = tmp_path / name
        with PackageExporter(str(path)) as e:
            e.extern("torch.**")
            e.save_pickle("m", "w.pkl", obj)
        return path

    a = export("a.pt", {"w": torch.zeros(2, 3), "b": torch.zeros(3), "same": torch.ones(4),
                        "gone": torch.ones(1)})
    b = export("b.pt", {"w": torch.zeros(3, 3), "b": torch.ones(3), "same": torch.ones(4),
                        "new": torch.ones(1, dtype=torch.int64)})
    d = json.loads(run("diff", "--json", a, b).stdout)["tensors"]
    assert d["added"] == ["m/w.pkl: new"] and d["removed"] == ["m/w.pkl: gone"]
    assert {c["name"]: c["change"] for c in d["changed"]} == {
        "m/w.pkl: w": "float32 [2, 3] -> float32 [3, 3]",
        "m/w.pkl: b": "float32 [3], storage bytes differ"}
