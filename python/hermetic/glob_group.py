"""Module-name patterns for PackageExporter.intern/extern/mock/deny.

Matching runs in C++ (_core.GlobGroup); this wrapper keeps the patterns as the
user gave them because str()/repr() and error messages show them raw.
"""

from typing import Iterable, List, Union

from . import _core

GlobPattern = Union[str, Iterable[str]]

__all__ = ["GlobGroup", "GlobPattern"]


def _as_list(pattern: GlobPattern) -> List[str]:
    if isinstance(pattern, str):
        return [pattern]
    return list(pattern)


class GlobGroup:
    """A set of include patterns minus a set of exclude patterns.

    ``GlobGroup("torch.**", exclude=["torch.nn.**"])`` matches ``torch`` and
    ``torch.optim`` but not ``torch.nn.functional``. A ``**`` segment matches
    any number of whole segments, ``*`` inside a segment any run of
    non-separator characters; the whole candidate must match.
    """

    def __init__(self, include: GlobPattern, *, exclude: GlobPattern = (),
                 separator: str = "."):
        self._include_arg = include
        self._exclude_arg = exclude
        self.include: List[str] = _as_list(include)
        self.exclude: List[str] = _as_list(exclude)
        self.separator = separator
        self._group = _core.GlobGroup(self.include, self.exclude, separator)

    def matches(self, candidate: str) -> bool:
        return self._group.matches(candidate)

    def __str__(self) -> str:
        return f"GlobGroup(include={self._include_arg}, exclude={self._exclude_arg})"

    __repr__ = __str__
