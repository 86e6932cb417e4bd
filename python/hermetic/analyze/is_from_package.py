"""Tell objects loaded from a package apart from the host's objects."""

from types import ModuleType
from typing import Any

from .._mangling import is_mangled

__all__ = ["is_from_package"]


def is_from_package(obj: Any) -> bool:
    """Whether `obj` (a module, or an instance of a class) came from a
    package's own code.

    Judged by the mangled module name of the module, or of the object's type;
    so a packaged class itself answers False (its type is `type`), as do
    objects of externed modules.
    """
    if type(obj) is ModuleType:
        return is_mangled(obj.__name__)
    return is_mangled(type(obj).__module__)
