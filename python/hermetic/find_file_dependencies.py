"""torch's source-scanning entry point, backed by the C++ import scanner."""

from typing import Optional

from . import _core

__all__ = ["find_files_source_depends_on"]


def find_files_source_depends_on(src: str,
                                 package: str) -> list[tuple[str, Optional[str]]]:
    """The (module, name-or-None) pairs `src` imports, in first-seen order.

    `package` is the package relative imports resolve against: the module's
    own name for a package, its parent's name otherwise.
    """
    return _core.scan_imports(src, package, True)
