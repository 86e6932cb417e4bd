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
file costs more than compiling a small module on some file systems) to one
daemon thread per cache; until its file is in place an entry is served
from memory. Interpreter exit waits for the queue to drain (at most
`_EXIT_FLUSH_SECONDS`); whatever is still queued then, or when the process
dies, is simply not cached.

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
import hashlib
import importlib.util
import itertools
import marshal
import os
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
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_temp_numbers = itertools.count()
# A hit refreshes the entry's mtime (its age for eviction) at most this often.
_TOUCH_AFTER_SECONDS = 3600
# How long interpreter exit waits for queued entries to be written.
_EXIT_FLUSH_SECONDS = 10.0

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


class BytecodeCache:
    """Code objects by source_key() in `directory`, at most `max_bytes`."""

    def __init__(self, directory, max_bytes=DEFAULT_MAX_BYTES):
        self.directory = directory
        self.max_bytes = max_bytes
        # Bytes this process wrote since it last summed the folder; starts
        # over the threshold so the first write looks at the folder.
        self._unchecked = max_bytes
        # put_later's entries not yet in place, by key (also served by get)
        # and in order; the writer thread runs while the queue is not empty.
        self._pending = {}
        self._queue = collections.deque()
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._writing = False
        _live_caches.add(self)

    def _path(self, key):
        return os.path.join(self.directory, key.hex() + _SUFFIX)

    def get(self, key):
        """The code object cached for `key`, or None."""
        entry = self._pending.get(key)
        if entry is not None:
            # A code object of its own: the caller fixes up its file names.
            return _decode(entry, key)
        path = self._path(key)
        try:
            with open(path, "rb") as file:
                entry = file.read()
                mtime = os.fstat(file.fileno()).st_mtime
        except OSError:
            return None
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
        """Stores `code` for `key` from the writer thread; returns whether
        the entry was taken. get() returns it from now on."""
        entry = self._entry(key, code)
        if entry is None:
            return False
        with self._lock:
            if key in self._pending:
                return True
            # Bounds the memory a slow writer holds: past it, the caller
            # writes for itself.
            queued = self._pending_bytes + len(entry) <= self.max_bytes // 8
            if queued and not self._writing:
                try:
                    threading.Thread(target=self._drain, name="hermetic-bytecode-cache",
                                     daemon=True).start()
                    self._writing = True
                except RuntimeError:  # no new threads at interpreter shutdown
                    queued = False
            if queued:
                self._pending[key] = entry
                self._queue.append(key)
                self._pending_bytes += len(entry)
        return True if queued else self._write(key, entry)

    def flush(self, timeout=None):
        """Waits until every entry put_later took is written (or failed);
        returns whether none is left."""
        with self._lock:
            return self._drained.wait_for(lambda: not self._writing, timeout)

    def _drain(self):
        while True:
            with self._lock:
                if not self._queue:
                    self._writing = False
                    self._drained.notify_all()
                    return
                key = self._queue.popleft()
                entry = self._pending[key]
            try:
                self._write(key, entry)
            finally:
                with self._lock:
                    del self._pending[key]
                    self._pending_bytes -= len(entry)

    def _forget_pending(self):
        """In a forked child: the parent's writer is not running here, and
        the parent writes its entries."""
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._pending, self._queue, self._pending_bytes = {}, collections.deque(), 0
        self._writing = False

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


def flush(timeout=None):
    """Waits until every cache of this process has written what put_later
    took; returns whether all have."""
    deadline = None if timeout is None else time.monotonic() + timeout
    done = True
    for cache in list(_live_caches):
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        done = cache.flush(left) and done
    return done


def _forget_pending_in_child():
    for cache in list(_live_caches):
        cache._forget_pending()


atexit.register(flush, _EXIT_FLUSH_SECONDS)
os.register_at_fork(after_in_child=_forget_pending_in_child)


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
