"""The local bytecode cache: packaged source compiled once per machine.

Compiling is most of the cost of importing a large packaged library. The
importer never runs bytecode an archive carries unless told to trust it
(see _bytecode), so it compiles the archive's source itself and keeps the
marshalled code object here, to skip compiling the same source again in
any later process.

An entry is found by `source_key(source)`: the SHA-256 of the source
record's bytes together with everything else compile()'s output depends
on (the interpreter's bytecode magic number, cache tag and version, the
optimisation level, this cache's format). The key is computed from the
archive's source every time, so an entry can only ever stand for the code
of exactly that source: no archive can choose which entry it gets.

File names are not part of the key: the importer fixes up co_filename of a
cached code object to the mangled file name of the module it loads, so
tracebacks and inspect name the right file, and identical sources (empty
``__init__.py`` files) share one entry.

Location: ``$HERMETIC_CACHE_DIR``, else ``$XDG_CACHE_HOME/hermetic/bytecode``,
else ``~/.cache/hermetic/bytecode``; ``HERMETIC_CACHE_DIR=""`` turns the
cache off. The folder is created private (0700) and used only if it is
owned by the user and not writable by group or others (another user who
can write entries could make this user run their code). Size: at most
``$HERMETIC_CACHE_MAX_BYTES`` (default 256 MiB); the least recently used
entries (oldest mtime; a hit refreshes an hour-old mtime) are removed when
a process has written an eighth of that since it last looked.

Writing: the importer hands new entries to `put_later`, which encodes
them at once and leaves the file work (creating, writing and renaming a
file can cost more than compiling a small module) to a writer process it
starts the first time (`python -I -S`, this file's `_serve_writes`),
through a pipe. A process, not a thread: a thread needs the GIL back after
each system call, and on a loaded machine every such hand-over stalled the
importing thread until the writer was scheduled (measured: slower than
writing in place). The pipe is written without blocking; what does not fit
waits in memory for the next put_later, and interpreter exit hands the rest
over and closes the pipe without waiting for the writer, which ends when it
has written everything. Frames are length-prefixed, so a writer whose pipe
closes midway (the importing process died) drops the incomplete entry.
Recent entries are also kept in memory (at most max_bytes / 8) and served
by get() before their file is in place. If no writer can be started, entries
are written in place.

Concurrent processes: an entry is written to a temporary file in the
folder and renamed into place, so a reader sees a whole entry or none, in
a crash as in a clean exit.
Entries are still untrusted input (a full disk, a crash, another tool): a
reader checks the format tag, that the entry's recorded key is the key it
asked for, the SHA-256 of the payload, and that the payload unmarshals to
a code object; anything else is a miss, and the recompiled code replaces
the entry. No cache failure (unwritable folder, disk full) raises.
"""

import atexit
import collections
import fcntl
import hashlib
import importlib.util
import itertools
import marshal
import os
import select
import struct
import subprocess
import sys
import threading
import time
import types
import warnings
import weakref

__all__ = ["BytecodeCache", "default_cache", "source_key"]

DEFAULT_MAX_BYTES = 256 << 20
_FORMAT = b"HMBC\x00\x00\x00\x01"
_DIGEST = 32
_HEADER_SIZE = len(_FORMAT) + 2 * _DIGEST
_SUFFIX = ".code"
_TEMP_PREFIX = ".tmp-"
# A temporary file older than this was left by a writer that died.
_STALE_TEMP_SECONDS = 3600
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_temp_numbers = itertools.count()
# A hit refreshes the entry's mtime (its age for eviction) at most this often.
_TOUCH_AFTER_SECONDS = 3600

# Everything besides the source that compile(source, name, "exec",
# dont_inherit=True) output depends on. Bump the leading tag when the
# importer changes what it compiles (e.g. its line-ending normalisation).
_KEY_PREFIX = b"\0".join(
    (
        b"hermetic-bytecode-1",
        importlib.util.MAGIC_NUMBER,
        (sys.implementation.cache_tag or "").encode(),
        str(sys.hexversion).encode(),
        b"",
    )
)


def source_key(source):
    """The cache key of the code compiled from source record bytes
    `source` (at the interpreter's current optimisation level)."""
    digest = hashlib.sha256(_KEY_PREFIX)
    digest.update(str(sys.flags.optimize).encode() + b"\0")
    digest.update(source)
    return digest.digest()


def _encode(key, code):
    payload = marshal.dumps(code)
    return b"".join((_FORMAT, key, hashlib.sha256(payload).digest(), payload))


def _decode(entry, key):
    """The code object of `entry` if it is a whole, valid entry for `key`."""
    view = memoryview(entry)
    if (
        len(entry) < _HEADER_SIZE
        or view[: len(_FORMAT)] != _FORMAT
        or view[len(_FORMAT) : len(_FORMAT) + _DIGEST] != key
    ):
        return None
    payload = view[_HEADER_SIZE:]
    if hashlib.sha256(payload).digest() != view[len(_FORMAT) + _DIGEST : _HEADER_SIZE]:
        return None
    try:
        code = marshal.loads(payload)
    except Exception:  # marshal raises EOFError, ValueError, TypeError, ...
        return None
    return code if isinstance(code, types.CodeType) else None


# put_later writes this many entries in place before it starts a writer
# process: what a small package compiles costs less than starting one.
_IN_PLACE_FIRST = 32


class BytecodeCache:
    """Code objects by source_key() in `directory`, at most `max_bytes`."""

    def __init__(self, directory, max_bytes=DEFAULT_MAX_BYTES, *,
                 in_place_first=_IN_PLACE_FIRST):
        """in_place_first: put_later writes that many entries in place
        before it starts a writer process."""
        self.directory = directory
        self.max_bytes = max_bytes
        self._in_place_first = in_place_first
        # Bytes this process wrote since it last summed the folder; starts
        # over the threshold so the first write looks at the folder.
        self._unchecked = max_bytes
        # Recent put_later entries by key, served by get() (their files may
        # not be in place yet), oldest first, at most max_bytes // 8.
        self._recent = collections.OrderedDict()
        self._recent_bytes = 0
        self._lock = threading.Lock()
        self._writer = None  # _WriterProcess
        self._writer_failed = False  # none could be started: write in place
        self._later = 0  # put_later calls so far
        _live_caches.add(self)

    def _path(self, key):
        return os.path.join(self.directory, key.hex() + _SUFFIX)

    def get(self, key):
        """The code object cached for `key`, or None."""
        entry = self._recent.get(key)
        if entry is not None:
            # A code object of its own: the caller fixes up its file names.
            return _decode(entry, key)
        path = self._path(key)
        # os.open rather than open(): every module of a cold import misses
        # here, and a file object's set-up made that miss several times
        # dearer.
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError:
            return None
        try:
            stat = os.fstat(fd)
            entry = _read_all(fd, stat.st_size)
            mtime = stat.st_mtime
        except OSError:
            return None
        finally:
            os.close(fd)
        code = _decode(entry, key)
        if code is not None and time.time() - mtime > _TOUCH_AFTER_SECONDS:
            try:
                os.utime(path)
            except OSError:
                pass
        return code

    def put(self, key, code):
        """Stores `code` for `key` now; returns whether it did."""
        entry = self._entry(key, code)
        return entry is not None and self._write(key, entry)

    def put_later(self, key, code):
        """Stores `code` for `key` through the writer process; returns
        whether the entry was taken. get() returns it from now on."""
        entry = self._entry(key, code)
        if entry is None:
            return False
        with self._lock:
            if key in self._recent:
                return True
            self._recent[key] = entry
            self._recent_bytes += len(entry)
            while self._recent_bytes > self.max_bytes // 8:
                self._recent_bytes -= len(self._recent.popitem(last=False)[1])
            self._later += 1
            if self._later <= self._in_place_first:
                writer = None  # a small package never starts a process
            else:
                if self._writer is None and not self._writer_failed:
                    self._writer = _WriterProcess.start(self.directory, self.max_bytes)
                    self._writer_failed = self._writer is None
                writer = self._writer
            if writer is not None and writer.send(key, entry):
                return True
            self._writer = None  # gone: the next put_later starts another
        return self._write(key, entry)

    def flush(self, timeout=None):
        """Hands every entry put_later took to the writer and waits until it
        has written them (or failed); returns whether it has."""
        with self._lock:
            writer, self._writer = self._writer, None
        done = writer is None or writer.finish(timeout)
        if done:
            # Everything is in the folder now (or failed to be): get() reads
            # it there again.
            with self._lock:
                self._recent.clear()
                self._recent_bytes = 0
        return done

    def _close(self):
        """At interpreter exit: hands the rest over, without waiting."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.finish(timeout=0)

    def _forget_writer(self):
        """In a forked child: the parent's writer is not this process's."""
        self._lock = threading.Lock()
        if self._writer is not None:
            self._writer.abandon()
        self._writer = None

    def _entry(self, key, code):
        """The encoded entry, or None if it cannot or must not be stored."""
        try:
            entry = _encode(key, code)
        except ValueError:  # unmarshallable constants
            return None
        return entry if len(entry) <= self.max_bytes // 8 else None

    def _write(self, key, entry):
        # Unique among the processes of this machine; O_EXCL refuses any
        # file already there (another writer's, a planted link).
        temp = os.path.join(self.directory, f"{_TEMP_PREFIX}{os.getpid()}-{next(_temp_numbers)}")
        try:
            fd = os.open(temp, _TEMP_FLAGS, 0o600)
        except OSError:
            return False
        try:
            with memoryview(entry) as view:
                while view:
                    view = view[os.write(fd, view):]
            os.close(fd)
            fd = -1
            os.replace(temp, self._path(key))
        except OSError:
            if fd >= 0:
                os.close(fd)
            _unlink(temp)
            return False
        with self._lock:
            self._unchecked += len(entry)
            due = self._unchecked > self.max_bytes // 8
        if due:
            self.evict()
        return True

    def evict(self):
        """Removes the oldest entries until the folder holds at most 7/8 of
        max_bytes (so this process stays under max_bytes until its next
        look), and temporary files of writers that died."""
        self._unchecked = 0
        now = time.time()
        entries, total = [], 0
        try:
            with os.scandir(self.directory) as scan:
                for item in scan:
                    try:
                        stat = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if item.name.startswith(_TEMP_PREFIX):
                        if now - stat.st_mtime > _STALE_TEMP_SECONDS:
                            _unlink(item.path)
                    elif item.name.endswith(_SUFFIX):
                        entries.append((stat.st_mtime, stat.st_size, item.path))
                        total += stat.st_size
        except OSError:
            return
        goal = self.max_bytes - self.max_bytes // 8
        if total <= goal:
            return
        entries.sort()
        for _, size, path in entries:
            if total <= goal:
                break
            _unlink(path)
            total -= size


def _read_all(fd, size):
    """The bytes of the file open at fd, `size` of them expected (a writer
    replaces a file, never grows it, but read to the end anyway)."""
    chunks = []
    while True:
        chunk = os.read(fd, max(size, 1 << 16))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def cache_directory(environ=os.environ):
    """The cache folder the environment names, or None if it turns the
    cache off."""
    directory = environ.get("HERMETIC_CACHE_DIR")
    if directory is not None:
        return directory or None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hermetic", "bytecode")


def _max_bytes(environ):
    value = environ.get("HERMETIC_CACHE_MAX_BYTES")
    if not value:
        return DEFAULT_MAX_BYTES
    try:
        return max(0, int(value))
    except ValueError:
        warnings.warn(f"HERMETIC_CACHE_MAX_BYTES={value!r} is not a number; using the default",
                      RuntimeWarning, stacklevel=3)
        return DEFAULT_MAX_BYTES


_caches = {}
_refused = set()
_live_caches = weakref.WeakSet()

# A writer process ends when nothing came for this long.
_WRITER_IDLE_SECONDS = 10.0
# A frame to the writer: the key, the entry's length, the entry.
_FRAME = struct.Struct("<32sQ")
# Run by the writer process (`python -I -S -c`): loads this file by path
# under a private name, not the hermetic package.
_WRITER_SCRIPT = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_hermetic_cache_writer", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module._serve_writes(sys.argv[2], int(sys.argv[3]))
"""


class _WriterProcess:
    """The writer process of one cache and the write end of its pipe."""

    def __init__(self, process):
        self._process = process
        self._fd = process.stdin.fileno()
        os.set_blocking(self._fd, False)
        try:  # fewer full-pipe waits (Linux)
            fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        except (AttributeError, OSError):
            pass
        self._backlog = bytearray()  # frames the pipe had no room for yet

    @classmethod
    def start(cls, directory, max_bytes):
        """A new writer, or None if none can be started or none should be:
        HERMETIC_CACHE_WRITER=0 says so, and an interpreter embedded in
        another program (uWSGI, a game engine) has a sys.executable that is
        not a Python to run."""
        if (not sys.executable or os.environ.get("HERMETIC_CACHE_WRITER") == "0"
                or not os.path.basename(sys.executable).startswith("python")):
            return None
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WRITER_SCRIPT, os.path.abspath(__file__),
                 directory, str(max_bytes)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=True, start_new_session=True)
        except (OSError, RuntimeError, ValueError):  # RuntimeError: at shutdown
            return None
        return cls(process)

    def send(self, key, entry):
        """Queues one entry; False if the writer is gone."""
        self._backlog += _FRAME.pack(key, len(entry))
        self._backlog += entry
        return self._push()

    def _push(self):
        try:
            while self._backlog:
                written = os.write(self._fd, self._backlog)
                del self._backlog[:written]
        except BlockingIOError:
            pass
        except OSError:  # EPIPE: the writer died
            self.abandon()
            return False
        return True

    def finish(self, timeout):
        """Hands the backlog over and closes the pipe; waits at most
        `timeout` seconds (None: until done) for the writer to end and
        returns whether it did."""
        try:
            os.set_blocking(self._fd, True)
            self._push()
            self._process.stdin.close()
        except OSError:
            pass
        if timeout == 0:
            return self._process.poll() is not None
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def abandon(self):
        try:
            self._process.stdin.close()
        except OSError:
            pass
        self._backlog.clear()


def _serve_writes(directory, max_bytes, fd=0, idle_seconds=_WRITER_IDLE_SECONDS):
    """The writer process: writes every whole frame read from `fd` until it
    ends, or nothing came for `idle_seconds` (the sender starts another
    writer when it finds the pipe closed); an incomplete last frame (its
    sender died) is dropped."""
    cache = BytecodeCache(directory, max_bytes)
    data = bytearray()
    while True:
        try:
            if not select.select([fd], [], [], idle_seconds)[0]:
                return
            chunk = os.read(fd, 1 << 20)
        except OSError:
            return
        if not chunk:
            return
        data += chunk
        start = 0
        while len(data) - start >= _FRAME.size:
            key, size = _FRAME.unpack_from(data, start)
            end = start + _FRAME.size + size
            if end > len(data):
                break
            cache._write(key, bytes(data[start + _FRAME.size:end]))
            start = end
        del data[:start]


def flush(timeout=None):
    """Waits until every cache of this process has written what put_later
    took; returns whether all have."""
    deadline = None if timeout is None else time.monotonic() + timeout
    done = True
    for cache in list(_live_caches):
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        done = cache.flush(left) and done
    return done


def _close_all():
    for cache in list(_live_caches):
        cache._close()


def _forget_writers_in_child():
    for cache in list(_live_caches):
        cache._forget_writer()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_forget_writers_in_child)


def _usable(directory):
    """Creates `directory` (private) if needed; whether only this user can
    write to it."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        stat = os.stat(directory)
    except OSError:
        return False
    if stat.st_uid == os.geteuid() and not stat.st_mode & 0o022:
        return True
    if directory not in _refused:
        _refused.add(directory)
        warnings.warn(
            f"hermetic's bytecode cache {directory} is not private to this user "
            "(owner or group/other write permission): not using it",
            RuntimeWarning,
            stacklevel=3,
        )
    return False


def default_cache(environ=os.environ):
    """The cache the environment asks for (one object per folder and size
    in a process), or None if it is off or its folder is unusable."""
    directory = cache_directory(environ)
    if directory is None:
        return None
    directory = os.path.abspath(directory)
    max_bytes = _max_bytes(environ)
    cache = _caches.get((directory, max_bytes))
    if cache is None:
        if max_bytes == 0 or not _usable(directory):
            return None
        cache = _caches[directory, max_bytes] = BytecodeCache(directory, max_bytes)
    return cache
