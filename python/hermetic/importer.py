"""Importers: environments that map names to modules and objects to names.

A PackageExporter pickles objects by reference (module name + qualified
name). When objects come from several environments (the running Python and
any number of loaded packages) the same name can mean different objects, so
the exporter asks an Importer to name each object and checks that importing
the name gives back the very same object.
"""

import importlib
import logging
import pickle
from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any, Dict, Optional, Tuple

from ._mangling import demangle, get_mangle_prefix, is_mangled

__all__ = [
    "Importer",
    "ObjMismatchError",
    "ObjNotFoundError",
    "OrderedImporter",
    "sys_importer",
]

_log: logging.Logger = logging.getLogger(__name__)


class ObjNotFoundError(Exception):
    """An importer could not find an object under the name it should have."""


class ObjMismatchError(Exception):
    """An importer found a different object under an object's name."""


def _resolve_attr_path(root, dotted_name):
    """getattr along a qualified name; AttributeError if any step fails."""
    obj = root
    for part in dotted_name.split("."):
        if part == "<locals>":
            raise AttributeError(f"Can't get local attribute {dotted_name!r} on {root!r}")
        obj = getattr(obj, part)
    return obj


def _reduces_to_name(obj):
    # pickle honours a __reduce__ that returns a string (a global name) for
    # any type it has no built-in rule for; mirror that so get_name finds the
    # same name pickle would save. bool() of arrays/tensors may raise: such
    # objects count as truthy.
    try:
        truthy = bool(obj)
    except Exception:
        truthy = True
    if not truthy or type(obj) in pickle._Pickler.dispatch:
        return None
    reduce = getattr(obj, "__reduce__", None)
    if reduce is None:
        return None
    try:
        result = reduce()
    except Exception:
        return None
    return result if isinstance(result, str) else None


class Importer(ABC):
    """An environment to import modules from, and to name objects in.

    Guarantee: for ``module_name, attr = importer.get_name(obj)``, importing
    ``module_name`` and walking ``attr`` yields ``obj`` itself; otherwise
    get_name raises ObjNotFoundError or ObjMismatchError.
    """

    # Name -> module; a PackageImporter's also holds itself, as torch's does.
    modules: Dict[str, Any]

    @abstractmethod
    def import_module(self, module_name: str) -> ModuleType:
        """Same contract as importlib.import_module."""

    def get_name(self, obj: Any, name: Optional[str] = None) -> Tuple[str, str]:
        """(module name, qualified name) under which this environment finds obj.

        name: overrides the object's own __qualname__/__name__ (for
        __reduce__ results that are strings).
        """
        if name is None:
            name = _reduces_to_name(obj)
        if name is None:
            name = getattr(obj, "__qualname__", None)
        if name is None:
            name = obj.__name__

        module_name = demangle(self.whichmodule(obj, name))
        try:
            found = _resolve_attr_path(self.import_module(module_name), name)
        except (ImportError, KeyError, AttributeError):
            raise ObjNotFoundError(f"{obj} was not found as {module_name}.{name}") from None
        if found is obj:
            return module_name, name

        def origin(candidate):
            where = self.whichmodule(candidate, name)
            if is_mangled(where):
                prefix = get_mangle_prefix(where)
                return where, prefix, f"the importer for {prefix}"
            return where, "the current Python environment", "'sys_importer'"

        obj_module, obj_location, obj_importer = origin(obj)
        found_module, found_location, found_importer = origin(found)
        raise ObjMismatchError(
            f"\n\nThe object provided is from '{obj_module}', which is coming from {obj_location}."
            f"\nHowever, when we import '{found_module}', it's coming from {found_location}."
            "\nTo fix this, make sure this 'PackageExporter's importer lists "
            f"{obj_importer} before {found_importer}."
        )

    def whichmodule(self, obj: Any, name: str) -> str:
        """Name of the module obj belongs to: its __module__, else the first of
        self.modules that holds it under `name`, else "__main__".
        (Unlike pickle.whichmodule it never searches sys.modules.)"""
        module_name = getattr(obj, "__module__", None)
        if module_name is not None:
            return module_name
        # A copy: getattr on lazy modules may import and grow the dict.
        for module_name, module in list(self.modules.items()):
            if module is None or module_name in ("__main__", "__mp_main__"):
                continue
            try:
                if _resolve_attr_path(module, name) is obj:
                    return module_name
            except AttributeError:
                pass
        return "__main__"


class _SysImporter(Importer):
    """The running Python's own import system."""

    def import_module(self, module_name: str) -> ModuleType:
        return importlib.import_module(module_name)

    def whichmodule(self, obj: Any, name: str) -> str:
        # __module__ first: newer pickle.whichmodule imports candidate names,
        # which fails on mangled ones.
        module_name = getattr(obj, "__module__", None)
        if module_name is not None:
            return module_name
        return pickle.whichmodule(obj, name)


sys_importer: Importer = _SysImporter()


def _is_placeholder_package(module):
    """A package a PackageImporter made up for a folder without __init__.py.

    Interning ``a.b`` alone leaves ``a`` as such an empty package; resolving
    ``a`` there would hide a real ``a`` in a later importer.
    """
    if not getattr(module, "__torch_package__", False):
        return False
    if not hasattr(module, "__path__"):
        return False
    return getattr(module, "__file__", None) is None


class OrderedImporter(Importer):
    """Tries several importers in order; the first that succeeds wins."""

    def __init__(self, *importers: Importer):
        self._importers = list(importers)

    def import_module(self, module_name: str) -> ModuleType:
        last_error = None
        for importer in self._importers:
            if not isinstance(importer, Importer):
                raise TypeError(
                    f"{importer} is not a Importer. "
                    "All importers in OrderedImporter must inherit from Importer."
                )
            try:
                module = importer.import_module(module_name)
            except ModuleNotFoundError as error:
                last_error = error
                continue
            if not _is_placeholder_package(module):
                return module
        if last_error is not None:
            raise last_error
        raise ModuleNotFoundError(module_name)

    def get_name(self, obj: Any, name: Optional[str] = None) -> Tuple[str, str]:
        for importer in self._importers:
            try:
                return importer.get_name(obj, name)
            except (ObjNotFoundError, ObjMismatchError) as error:
                _log.warning(
                    "Tried to call get_name with obj %s, and name %s on %s and got %s",
                    obj,
                    name,
                    importer,
                    error,
                )
        raise ObjNotFoundError(
            f"Could not find obj {obj} and name {name} in any of the importers {self._importers}"
        )

    def whichmodule(self, obj: Any, name: str) -> str:
        for importer in self._importers:
            module_name = importer.whichmodule(obj, name)
            if module_name != "__main__":
                return module_name
        return "__main__"
