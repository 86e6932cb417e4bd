"""Explain a PackagingError by the import chain that reached each broken
module."""

from typing import TYPE_CHECKING, Dict, List

if TYPE_CHECKING:
    from ..package_exporter import PackagingError

__all__ = ["find_first_use_of_broken_modules"]


def find_first_use_of_broken_modules(exc: "PackagingError") -> Dict[str, List[str]]:
    """Maps each broken module of `exc` (a PackagingError) to the first
    dependency path root -> module that brought it into the package."""
    # Imported here: package_exporter imports this package's siblings.
    from ..package_exporter import PackagingError

    if not isinstance(exc, PackagingError):
        raise AssertionError(
            f"exception must be a PackagingError, got {type(exc).__name__}")
    graph = exc.dependency_graph
    return {
        name: graph.first_path(name)
        for name, attrs in graph.nodes.items()
        if attrs.get("error")
    }
