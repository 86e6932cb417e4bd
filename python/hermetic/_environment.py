"""The environment a package was made in: ``.data/hermetic/environment``
(docs/format.md section 10), written by PackageExporter(environment=True),
checked by PackageImporter at open.

The record is UTF-8 text, one fact per line, fields separated by one space:

    python 3.11.7
    implementation cpython
    platform linux x86_64
    extern <module> <distribution> <version>
    extern <module> stdlib
    extern <module> unknown

for every module of ``.data/extern_modules``: the installed distribution
that provides it (importlib.metadata), the standard library, or neither
(a module on sys.path that no distribution owns). torch.package ignores
the record.
"""

from __future__ import annotations

import platform
import sys
import warnings
from collections.abc import Iterable

from .errors import HermeticError

__all__ = ["EnvironmentMismatchError", "EnvironmentMismatchWarning", "RECORD", "check",
           "describe"]

RECORD = ".data/hermetic/environment"


class EnvironmentMismatchWarning(UserWarning):
    """The loading environment differs from the one the package was made in."""


class EnvironmentMismatchError(HermeticError, ImportError):
    """PackageImporter(strict=True): the loading environment differs from
    the one the package was made in."""


def describe(extern_modules: Iterable[str]) -> bytes:
    """The record for a package needing `extern_modules`, from this
    interpreter."""
    import importlib.metadata  # not at import: it costs more than hermetic's own

    owners = importlib.metadata.packages_distributions()
    lines = [f"python {platform.python_version()}",
             f"implementation {sys.implementation.name}",
             f"platform {sys.platform} {platform.machine()}"]
    for module in extern_modules:
        top = module.partition(".")[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            lines.append(f"extern {module} stdlib")
            continue
        distributions = owners.get(top, ())
        for distribution in sorted(set(distributions))[:1]:
            lines.append(f"extern {module} {distribution} "
                         f"{importlib.metadata.version(distribution)}")
            break
        else:
            lines.append(f"extern {module} unknown")
    return ("\n".join(lines) + "\n").encode()


def _installed_version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check(text: str, archive_name: str, *, strict: bool) -> list[str]:
    """The differences between the record `text` and this interpreter, each
    naming both sides: warned (EnvironmentMismatchWarning), or raised with
    `strict` (EnvironmentMismatchError). Lines it does not know are skipped,
    for records of newer writers."""
    problems = []
    seen = set()
    for line in text.splitlines():
        fields = line.split(" ")
        if fields[0] == "python" and len(fields) == 2:
            made, here = fields[1].split(".")[:2], platform.python_version().split(".")[:2]
            if made != here:
                problems.append(f"Python {fields[1]} made it, this is Python "
                                f"{platform.python_version()}")
        elif fields[0] == "extern" and len(fields) == 4 and fields[2] not in seen:
            seen.add(fields[2])
            installed = _installed_version(fields[2])
            if installed is None:
                problems.append(f"{fields[2]} {fields[3]} provided {fields[1]}; it is not "
                                "installed here")
            elif installed != fields[3]:
                problems.append(f"{fields[2]} {fields[3]} provided {fields[1]}; "
                                f"{installed} is installed here")
    if problems:
        message = (f"archive {archive_name} was made in another environment: "
                   + "; ".join(problems))
        if strict:
            raise EnvironmentMismatchError(message)
        warnings.warn(message, EnvironmentMismatchWarning, stacklevel=3)
    return problems
