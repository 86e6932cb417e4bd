"""hermetic.scan: what loading a package would do, found without running any
of it (the C++ scanner of include/hermetic/scan.h; rules in docs/format.md
section 7)."""

import dataclasses
import os

from . import _core

__all__ = ["SEVERITIES", "Finding", "ScanReport", "scan"]

# In increasing order.
SEVERITIES = ("info", "low", "medium", "high", "critical")


def _rank(severity):
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


def scan(path, *, allowed_globals=()) -> ScanReport:
    """Scans the archive (or unzipped package folder) at `path` without
    importing, unpickling or running anything in it. `allowed_globals` adds
    data constructors ("module.name" or "module.*") to the default list."""
    raw = os.fsencode(os.fspath(path))
    records, pickles, sources, findings = _core.scan_archive(raw, list(allowed_globals))
    return ScanReport(
        path=os.fsdecode(raw),
        records=records,
        pickles=pickles,
        sources=sources,
        findings=[
            Finding(severity, rule, record, None if position < 0 else position, message)
            for severity, rule, record, position, message in findings
        ],
    )
