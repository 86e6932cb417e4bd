"""PackageUnpickler: the C unpickler, resolving globals through an importer.

torch.package unpickles with the pure-Python pickle._Unpickler; subclassing
the C pickle.Unpickler instead keeps every opcode in C, and only global
lookups and persistent ids call back into Python.
"""

import _compat_pickle
import pickle

from . import _torchscript
from .errors import CorruptPickleError

_PROTO = 0x80


def _peek_protocol(file):
    # The C Unpickler does not expose the protocol it reads, yet find_class
    # needs it (Python 2 names are mapped only for protocols < 3). A pickle
    # of protocol >= 2 starts with PROTO <n>; older ones have no header.
    try:
        if not file.seekable():
            return None
        position = file.tell()
        head = file.read(2)
        file.seek(position)
    except (AttributeError, OSError):
        return None
    if len(head) == 2 and head[0] == _PROTO:
        return head[1]
    return 0


def python2_name(module, name):
    """The name a protocol < 3 pickle's global has in Python 3."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _decode_ascii(value):
    # Pickles written by Python 2 carry str fields as bytes.
    return value.decode("ascii") if isinstance(value, bytes) else value


class PackageUnpickler(pickle.Unpickler):
    """Unpickler whose globals come from ``importer.import_module``.

    Persistent ids are the ones PackageExporter writes: tensor storages
    ``('storage', storage_type, key, location, numel)`` and
    ``('reduce_package', id, func, args)`` (or the legacy
    ``('reduce_package', func, args)``). State shared across one load
    (storages, reduce results) lives in this object, so two loads never
    share it.

    record: the archive record being read, named in import errors.
    map_location: as torch.load's, for storages.
    policy: a _policy.PolicyCheck every global must pass, before its module
    is imported and again once it is resolved.
    """

    def __init__(
        self,
        importer,
        file,
        *,
        fix_imports=True,
        encoding="ASCII",
        errors="strict",
        buffers=None,
        map_location=None,
        record=None,
        policy=None,
    ):
        super().__init__(
            file, fix_imports=fix_imports, encoding=encoding, errors=errors, buffers=buffers
        )
        self._importer = importer
        self._map_python2_names = fix_imports and (_peek_protocol(file) or 0) < 3
        self._map_location = map_location
        self._record = record
        self._policy = policy
        self.loaded_storages = {}
        # Made on the first tensor: _tensors.TensorLoader(self).
        self._tensor_loader = None
        self._loaded_reduces = {}

    def find_class(self, module, name):
        if self._map_python2_names:
            module, name = python2_name(module, name)
        if self._policy is not None:
            self._policy.check_global(self._record, module, name)
        try:
            obj = self._importer.import_module(module)
        except ModuleNotFoundError as error:
            if self._record is None:
                raise
            raise ModuleNotFoundError(
                f"{error} (pickle record '{self._record}' references '{module}.{name}')",
                name=error.name,
            ) from error
        # Protocol 4 names nested classes by dotted qualname; torch.package
        # does a single getattr and fails on them.
        for part in name.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                where = ""
                if self._record is not None:
                    archive = self._importer.zip_reader.archive.name
                    where = f" (pickle record '{self._record}' of archive {archive})"
                raise AttributeError(f"Can't get attribute {name!r} on {obj!r}{where}") from None
        if self._policy is not None:
            self._policy.check_resolved(self._record, module, name, obj, self._importer.id())
        if module == "torch._utils":
            # Tensors are rebuilt by one call each: a faster path pays off
            # for pickles of many small tensors.
            return self._tensors().rebuild(obj)
        return obj

    def _tensors(self):
        loader = self._tensor_loader
        if loader is None:
            # Imported here so that packages without tensors never load torch.
            from ._tensors import TensorLoader

            loader = self._tensor_loader = TensorLoader(self)
        return loader

    def _corrupt(self, problem):
        """The error for a persistent id the exporter never writes, naming
        the archive and record when this load has them."""
        if self._record is not None:
            archive = self._importer.zip_reader.archive.name
            problem = f"archive {archive}, record {self._record}: {problem}"
        return CorruptPickleError(problem)

    def _reduce(self, func, args):
        # What the exporter writes: a function and a tuple of its arguments.
        if not callable(func) or not isinstance(args, tuple):
            raise self._corrupt(
                "reduce_package persistent id needs a callable and a tuple, got "
                f"{type(func).__name__} and {type(args).__name__}")
        if _torchscript.is_unpackage_function(func):
            return _torchscript.load(self, func, args)
        return func(self._importer, *args)

    def persistent_load(self, saved_id):
        if not isinstance(saved_id, tuple) or not saved_id:
            raise self._corrupt(f"persistent id must be a non-empty tuple, got {saved_id!r}")
        try:
            typename = _decode_ascii(saved_id[0])
        except UnicodeDecodeError:
            raise self._corrupt(f"persistent id kind {saved_id[0]!r} is not ASCII") from None
        if typename == "storage":
            if len(saved_id) != 5:
                raise self._corrupt(
                    f"storage persistent id must have 5 fields, got {len(saved_id)}"
                )
            loader = self._tensor_loader or self._tensors()
            return loader.load_storage(saved_id[1], saved_id[2], saved_id[3], saved_id[4])
        if typename == "reduce_package":
            if len(saved_id) == 3:
                # Legacy form without an id: nothing to memoise on.
                _, func, args = saved_id
                return self._reduce(func, args)
            if len(saved_id) != 4:
                raise self._corrupt(
                    f"reduce_package persistent id must have 3 or 4 fields, got {len(saved_id)}"
                )
            _, reduce_id, func, args = saved_id
            if not isinstance(reduce_id, (int, str, bytes)):
                raise self._corrupt(
                    f"reduce_package id must be an int or str, got {type(reduce_id).__name__}")
            if reduce_id not in self._loaded_reduces:
                self._loaded_reduces[reduce_id] = self._reduce(func, args)
            return self._loaded_reduces[reduce_id]
        raise self._corrupt(
            "Unknown typename for persistent_load, expected 'storage' or 'reduce_package' "
            f"but got '{typename}'"
        )
