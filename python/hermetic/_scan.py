"""hermetic.scan: what loading a package would do, found without running any
of it (the C++ scanner of include/hermetic/scan.h; rules in docs/format.md
section 7).

One rule differs from ``hermetic scan``: a bytecode record written by this
interpreter (same magic number) is compared with what compiling the source
beside it gives, and reported as ``bytecode.matches`` (info) or
``bytecode.mismatch`` (high) instead of ``bytecode.unchecked``. Compiling
runs none of the source; the record itself is never unmarshalled (marshal
is not safe against hostile bytes): its bytes are compared whole.
"""

import _imp
import dataclasses
import importlib.util
import marshal
import os
import sys
from typing import Sequence, Union

from . import _bytecode, _bytecode_cache, _core
from .errors import HermeticError

__all__ = ["SEVERITIES", "Finding", "ScanReport", "scan"]

# In increasing order.
SEVERITIES = ("info", "low", "medium", "high", "critical")


def _rank(severity: str) -> int:
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; one of {', '.join(SEVERITIES)}") from None


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing the scan found. ``position`` is the byte offset of the opcode
    in a pickle, the line in a source, or None."""

    severity: str
    rule: str
    record: str
    position: int | None
    message: str

    def at_least(self, severity: str) -> bool:
        return _rank(self.severity) >= _rank(severity)


@dataclasses.dataclass(frozen=True)
class ScanReport:
    path: str
    records: int
    pickles: int
    sources: int
    findings: list[Finding]

    def at_least(self, severity: str) -> list[Finding]:
        """The findings at or above `severity`."""
        rank = _rank(severity)
        return [f for f in self.findings if _rank(f.severity) >= rank]

    @property
    def clean(self) -> bool:
        """No finding at or above medium."""
        return not self.at_least("medium")


def scan(path: Union[str, "os.PathLike[str]"], *,
         allowed_globals: Sequence[str] = ()) -> ScanReport:
    """Scans the archive (or unzipped package folder) at `path` without
    importing, unpickling or running anything in it. `allowed_globals` adds
    data constructors ("module.name" or "module.*") to the default list."""
    raw = os.fsencode(os.fspath(path))
    reader = _core.ArchiveReader(os.fsdecode(raw))
    try:
        records, pickles, sources, findings = archive_findings(reader, allowed_globals)
    finally:
        reader.close()
    return ScanReport(
        path=os.fsdecode(raw),
        records=records,
        pickles=pickles,
        sources=sources,
        findings=findings,
    )


def archive_findings(reader, allowed_globals=(), *, check_bytecode=True):
    """(records, pickles, sources, [Finding]) of an open _core.ArchiveReader:
    the C++ scan, then, with `check_bytecode`, each bytecode record compared
    with its source (bytecode.matches / bytecode.mismatch)."""
    records, pickles, sources, found = _core.scan_archive(reader, list(allowed_globals))
    findings = [
        Finding(severity, rule, record, None if position < 0 else position, message)
        for severity, rule, record, position, message in found
    ]
    if check_bytecode and any(f.rule == "bytecode.unchecked" for f in findings):
        # compile() of what the importer compiled before is in its cache.
        cache = None if sys.flags.optimize else _bytecode_cache.default_cache()
        findings = [_check_bytecode(reader, f, cache) if f.rule == "bytecode.unchecked" else f
                    for f in findings]
    return records, pickles, sources, findings


_BYTECODE_DIR = ".data/bytecode/"


def _cached_pyc_matches(cache, pyc, source, filename):
    """Whether the local bytecode cache (`cache`, or None) holds the code of
    `source` and `pyc` is that code as the exporter writes it: the check
    without compiling, for sources imported on this machine before. False
    says nothing (compile and compare)."""
    if cache is None:
        return False
    code = cache.get(_bytecode_cache.source_key(source))
    if code is None:
        return False
    _imp._fix_co_filename(code, filename)
    header = (_bytecode._MAGIC
              + (_bytecode._FLAG_HASH_BASED | _bytecode._FLAG_CHECK_SOURCE).to_bytes(4, "little")
              + importlib.util.source_hash(source))
    return pyc == header + marshal.dumps(code, _bytecode._MARSHAL_VERSION)


def _check_bytecode(reader, finding, cache):
    """The finding for bytecode record ``finding.record`` once compared with
    what the exporter writes for the source beside it (_bytecode.compile_pyc:
    the same file name, flags and marshal format); `finding` itself when the
    record is another interpreter's or a record cannot be read (the C++ scan
    reports that)."""
    record = finding.record
    magic, _, source_name = record[len(_BYTECODE_DIR):].partition("/")
    source_name = source_name[:-len(".pyc")] + ".py"
    this_magic = _bytecode._MAGIC.hex()
    if magic != this_magic:
        return dataclasses.replace(
            finding, message=f"{finding.message} (written for another interpreter than "
                             f"this one, magic {this_magic}: not compared)")
    try:
        pyc = reader.read(record)
        source = reader.read(source_name)
    except HermeticError:
        return finding
    matches = Finding("info", "bytecode.matches", record, None,
                      "bytecode is what compiling the source beside it gives")
    if _cached_pyc_matches(cache, pyc, source, source_name):
        return matches
    try:
        expected = _bytecode.compile_pyc(source, source_name)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as e:
        why = f"the source does not compile ({type(e).__name__})"
    else:
        if pyc == expected:
            return matches
        why = ("its header names the source's hash but the code differs"
               if pyc[8:16] == expected[8:16] else "not compiled from it")
    return Finding("high", "bytecode.mismatch", record, None,
                   f"bytecode is not what compiling the source beside it gives: {why}; "
                   "with trust_bytecode=True it could run code the source does not show")
