"""Pieces of the import protocol that PackageImporter shares with CPython.

Packaged code must see the same checks and error texts as a normal import
(importlib._bootstrap), so these follow CPython's semantics.
"""

import os.path
import warnings

from . import _core


def normalize_line_endings(source):
    """\\r\\n and lone \\r become \\n, as CPython's source loaders do."""
    return source.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def source_module(record):
    """The module a record is the source of ("a/b.py" -> "a.b",
    "a/b/__init__.py" -> "a.b"), or None for any other record."""
    if not record.endswith(".py") or record.startswith(".data/"):
        return None
    path = record[: -len(".py")]
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    return path.replace("/", ".")


# The absolute name of a relative import: the import scanner's own rule, so
# that packaged code and the exporter's dependency scan agree.
# InvalidArgumentError (a ValueError) past the top-level package.
resolve_name = _core.resolve_name


def sanity_check(name, package, level):
    if not isinstance(name, str):
        raise TypeError(f"module name must be str, not {type(name)}")
    if level < 0:
        raise ValueError("level must be >= 0")
    if level > 0:
        if not isinstance(package, str):
            raise TypeError("__package__ not set to a string")
        if not package:
            raise ImportError("attempted relative import with no known parent package")
    if not name and level == 0:
        raise ValueError("Empty module name")


def calc_package(module_globals):
    """The package a relative import in a module with these globals is
    relative to (__package__, else __spec__.parent, else from __name__)."""
    package = module_globals.get("__package__")
    spec = module_globals.get("__spec__")
    if package is not None:
        if spec is not None and package != spec.parent:
            warnings.warn(
                f"__package__ != __spec__.parent ({package!r} != {spec.parent!r})",
                ImportWarning,
                stacklevel=3,
            )
        return package
    if spec is not None:
        return spec.parent
    warnings.warn(
        "can't resolve package from __spec__ or __package__, "
        "falling back on __name__ and __path__",
        ImportWarning,
        stacklevel=3,
    )
    package = module_globals["__name__"]
    if "__path__" not in module_globals:
        package = package.rpartition(".")[0]
    return package


def normalize_resource(resource):
    """A resource name must be a bare file name (no folder part)."""
    folder, file_name = os.path.split(resource)
    if folder:
        raise ValueError(f"{resource!r} must be only a file name")
    return file_name
