"""Bytecode of packaged modules: where the code the importer runs comes from.

By default the importer runs only code compiled from the archive's own
source: through the local cache of _bytecode_cache (compiled once per
machine, keyed by the source's hash), or compile() on a miss. Bytecode an
archive carries is run only if the archive is trusted, by the caller's
explicit choice or a signature by a key the caller trusts
(`archive_bytecode_trusted`, the one place that decides): its header is
written by the archive's author, so a record whose hash claims its source
could hold any code while the source (what ``hermetic cat`` shows) reads
harmless.

Archives carry bytecode only when the exporter is asked to
(``PackageExporter(..., bytecode=True)``): a *checked hash-based* pyc
(PEP 552) compiled by the exporter from the source record itself (not
copied from ``__pycache__``, so an export is the same bytes whether or not
the machine has compiled the module), under

    .data/bytecode/<magic as hex>/a/b.pyc           module a.b
    .data/bytecode/<magic as hex>/a/b/__init__.pyc  package a.b

Its code is unoptimised, its file name the source record's name, and it is
marshalled in format 2 (no back-references, whose flags follow reference
counts in the exporting process), so the bytes depend on the source and the
interpreter only. torch.package's importer skips ``.data/<dir>/...``
records, so such archives still load there (from source). Even when trusted,
a record is used only if it was written by an interpreter with the same
magic number and its hash equals the hash of the source record it sits next
to; anything else falls back to the source.
"""

import _imp
import importlib.util
import marshal
import sys
import types

from ._bytecode_cache import default_cache, source_key
from ._importlib import normalize_line_endings

__all__ = [
    "ModuleCode",
    "archive_bytecode_trusted",
    "bytecode_record_name",
    "compile_pyc",
    "load_bytecode_record",
    "write_bytecode",
]

_MAGIC = importlib.util.MAGIC_NUMBER
_PREFIX = f".data/bytecode/{_MAGIC.hex()}/"
_FLAG_HASH_BASED = 0b01
_FLAG_CHECK_SOURCE = 0b10
# magic, flags, then 8 bytes: the source hash.
_HEADER_SIZE = 16
# Format 2 has no references: see the module docstring.
_MARSHAL_VERSION = 2


def bytecode_record_name(module_name, is_package):
    """The record that holds the bytecode of `module_name`."""
    path = module_name.replace(".", "/")
    return f"{_PREFIX}{path}/__init__.pyc" if is_package else f"{_PREFIX}{path}.pyc"


def archive_bytecode_trusted(trusted_signer=None, *, trust_bytecode=False):
    """Whether the bytecode records of an archive may run instead of its
    source. The only place that decides: the caller's explicit opt-in, or a
    signature by one of the caller's trusted keys (`trusted_signer`, set by
    PackageImporter only after the manifest, which hashes the bytecode
    records too, verified against it)."""
    return bool(trust_bytecode) or trusted_signer is not None


def compile_pyc(source, filename):
    """A checked hash-based pyc of source record bytes `source`, compiled
    here (unoptimised) with `filename` as its code's file name."""
    code = compile(normalize_line_endings(source), filename, "exec", dont_inherit=True,
                   optimize=0)
    flags = (_FLAG_HASH_BASED | _FLAG_CHECK_SOURCE).to_bytes(4, "little")
    return b"".join(
        (_MAGIC, flags, importlib.util.source_hash(source),
         marshal.dumps(code, _MARSHAL_VERSION))
    )


def write_bytecode(exporter, module_name, source, is_package):
    """Writes the bytecode of interned `module_name` (source record bytes
    `source`) into `exporter`'s archive; returns whether it did. Calling it
    again for the same module writes nothing (save_module of an already
    interned module fetches its source a second time); a source that does
    not compile gets no record (importing it raises as it would without)."""
    record = bytecode_record_name(module_name, is_package)
    if exporter._engine.has_record(record):
        return False
    path = module_name.replace(".", "/")
    filename = f"{path}/__init__.py" if is_package else f"{path}.py"
    try:
        pyc = compile_pyc(source, filename)
    except (SyntaxError, ValueError):
        return False
    exporter._write_record(record, pyc)
    return True


def load_bytecode_record(reader, name, is_package, source, filename):
    """The code object of module `name` from its bytecode record in
    `reader`, with `filename` as its file name everywhere (tracebacks,
    inspect), or None if there is no usable record for `source` (the bytes
    of the module's source record). Only for trusted archives."""
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


class ModuleCode:
    """The code objects an importer runs for the modules of `reader`.

    `trusted` (from archive_bytecode_trusted) lets the archive's bytecode
    records run; `cache` is a _bytecode_cache.BytecodeCache or None (the
    environment's, read when the importer is made, by default).
    """

    _DEFAULT = object()

    def __init__(self, reader, trusted, cache=_DEFAULT):
        self._reader = reader
        self._trusted = trusted
        self._cache = default_cache() if cache is ModuleCode._DEFAULT else cache

    def code(self, name, is_package, source, filename):
        """The code of module `name` from source record bytes `source`,
        with `filename` as its file name. compile()'s SyntaxError and
        ValueError (a NUL byte) propagate."""
        if self._trusted:
            code = load_bytecode_record(self._reader, name, is_package, source, filename)
            if code is not None:
                return code
        cache = self._cache
        if cache is None:
            return compile(normalize_line_endings(source), filename, "exec", dont_inherit=True)
        key = source_key(source)
        code = cache.get(key)
        if code is not None:
            _imp._fix_co_filename(code, filename)
            return code
        code = compile(normalize_line_endings(source), filename, "exec", dont_inherit=True)
        cache.put_later(key, code)
        return code
