"""Cached bytecode in packages: skip compiling packaged modules on import.

Compiling is most of the cost of importing a large packaged library, and the
exporting interpreter usually has the bytecode already, in ``__pycache__``.
The exporter copies such a pyc into the archive (never compiling itself:
export speed matters as much) as a *checked hash-based* pyc (PEP 552) under

    .data/bytecode/<magic as hex>/a/b.pyc           module a.b
    .data/bytecode/<magic as hex>/a/b/__init__.pyc  package a.b

torch.package's importer skips ``.data/<dir>/...`` records, so such archives
still load there (from source). The importer uses a record only if it was
written by an interpreter with the same magic number and its hash equals
the hash of the source record it sits next to; anything else falls back to
compiling the source, so a stale or foreign record costs nothing but the
lookup.
"""

import _imp
import importlib.util
import marshal
import os
import sys
import types

__all__ = ["bytecode_record_name", "cached_pyc", "load_cached", "write_cached_bytecode"]

_MAGIC = importlib.util.MAGIC_NUMBER
_PREFIX = f".data/bytecode/{_MAGIC.hex()}/"
_FLAG_HASH_BASED = 0b01
_FLAG_CHECK_SOURCE = 0b10
# magic, flags, then 8 bytes: the source hash, or source mtime and size.
_HEADER_SIZE = 16


def bytecode_record_name(module_name, is_package):
    """The record that holds the cached bytecode of `module_name`."""
    path = module_name.replace(".", "/")
    return f"{_PREFIX}{path}/__init__.pyc" if is_package else f"{_PREFIX}{path}.pyc"


def _source_path(module):
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    if spec is None or not spec.has_location or not isinstance(origin, str):
        return None
    return origin if origin.endswith(".py") else None


def _read(path):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def cached_pyc(module, source, source_stat=None):
    """The interpreter's cached bytecode of `module` as a checked hash-based
    pyc for `source` (the module's source as it goes into the archive), or
    None if the module has no valid pyc for exactly that source.

    `source_stat`, if given, is the os.stat_result of the module's file
    taken on the file descriptor `source` was read from: it vouches that
    `source` is the file's content at that mtime, so a timestamp pyc is
    checked against it instead of reading the file again.

    Only reads files: a module without an up-to-date ``__pycache__`` entry
    gets no bytecode rather than being compiled here.
    """
    path = _source_path(module)
    if path is None:
        return None
    try:
        # Unoptimised bytecode even under -O: the archive's code must behave
        # like its source compiled by the loader.
        pyc = _read(importlib.util.cache_from_source(path, optimization=""))
    except (NotImplementedError, ValueError):  # no cache tag / bad path
        return None
    if pyc is None or len(pyc) < _HEADER_SIZE or pyc[:4] != _MAGIC:
        return None
    flags = int.from_bytes(pyc[4:8], "little")
    expected_hash = importlib.util.source_hash(source)
    if flags & ~(_FLAG_HASH_BASED | _FLAG_CHECK_SOURCE):
        return None
    if flags & _FLAG_HASH_BASED:
        if pyc[8:16] != expected_hash:
            return None
    else:
        # A timestamp pyc vouches for the file at one mtime and size; the
        # source handed in must be the file's bytes at that mtime (it may
        # have been decoded, re-encoded or read earlier).
        stat = source_stat
        if stat is None:
            try:
                stat = os.stat(path)
            except OSError:
                return None
        if (
            int.from_bytes(pyc[8:12], "little") != int(stat.st_mtime) & 0xFFFFFFFF
            or int.from_bytes(pyc[12:16], "little") != stat.st_size & 0xFFFFFFFF
            or len(source) != stat.st_size
            or (source_stat is None and _read(path) != source)
        ):
            return None
    flags = (_FLAG_HASH_BASED | _FLAG_CHECK_SOURCE).to_bytes(4, "little")
    return b"".join((_MAGIC, flags, expected_hash, memoryview(pyc)[_HEADER_SIZE:]))


def write_cached_bytecode(exporter, module_name, module, source_bytes, is_package,
                          source_stat=None):
    """Writes the cached bytecode of interned `module` into `exporter`'s
    archive, if the interpreter has a valid one; returns whether it did.

    source_bytes must be exactly the bytes of the module's source record;
    source_stat is as for cached_pyc.
    Calling it again for the same module writes nothing (save_module of an
    already interned module fetches its source a second time).
    """
    record = bytecode_record_name(module_name, is_package)
    if exporter._engine.has_record(record):
        return False
    pyc = cached_pyc(module, source_bytes, source_stat)
    if pyc is None:
        return False
    exporter._write_record(record, pyc)
    return True


def load_cached(reader, name, is_package, source, filename):
    """The code object of module `name` from its cached bytecode record in
    `reader`, with `filename` as its file name everywhere (tracebacks,
    inspect), or None if there is no usable record for `source` (the bytes
    of the module's source record)."""
    # The records hold unoptimised code; -O must get what compile() gives.
    if sys.flags.optimize:
        return None
    record = bytecode_record_name(name, is_package)
    if not reader.has_record(record):
        return None
    pyc = reader.get_record(record)
    if (
        len(pyc) < _HEADER_SIZE
        or pyc[:4] != _MAGIC
        or not int.from_bytes(pyc[4:8], "little") & _FLAG_HASH_BASED
        or pyc[8:16] != importlib.util.source_hash(source)
    ):
        return None
    try:
        code = marshal.loads(memoryview(pyc)[_HEADER_SIZE:])
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(code, types.CodeType):
        return None
    _imp._fix_co_filename(code, filename)
    return code
