"""The local bytecode cache: packaged source compiled once, entries that
can only ever stand for the archive's own source."""

import importlib.util
import inspect
import marshal
import os
import subprocess
import sys
import time
import traceback

import pytest

from hermetic import PackageExporter, PackageImporter
from hermetic import _bytecode, _bytecode_cache
from hermetic._bytecode_cache import BytecodeCache, cache_directory, default_cache, source_key

CALC = """\
def triple(x):
    return 3 * x


def fail():
    raise RuntimeError("from the package")


class Thing:
    def describe(self):
        return "thing"
"""


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty cache folder the environment names."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("HERMETIC_CACHE_DIR", str(folder))
    monkeypatch.delenv("HERMETIC_CACHE_MAX_BYTES", raising=False)
    return folder


def _archive(path, calc=CALC):
    with PackageExporter(str(path)) as exporter:
        exporter.save_source_string("cpkg", "NAME = 'package'\n", is_package=True)
        exporter.save_source_string("cpkg.calc", calc)
    return str(path)


def _entries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".code"))


def _count_compiles(monkeypatch):
    calls = []

    def counting(source, filename, *args, **kwargs):
        calls.append(filename)
        return compile(source, filename, *args, **kwargs)

    monkeypatch.setattr(_bytecode, "compile", counting, raising=False)
    return calls


def _key_of(source_text):
    return source_key(source_text.encode())


def test_second_import_is_a_hit_with_the_second_importers_file_names(
    cache_dir, tmp_path, monkeypatch
):
    path = _archive(tmp_path / "p.pt")
    compiles = _count_compiles(monkeypatch)
    first = PackageImporter(path).import_module("cpkg.calc")
    # Misses: cpkg and cpkg.calc compiled and stored.
    assert len(compiles) == 2
    assert _bytecode_cache.flush(30) and len(_entries(cache_dir)) == 2
    importer = PackageImporter(path)
    calc = importer.import_module("cpkg.calc")
    assert len(compiles) == 2  # hits
    assert importer.import_module("cpkg").NAME == "package"
    assert calc.triple(5) == 15 and calc.Thing().describe() == "thing"

    assert calc.__file__ == f"{importer.id()}.cpkg/calc.py" != first.__file__
    assert calc.triple.__code__.co_filename == calc.__file__
    assert calc.Thing.describe.__code__.co_filename == calc.__file__
    with pytest.raises(RuntimeError) as info:
        calc.fail()
    assert traceback.extract_tb(info.tb)[-1].filename == calc.__file__
    assert inspect.getsource(calc.triple) == "def triple(x):\n    return 3 * x\n"


def test_key_is_the_source_and_the_interpreter(monkeypatch):
    assert source_key(b"x = 1\n") == source_key(b"x = 1\n")
    assert source_key(b"x = 1\n") != source_key(b"x = 2\n")
    assert len(source_key(b"")) == 32
    before = source_key(b"x = 1\n")
    monkeypatch.setattr(sys, "flags", type("Flags", (), {"optimize": 2})())
    assert source_key(b"x = 1\n") != before
    assert importlib.util.MAGIC_NUMBER in _bytecode_cache._KEY_PREFIX


def test_changed_source_is_a_miss_not_the_old_code(cache_dir, tmp_path, monkeypatch):
    """Same module name and record, other source: the old entry is never
    used (the key is the source's hash, so no archive picks its entry)."""
    compiles = _count_compiles(monkeypatch)
    old = _archive(tmp_path / "old.pt")
    assert PackageImporter(old).import_module("cpkg.calc").triple(1) == 3
    new = _archive(tmp_path / "new.pt", CALC.replace("3 * x", "4 * x"))
    assert PackageImporter(new).import_module("cpkg.calc").triple(1) == 4
    assert len([c for c in compiles if c.endswith("cpkg/calc.py")]) == 2
    assert len([c for c in compiles if c.endswith("cpkg/__init__.py")]) == 1


def test_poisoned_entry_under_the_packages_key_is_not_used(cache_dir, tmp_path):
    """A whole, valid entry of other code copied to the file of the
    package's key: its recorded key differs, so it is ignored."""
    path = _archive(tmp_path / "p.pt")
    PackageImporter(path).import_module("cpkg.calc")
    evil = _archive(tmp_path / "evil.pt", "def triple(x):\n    return 'poisoned'\n")
    PackageImporter(evil).import_module("cpkg.calc")
    assert _bytecode_cache.flush(30)
    good_entry = cache_dir / (_key_of(CALC).hex() + ".code")
    evil_entry = cache_dir / (_key_of("def triple(x):\n    return 'poisoned'\n").hex() + ".code")
    good_entry.write_bytes(evil_entry.read_bytes())
    assert PackageImporter(path).import_module("cpkg.calc").triple(1) == 3
    # Recompiled and written back.
    assert _bytecode_cache.flush(30)
    assert BytecodeCache(str(cache_dir)).get(_key_of(CALC)) is not None


def _valid_entry(key, code):
    return _bytecode_cache._encode(key, code)


@pytest.mark.parametrize(
    "damage",
    ["empty", "truncated_header", "truncated_payload", "flipped_payload_byte",
     "other_format", "not_code", "bad_marshal"],
)
def test_damaged_entry_is_ignored_and_replaced(cache_dir, tmp_path, monkeypatch, damage):
    path = _archive(tmp_path / "p.pt")
    PackageImporter(path).import_module("cpkg.calc")
    assert _bytecode_cache.flush(30)
    key = _key_of(CALC)
    entry_path = cache_dir / (key.hex() + ".code")
    entry = entry_path.read_bytes()

    def signed(payload):  # a self-consistent entry around a payload
        import hashlib
        return entry[:40] + hashlib.sha256(payload).digest() + payload

    entry_path.write_bytes({
        "empty": b"",
        "truncated_header": entry[:20],
        "truncated_payload": entry[:-7],
        "flipped_payload_byte": entry[:-3] + bytes([entry[-3] ^ 0xFF]) + entry[-2:],
        "other_format": b"HMBC\x00\x00\x00\x02" + entry[8:],
        "not_code": signed(marshal.dumps(42)),
        "bad_marshal": signed(b"\xff\xfe\xfd"),
    }[damage])
    assert len(entry) > _bytecode_cache._HEADER_SIZE
    compiles = _count_compiles(monkeypatch)
    assert PackageImporter(path).import_module("cpkg.calc").triple(2) == 6
    assert len(compiles) == 1  # the damaged entry was a miss
    assert _bytecode_cache.flush(30)
    assert entry_path.read_bytes() != b"" and BytecodeCache(str(cache_dir)).get(key) is not None


def test_entry_of_other_source_is_never_returned(tmp_path):
    cache = BytecodeCache(str(tmp_path))
    key = source_key(b"a = 1\n")
    assert cache.get(key) is None
    assert cache.put(key, compile("a = 1\n", "f.py", "exec"))
    assert cache.get(source_key(b"a = 2\n")) is None
    namespace = {}
    exec(cache.get(key), namespace)
    assert namespace["a"] == 1


_WRITER = """\
import sys
from hermetic._bytecode_cache import BytecodeCache, source_key
cache = BytecodeCache(sys.argv[1], 1 << 30, in_place_first=0)
codes = [(source_key(f"v = {i}\\n".encode()), compile(f"v = {i}\\n" + "w = 0\\n" * 2000, "f", "exec"))
         for i in range(20)]
for _ in range(15):
    for key, code in codes:
        assert cache.put(key, code)
        assert cache.get(key) is not None
"""


def test_concurrent_writers_leave_only_whole_entries(tmp_path):
    python_dir = os.path.dirname(os.path.dirname(_bytecode_cache.__file__))
    env = {**os.environ, "PYTHONPATH": python_dir}
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], env=env)
        for _ in range(2)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    cache = BytecodeCache(str(tmp_path))
    for i in range(20):
        code = cache.get(source_key(f"v = {i}\n".encode()))
        namespace = {}
        exec(code, namespace)
        assert namespace["v"] == i
    assert len(os.listdir(tmp_path)) == 20  # no temporary files left


def test_size_bound_evicts_the_oldest(tmp_path):
    max_bytes = 64 << 10
    cache = BytecodeCache(str(tmp_path), max_bytes)
    keys = []
    for i in range(60):
        key = source_key(f"v = {i}\n".encode())
        assert cache.put(key, compile(f"v = {i}\n" + "w = 'x'\n" * 200, "f", "exec"))
        # Distinct ages (mtime resolution), oldest first.
        os.utime(cache._path(key), (1_000_000 + i, 1_000_000 + i))
        keys.append(key)
    cache.evict()
    total = sum(os.path.getsize(tmp_path / name) for name in os.listdir(tmp_path))
    assert 0 < total <= max_bytes
    present = [cache.get(key) is not None for key in keys]
    assert present[-1] and not present[0]
    # What survives is a run of the newest.
    assert present == sorted(present)


def test_writes_keep_the_folder_under_the_bound(tmp_path):
    max_bytes = 64 << 10
    cache = BytecodeCache(str(tmp_path), max_bytes)
    for i in range(200):
        cache.put(source_key(f"v = {i}\n".encode()),
                  compile(f"v = {i}\n" + "w = 'x'\n" * 200, "f", "exec"))
        total = sum(os.path.getsize(tmp_path / name) for name in os.listdir(tmp_path))
        assert total <= max_bytes


def test_entry_too_large_for_the_bound_is_not_stored(tmp_path):
    cache = BytecodeCache(str(tmp_path), 8 << 10)
    key = source_key(b"big")
    assert not cache.put(key, compile("w = 'x'\n" * 2000, "f", "exec"))
    assert os.listdir(tmp_path) == []


def test_evict_removes_stale_temporary_files_only(tmp_path):
    cache = BytecodeCache(str(tmp_path))
    stale, fresh = tmp_path / ".tmp-stale", tmp_path / ".tmp-fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (1_000_000, 1_000_000))
    cache.evict()
    assert not stale.exists() and fresh.exists()


def test_empty_cache_dir_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("HERMETIC_CACHE_DIR", "")
    assert default_cache() is None
    path = _archive(tmp_path / "p.pt")
    compiles = _count_compiles(monkeypatch)
    for _ in range(2):
        assert PackageImporter(path).import_module("cpkg.calc").triple(1) == 3
    assert len([c for c in compiles if c.endswith("calc.py")]) == 2


def test_zero_max_bytes_turns_the_cache_off(cache_dir, monkeypatch):
    monkeypatch.setenv("HERMETIC_CACHE_MAX_BYTES", "0")
    assert default_cache() is None
    monkeypatch.setenv("HERMETIC_CACHE_MAX_BYTES", "1000000")
    assert default_cache().max_bytes == 1000000


def test_cache_location():
    assert cache_directory({"HERMETIC_CACHE_DIR": "/c"}) == "/c"
    assert cache_directory({"HERMETIC_CACHE_DIR": ""}) is None
    assert cache_directory({"XDG_CACHE_HOME": "/x"}) == "/x/hermetic/bytecode"
    home = os.path.expanduser("~")
    assert cache_directory({}) == os.path.join(home, ".cache", "hermetic", "bytecode")


def test_folder_is_created_private(cache_dir):
    cache = default_cache()
    assert cache.directory == str(cache_dir)
    assert os.stat(cache_dir).st_mode & 0o777 == 0o700


def test_folder_others_can_write_is_not_used(cache_dir):
    cache_dir.mkdir()
    os.chmod(cache_dir, 0o777)
    with pytest.warns(RuntimeWarning, match="not private"):
        assert default_cache() is None


def test_unwritable_cache_never_raises(cache_dir, tmp_path):
    cache = default_cache()
    os.rmdir(cache_dir)
    cache_dir.write_bytes(b"")  # a file where the folder was
    assert not cache.put(source_key(b"a"), compile("a = 1", "f", "exec"))
    assert cache.get(source_key(b"a")) is None
    path = _archive(tmp_path / "p.pt")
    assert PackageImporter(path).import_module("cpkg.calc").triple(1) == 3


def _codes(count, filler=2000):
    return [(source_key(f"v = {i}\n".encode()),
             compile(f"v = {i}\n" + "w = 0\n" * filler, "f", "exec"))
            for i in range(count)]


def _assert_whole_entries(folder, keys):
    """Every entry file in `folder` is a whole, valid entry of one of
    `keys`; returns how many there are."""
    by_name = {key.hex() + ".code": key for key in keys}
    cache = BytecodeCache(str(folder))
    names = _entries(folder)
    for name in names:
        assert cache.get(by_name[name]) is not None, name
    return len(names)


def test_put_later_is_served_from_memory_then_from_the_folder(tmp_path):
    cache = BytecodeCache(str(tmp_path), in_place_first=0)
    (key, code), = _codes(1)
    assert cache.put_later(key, code)
    first, second = cache.get(key), cache.get(key)
    # Each get has a code object of its own (importers fix up file names).
    assert first is not second and first is not code
    namespace = {}
    exec(first, namespace)
    assert namespace["v"] == 0
    assert cache.flush(30)
    assert _entries(tmp_path) == [key.hex() + ".code"]
    assert BytecodeCache(str(tmp_path)).get(key) is not None


def _run_python(script, *args):
    python_dir = os.path.dirname(os.path.dirname(_bytecode_cache.__file__))
    env = {**os.environ, "PYTHONPATH": python_dir}
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env)


_QUEUE_AND_EXIT = """\
import os, sys
from hermetic._bytecode_cache import BytecodeCache, source_key
cache = BytecodeCache(sys.argv[1], 1 << 30, in_place_first=0)
for i in range(int(sys.argv[2])):
    code = compile(f"v = {i}\\n" + "w = 0\\n" * 2000, "f", "exec")
    assert cache.put_later(source_key(f"v = {i}\\n".encode()), code)
if sys.argv[3] == "crash":
    os._exit(0)  # no atexit: what is not in the pipe yet is dropped
"""


def _settled_listing(folder, seconds=60):
    """The folder's names once they stopped changing for a second (the
    writer process outlives the process that fed it)."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        names = sorted(os.listdir(folder))
        if names == last and not any(name.startswith(".tmp-") for name in names):
            return names
        last = names
        time.sleep(1)
    return last


def test_exit_hands_every_queued_entry_to_the_writer(tmp_path):
    """A clean exit gives the writer what is left and does not wait for
    it; the writer writes all of it."""
    assert _run_python(_QUEUE_AND_EXIT, tmp_path, 40, "exit").wait(timeout=120) == 0
    assert len(_settled_listing(tmp_path)) == 40  # no temporary files left
    assert _assert_whole_entries(tmp_path, [key for key, _ in _codes(40, 0)]) == 40


def test_dying_with_queued_entries_leaves_only_whole_entries(tmp_path):
    assert _run_python(_QUEUE_AND_EXIT, tmp_path, 40, "crash").wait(timeout=120) == 0
    names = _settled_listing(tmp_path)
    assert all(name.endswith(".code") for name in names)
    assert _assert_whole_entries(tmp_path, [key for key, _ in _codes(40, 0)]) == len(names)


def _frames(codes):
    return b"".join(
        _bytecode_cache._FRAME.pack(key, len(entry)) + entry
        for key, entry in ((key, _bytecode_cache._encode(key, code)) for key, code in codes))


def test_writer_drops_the_entry_its_sender_died_in(tmp_path):
    """The importing process died in the middle of handing over an entry:
    the writer writes the whole ones and nothing of the cut one."""
    codes = _codes(3)
    data = _frames(codes)
    read, write = os.pipe()
    os.write(write, data[: len(data) - 100])
    os.close(write)
    _bytecode_cache._serve_writes(str(tmp_path), 1 << 30, read)
    os.close(read)
    assert _entries(tmp_path) == sorted(key.hex() + ".code" for key, _ in codes[:2])
    assert len(os.listdir(tmp_path)) == 2
    assert _assert_whole_entries(tmp_path, [key for key, _ in codes]) == 2


_CRASH_MID_WRITE = """\
import os, sys
from hermetic import _bytecode_cache
real_write = os.write
writes = []

def write_half_then_die(fd, data):
    writes.append(fd)
    if len(writes) == 3:  # the third entry: half of it, then the process dies
        real_write(fd, bytes(data[: len(data) // 2]))
        os._exit(7)
    return real_write(fd, data)

_bytecode_cache.os.write = write_half_then_die
with open(sys.argv[2], "rb") as frames:
    _bytecode_cache._serve_writes(sys.argv[1], 1 << 30, frames.fileno())
"""


def test_writer_dying_in_the_middle_of_a_write_leaves_no_partial_entry(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    codes = _codes(5)
    (tmp_path / "frames").write_bytes(_frames(codes))
    assert _run_python(_CRASH_MID_WRITE, folder, tmp_path / "frames").wait(timeout=120) == 7
    keys = [key for key, _ in codes]
    # The two entries written before are whole; the third is only a
    # temporary file, which no reader takes for an entry.
    assert _entries(folder) == sorted(key.hex() + ".code" for key in keys[:2])
    assert _assert_whole_entries(folder, keys) == 2
    (temp,) = [name for name in os.listdir(folder) if not name.endswith(".code")]
    assert temp.startswith(".tmp-") and 0 < os.path.getsize(folder / temp)
    # and once stale, the next eviction removes it.
    os.utime(folder / temp, (1_000_000, 1_000_000))
    BytecodeCache(str(folder)).evict()
    assert len(os.listdir(folder)) == 2


def test_writer_ends_when_idle(tmp_path):
    read, write = os.pipe()
    started = time.monotonic()
    _bytecode_cache._serve_writes(str(tmp_path), 1 << 30, read, idle_seconds=0.2)
    assert time.monotonic() - started < 30
    os.close(read)
    os.close(write)


def test_a_gone_writer_is_replaced(tmp_path):
    cache = BytecodeCache(str(tmp_path), in_place_first=0)
    codes = _codes(2)
    assert cache.put_later(*codes[0])
    cache._writer._process.kill()
    cache._writer._process.wait()
    # The dead writer's pipe refuses the next entry: written in place, and
    # the one after goes to a new writer.
    assert cache.put_later(*codes[1])
    assert (tmp_path / (codes[1][0].hex() + ".code")).exists()
    third = _codes(3)[2]
    assert cache.put_later(*third) and cache._writer is not None
    assert cache.flush(30)
    assert (tmp_path / (third[0].hex() + ".code")).exists()


_BACKGROUND_WRITER = """\
import sys
from hermetic._bytecode_cache import BytecodeCache, source_key
cache = BytecodeCache(sys.argv[1], 1 << 30, in_place_first=0)
codes = [(source_key(f"v = {i}\\n".encode()), compile(f"v = {i}\\n" + "w = 0\\n" * 2000, "f", "exec"))
         for i in range(20)]
for round in range(10):
    for key, code in codes:
        assert cache.put_later(key, code)
        assert cache.get(key) is not None
    if round % 3 == 0:
        assert cache.flush(60)
assert cache.flush(60)
"""


def test_concurrent_processes_writing_in_the_background(tmp_path):
    writers = [_run_python(_BACKGROUND_WRITER, tmp_path) for _ in range(2)]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    cache = BytecodeCache(str(tmp_path))
    for i in range(20):
        namespace = {}
        exec(cache.get(source_key(f"v = {i}\n".encode())), namespace)
        assert namespace["v"] == i
    assert len(os.listdir(tmp_path)) == 20  # no temporary files left


def test_background_writes_keep_the_folder_under_the_bound(tmp_path):
    max_bytes = 64 << 10
    cache = BytecodeCache(str(tmp_path), max_bytes, in_place_first=0)
    for i in range(200):
        assert cache.put_later(source_key(f"v = {i}\n".encode()),
                               compile(f"v = {i}\n" + "w = 'x'\n" * 200, "f", "exec"))
        # What is kept in memory is bounded too.
        assert cache._recent_bytes <= max_bytes // 8
    assert cache.flush(60)
    total = sum(os.path.getsize(tmp_path / name) for name in os.listdir(tmp_path))
    assert 0 < total <= max_bytes


def test_importer_writes_in_the_background(cache_dir, tmp_path, monkeypatch):
    """The importer's misses go through put_later (in place for a small
    package, then through the writer process); a second importer in the
    process is a hit anyway."""
    path = _archive(tmp_path / "p.pt")
    written = []
    monkeypatch.setattr(BytecodeCache, "put", lambda *args: written.append(args) or True)
    compiles = _count_compiles(monkeypatch)
    assert PackageImporter(path).import_module("cpkg.calc").triple(1) == 3
    assert PackageImporter(path).import_module("cpkg.calc").triple(2) == 6
    assert len(compiles) == 2 and written == []  # no synchronous put
    assert _bytecode_cache.flush(30) and len(_entries(cache_dir)) == 2


def test_a_small_package_writes_in_place_and_starts_no_process(tmp_path):
    cache = BytecodeCache(str(tmp_path), in_place_first=3)
    codes = _codes(4)
    for key, code in codes[:3]:
        assert cache.put_later(key, code)
        assert (tmp_path / (key.hex() + ".code")).exists()
    assert cache._writer is None
    assert cache.put_later(*codes[3]) and cache._writer is not None
    assert cache.flush(30)
    assert (tmp_path / (codes[3][0].hex() + ".code")).exists()


def test_no_writer_process_when_told_or_embedded(tmp_path, monkeypatch):
    from hermetic import _bytecode_cache

    monkeypatch.setenv("HERMETIC_CACHE_WRITER", "0")
    assert _bytecode_cache._WriterProcess.start(str(tmp_path), 1 << 20) is None
    monkeypatch.delenv("HERMETIC_CACHE_WRITER")
    monkeypatch.setattr(sys, "executable", "/usr/bin/uwsgi")
    assert _bytecode_cache._WriterProcess.start(str(tmp_path), 1 << 20) is None
