"""Pickling for PackageExporter.save_pickle.

Every global (class, function) must be written under the name the exporter's
importer gives it, demangled, and must resolve back to the very same object;
objects with ``__reduce_package__`` and torch storages become persistent ids.

Speed comes from CPython's C pickler. An attempt starts in the fastest tier
that can be right and restarts from scratch one tier lower when it meets
something that tier cannot do:
  FAST (importer is sys_importer): no per-object Python hook; a
    dispatch_table classifies each type once. The C pickler names globals
    exactly as sys_importer does, and fails with PicklingError on the ones
    it cannot name (packaged code), or, while an importer's modules are in
    sys.modules, names them mangled: the C++ scanner then finds the mangled
    name in the pickle and the attempt goes to PYTHON.
  CHECKED (other importers): a reducer_override checks each class and
    function with importer.get_name (verdicts cached per object).
  CHECKED_PERSISTENT: also a persistent_id hook, once a type that may need
    one (``__reduce_package__``, torch storages) is met; costs a Python call
    per pickled object.
  PYTHON: the pure-Python PackagePickler, whose save_global asks the
    importer for every global and raises torch's PicklingError; used when
    the C pickler would name a global differently from the importer.
A pickle that names globals of ``__main__`` is made again in PYTHON, through
an importer that renames them to the module _main_module packages.
The pickle bytes and out-of-band buffers of a failed attempt are dropped.
Reductions and storages are cached per exporter, so the side effects of
``__reduce_package__`` and storage records happen once whatever the tier.
"""

import copyreg
import io
import operator
import pickle
import sys
from pickle import EXT1, EXT2, EXT4, GLOBAL, STACK_GLOBAL, PicklingError
from struct import pack
from types import BuiltinFunctionType, FunctionType

from . import _core, _main_module
from ._mangling import is_mangled, registered_prefixes
from .errors import HermeticError
from .importer import ObjMismatchError, ObjNotFoundError, sys_importer

__all__ = ["PackagePickler", "PickleContext"]

# What a type's instances need from the pickler.
_PLAIN = 0  # the C pickler's own rules
_GLOBAL = 1  # saved by name: the name must be checked with the importer
_PERSISTENT = 2  # may need a persistent id

_TIER_FAST = 0
_TIER_CHECKED = 1
_TIER_CHECKED_PERSISTENT = 2
_TIER_PYTHON = 3


def _names_mangled(buffer) -> bool:
    """Whether the pickle in `buffer` names a module by a mangled name (or
    is beyond what the scanner reads, which the PYTHON tier also handles)."""
    try:
        globals_ = _core.scan_pickle(buffer.getbuffer())
    except HermeticError:
        return True
    return any(is_mangled(module) for module, _ in globals_)


class _Restart(Exception):
    """Raised inside a pickler to retry one tier lower."""

    def __init__(self, tier):
        super().__init__(tier)
        self.tier = tier


class PackagePickler(pickle._Pickler):
    """Pure-Python pickler that names globals through an Importer."""

    def __init__(self, importer, file, *, protocol, persistent_id=None,
                 buffer_callback=None):
        super().__init__(file, protocol=protocol,
                         buffer_callback=buffer_callback)
        self.importer = importer
        self._persistent_id = persistent_id
        # A private copy: other libraries patch pickle._Pickler.dispatch, and
        # functions must go through our save_global.
        self.dispatch = pickle._Pickler.dispatch.copy()
        self.dispatch[FunctionType] = PackagePickler.save_global

    def persistent_id(self, obj):
        if self._persistent_id is None:
            return None
        return self._persistent_id(obj)

    def save_global(self, obj, name=None):
        try:
            module_name, name = self.importer.get_name(obj, name)
        except (ObjNotFoundError, ObjMismatchError) as err:
            raise PicklingError(f"Can't pickle {obj}: {err}") from err
        path = name.split(".")
        if "<locals>" in path:
            raise PicklingError(f"Can't pickle local object {obj!r}")
        module = self.importer.import_module(module_name)
        parent = module
        for part in path[:-1]:
            parent = getattr(parent, part)

        code = copyreg._extension_registry.get((module_name, name))
        if code:
            if code <= 0xFF:
                self.write(EXT1 + pack("<B", code))
            elif code <= 0xFFFF:
                self.write(EXT2 + pack("<H", code))
            else:
                self.write(EXT4 + pack("<i", code))
            return
        if self.proto >= 4:
            self.save(module_name)
            self.save(name)
            self.write(STACK_GLOBAL)
        elif parent is not module:
            # Protocol 3's GLOBAL cannot name nested objects.
            self.save_reduce(getattr, (parent, path[-1]))
        else:
            self.write(GLOBAL + module_name.encode("utf-8") + b"\n" +
                       name.encode("utf-8") + b"\n")
        self.memoize(obj)


class _TypeTable(dict):
    """dispatch_table of the fast tier: copyreg's table, plus an entry per
    type met that does what the C pickler does without a table. A type is
    classified once, in __missing__; later lookups stay in C."""

    def __init__(self, context, protocol):
        super().__init__(copyreg.dispatch_table)
        self._context = context
        self._reduce = operator.methodcaller("__reduce_ex__", protocol)

    def __missing__(self, cls):
        kind = self._context._kind(cls)
        if kind == _PERSISTENT:
            raise _Restart(_TIER_CHECKED_PERSISTENT)
        if kind == _GLOBAL:
            # Metaclass instances: the C pickler saves them by name when the
            # table has no entry.
            raise KeyError(cls)
        self[cls] = self._reduce
        return self._reduce


class _FastPickler(pickle.Pickler):
    """The C pickler with no per-object Python hook, for sys_importer: its
    own global naming is then exactly the importer's, and any global it
    cannot name (packaged code) fails with PicklingError."""

    def __init__(self, file, *, protocol, context, buffer_callback):
        super().__init__(file, protocol=protocol,
                         buffer_callback=buffer_callback)
        self.dispatch_table = _TypeTable(context, protocol)


class _CheckingPickler(pickle.Pickler):
    """The C pickler, checking every global with the importer."""

    def __init__(self, file, *, protocol, context, with_persistent_id,
                 buffer_callback):
        super().__init__(file, protocol=protocol,
                         buffer_callback=buffer_callback)
        self._context = context
        self._with_persistent_id = with_persistent_id
        if with_persistent_id:
            self.persistent_id = context.persistent_id

    def reducer_override(self, obj):
        kind = self._context._kind(type(obj))
        if kind == _GLOBAL:
            self._context._check_global(obj)
        elif kind == _PERSISTENT and not self._with_persistent_id:
            raise _Restart(_TIER_CHECKED_PERSISTENT)
        return NotImplemented


class PickleContext:
    """Pickling state of one PackageExporter: caches that live as long as
    the exporter, and the persistent-id hook."""

    def __init__(self, exporter):
        self._exporter = exporter
        self._kinds = {}
        # id -> object (kept alive so that the id stays valid) of globals
        # the C pickler names exactly as the importer does.
        self._checked_globals = {}
        self._storage_persistent_id = None
        self._main = None  # _main_module.MainModule, once __main__ is met

    def dumps(self, obj, protocol, buffer_callback=None) -> memoryview:
        """Pickles obj (the bytes are returned as a view, not copied); may
        call __reduce_package__ and write storages.

        buffer_callback must take every buffer out of band: it is called
        after pickling, once an attempt has succeeded.
        """
        if "torch" in sys.modules and self._storage_persistent_id is None:
            from . import _tensors

            self._storage_persistent_id = _tensors.storage_persistent_id
        importer = self._exporter.importer
        tier = _TIER_FAST if importer is sys_importer else _TIER_CHECKED
        renaming = None
        while True:
            buffer = io.BytesIO()
            buffers = []
            collect = None if buffer_callback is None else buffers.append
            try:
                self._pickler(tier, buffer, protocol, collect,
                              renaming or importer).dump(obj)
            except _Restart as restart:
                tier = restart.tier
                continue
            except (PicklingError, AttributeError):
                # The C pickler raises AttributeError for a function it
                # cannot name ("Can't pickle local object"); the PYTHON tier
                # raises torch's PicklingError for it, and whatever other
                # error the object's own code raised, again.
                if tier != _TIER_FAST:
                    raise
                tier = _TIER_PYTHON
                continue
            if tier == _TIER_FAST and registered_prefixes and _names_mangled(buffer):
                tier = _TIER_PYTHON
                continue
            if renaming is None and _main_module.names_main(buffer):
                if self._main is None:
                    self._main = _main_module.MainModule(self._exporter)
                renaming = self._main.renaming(importer)
                if renaming is not None:
                    tier = _TIER_PYTHON
                    continue
            if renaming is not None:
                self._main.provide(renaming.names)
            for pickle_buffer in buffers:
                buffer_callback(pickle_buffer)
            return buffer.getbuffer()

    def _pickler(self, tier, file, protocol, buffer_callback, importer):
        if tier == _TIER_FAST:
            return _FastPickler(file, protocol=protocol, context=self,
                                buffer_callback=buffer_callback)
        if tier == _TIER_PYTHON:
            return PackagePickler(importer, file,
                                  protocol=protocol,
                                  persistent_id=self.persistent_id,
                                  buffer_callback=buffer_callback)
        return _CheckingPickler(
            file, protocol=protocol, context=self,
            with_persistent_id=tier == _TIER_CHECKED_PERSISTENT,
            buffer_callback=buffer_callback)

    def persistent_id(self, obj):
        if self._kind(type(obj)) != _PERSISTENT:
            return None
        if self._storage_persistent_id is not None:
            pid = self._storage_persistent_id(self._exporter, obj)
            if pid is not None:
                return pid
        if not hasattr(obj, "__reduce_package__"):
            return None
        # torch caches by id() for the exporter's lifetime, so an object is
        # reduced (and its side effects happen) once per archive.
        reduces = self._exporter.serialized_reduces
        pid = reduces.get(id(obj))
        if pid is None:
            pid = reduces[id(obj)] = ("reduce_package", id(obj),
                                      *obj.__reduce_package__(self._exporter))
        return pid

    def _kind(self, cls) -> int:
        kind = self._kinds.get(cls)
        if kind is not None:
            return kind
        if (issubclass(cls, type) or cls is FunctionType or
                cls is BuiltinFunctionType):
            kind = _GLOBAL
        elif hasattr(cls, "__reduce_package__") or (
                "torch" in sys.modules and
                str(getattr(cls, "__module__", "")).partition(".")[0] ==
                "torch"):
            kind = _PERSISTENT
        else:
            kind = _PLAIN
        self._kinds[cls] = kind
        return kind

    def _check_global(self, obj) -> None:
        if self._checked_globals.get(id(obj)) is obj:
            return
        try:
            module_name, name = self._exporter.importer.get_name(obj)
        except (ObjNotFoundError, ObjMismatchError):
            raise _Restart(_TIER_PYTHON) from None
        if (module_name != getattr(obj, "__module__", None) or
                name != getattr(obj, "__qualname__", None)):
            raise _Restart(_TIER_PYTHON)
        self._checked_globals[id(obj)] = obj
