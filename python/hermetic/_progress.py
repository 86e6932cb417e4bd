"""The exporter's progress line: modules scanned and bytes handed to the
archive, then the modules written at close(), on one line of standard
error redrawn in place with "\\r".

PackageExporter(progress=None), the default, draws it only when standard
error is a terminal and the export has run for QUIET_SECONDS; True draws it
from the start (still only on a terminal); False never. Nothing is drawn
into a pipe or a file, so logs and captured output stay clean. No library
is needed for one line (tqdm or rich would add a dependency for what ten
lines of code do, and neither knows the engine's phases).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional

__all__ = ["ExportProgress"]

# An export shorter than this prints nothing (the default, progress=None).
QUIET_SECONDS = 1.0
_REDRAW_SECONDS = 0.1
_ERASE = "\r\x1b[K"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # unreachable


class ExportProgress:
    """Counts an export's work and draws it; every method is cheap when the
    line is off."""

    def __init__(self, progress: Optional[bool], target: Any, stream: Any = None):
        self._stream = sys.stderr if stream is None else stream
        self.enabled = progress is not False and _is_terminal(self._stream)
        self._delay = 0.0 if progress else QUIET_SECONDS
        self._name = os.path.basename(os.fspath(target)) if isinstance(
            target, (str, os.PathLike)) else "archive"
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self.modules = 0
        self.bytes = 0
        self._seen: set[str] = set()
        self._written = 0
        self._to_write: Optional[int] = None

    def provider(self, provider: Any) -> Any:
        """What the engine should ask: `provider` itself, or (when the line
        is on) a wrapper that counts the sources it hands out."""
        return _CountingProvider(provider, self) if self.enabled else provider

    def scanned(self, name: str, source: Optional[str]) -> None:
        # The engine reads a module again when it is saved after being
        # interned as a dependency: count it once.
        if name in self._seen:
            return
        self._seen.add(name)
        self.modules += 1
        if source is not None:
            self.bytes += len(source)
        self._draw()

    def wrote(self, nbytes: int) -> None:
        self.bytes += nbytes
        self._draw()

    def writing(self, total: int) -> None:
        """One more node written by close(), of `total`."""
        self._to_write = total
        self._written += 1
        self._draw()

    def finish(self, ok: bool = True) -> None:
        """A summary line if the line was drawn (erased on failure)."""
        if not self._drawn:
            return
        self._drawn = False
        if not ok:
            self._write(_ERASE)
            return
        seconds = time.monotonic() - self._start
        self._write(f"{_ERASE}hermetic: exported {self._name}: {self.modules} modules, "
                    f"{_size(self.bytes)} in {seconds:.1f} s\n")

    def _draw(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._start < self._delay or now - self._last < _REDRAW_SECONDS:
            return
        self._last = now
        if self._to_write is None:
            text = f"exporting {self._name}: {self.modules} modules scanned, {_size(self.bytes)}"
        else:
            text = (f"writing {self._name}: {self._written}/{self._to_write} modules, "
                    f"{_size(self.bytes)}")
        self._write(f"{_ERASE}hermetic: {text}")
        self._drawn = True

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr: stop drawing
            self.enabled = False


class _CountingProvider:
    """The engine's SourceProvider, counting the modules it reads."""

    def __init__(self, provider: Any, progress: ExportProgress):
        self._provider = provider
        self._progress = progress

    def module_exists(self, name: str, must_import: bool) -> bool:
        return self._provider.module_exists(name, must_import)

    def module_source(self, name: str) -> Any:
        answer = self._provider.module_source(name)
        self._progress.scanned(name, answer[1])
        return answer

    def module_is_package(self, name: str) -> bool:
        return self._provider.module_is_package(name)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False
