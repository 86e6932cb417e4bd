"""PackageImporter: import code and load objects from a package archive.

Modules come from the archive's sources, never from the running environment,
except the ones the archive lists as external (``.data/extern_modules``).
Each importer keeps its own module table (``modules``, demangled names) and
mangles the names of the module objects it creates (``<torch_package_N>.``),
so several packages, or several copies of one package, coexist in a process.
While the importer is open its modules are also in ``sys.modules`` under
those mangled names, which no real module can have, so that what looks
modules up there (dataclasses, typing.get_type_hints, pickling by
reference, enum, inspect) works on packaged code; ``close()`` (or leaving a
``with`` block) removes them.

Loading a package runs its code and unpickles its data: open archives you
do not trust with a load policy (``safe=True``, ``policy=LoadPolicy(...)``,
see _policy), which refuses a package before anything of it runs, or take
only their tensors with load_weights, which runs none of it.
"""

import builtins
import importlib
import importlib.machinery
import importlib.util
import inspect
import io
import linecache
import os
import pickle
import sys
import tokenize
import types
import weakref
from typing import Any, BinaryIO, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

try:
    from importlib.resources.abc import Traversable, TraversableResources
except ImportError:  # Python < 3.11
    from importlib.abc import Traversable, TraversableResources

from . import _core, _environment, _manifest, _remote
from ._bytecode import ModuleCode, archive_bytecode_trusted
from ._directory_reader import DirectoryReader, RecordReader
from ._files import materialize
from ._importlib import (
    calc_package,
    normalize_resource,
    resolve_name,
    sanity_check,
)
from ._mangling import PackageMangler, demangle, is_mangled, registered_prefixes
from ._package_unpickler import PackageUnpickler
from ._policy import LoadPolicy, PolicyCheck
from .errors import CorruptArchiveError, CorruptPickleError, HermeticError, ResourceLimitError
from .file_structure_representation import Directory, _create_directory_from_file_list
from .importer import Importer

__all__ = ["PackageImporter"]

# A package by name or module object, as torch.package's load_* take it.
PackageName = Union[str, types.ModuleType]
# A key file's path or bytes (hermetic keygen).
KeyFile = Union[str, os.PathLike[str], bytes]

# torch depends on numpy without packages being able to record it, and FX
# code uses builtins without externing it: these may always come from the
# environment.
IMPLICIT_IMPORT_ALLOWLIST = ("numpy", "numpy.core", "numpy.core._multiarray_umath", "builtins")

# Names newer releases of external modules removed but old pickles use.
EXTERN_IMPORT_COMPAT_NAME_MAPPING = {"numpy": {"str": str, "bool": bool}}

_EXTERN_LIST = ".data/extern_modules"
_PYTHON_VERSION = ".data/python_version"
_MODULE_ORIGIN = "<package_importer>"
# Modules whose lookup registers fake submodules (see _find_and_load).
_ALIASING_MODULES = ("os", "typing")
_NOT_LOADED = object()


class _PackageNode:
    """A folder of the archive: a package, with __init__.py source or not."""

    __slots__ = ("source_file", "children")

    def __init__(self, source_file: Optional[str] = None):
        self.source_file: Optional[str] = source_file
        self.children: Dict[str, Union[_PackageNode, _ModuleNode, _ExternNode]] = {}


class _ModuleNode:
    __slots__ = ("source_file",)

    def __init__(self, source_file):
        self.source_file = source_file


class _ExternNode:
    """A module (and everything below it) imported from the environment."""

    __slots__ = ()


def _package_at(root, atoms):
    """The package node at `atoms` below root (created as needed), or the
    extern node that covers that path."""
    node = root
    for depth, atom in enumerate(atoms):
        child = node.children.get(atom)
        if child is None:
            child = node.children[atom] = _PackageNode()
        if isinstance(child, _ExternNode):
            return child
        if isinstance(child, _ModuleNode):
            raise ImportError(
                "inconsistent module structure. "
                f"module {'.'.join(atoms[: depth + 1])} is not a package, but has submodules"
            )
        node = child
    return node


def _build_module_tree(extern_modules, record_names):
    root = _PackageNode()
    for name in extern_modules:
        *parents, last = name.split(".")
        package = _package_at(root, parents)
        # An extern parent already covers everything below it.
        if not isinstance(package, _ExternNode):
            package.children[last] = _ExternNode()
    for record in record_names:
        *folders, file_name = record.split("/")
        # Storages and TorchScript tables, not modules.
        if len(folders) > 1 and folders[0] == ".data":
            continue
        package = _package_at(root, folders)
        if isinstance(package, _ExternNode):
            raise ImportError(
                f"inconsistent module structure. package contains a module file {record}"
                " that is a subpackage of a module marked external."
            )
        if file_name == "__init__.py":
            package.source_file = record
        elif file_name.endswith(".py"):
            package.children[file_name[: -len(".py")]] = _ModuleNode(record)
    return root


def _open_records(file_or_buffer, verify):
    """(reader, filename) for a path, a URL, a directory or a readable binary
    file; `verify` makes the reader CRC-check views too (see PackageImporter)."""
    if isinstance(file_or_buffer, str) and _remote.is_url(file_or_buffer):
        source = _remote.open_url(file_or_buffer)
        return _file_records(source, verify), file_or_buffer
    if isinstance(file_or_buffer, (str, os.PathLike)):
        filename = os.fsdecode(os.fspath(file_or_buffer))
        if os.path.isdir(filename):
            return DirectoryReader(filename, verify_crc=verify), filename
        return RecordReader(_core.ArchiveReader(filename, verify_crc=verify)), filename
    if isinstance(file_or_buffer, (bytes, bytearray, memoryview)):
        return _buffer_records(file_or_buffer, file_or_buffer, verify), "<binary>"
    read = getattr(file_or_buffer, "read", None)
    if not callable(read):
        raise TypeError(
            "PackageImporter expects a path (str or os.PathLike), a URL, a directory, "
            f"or a readable binary file object, got {type(file_or_buffer).__name__}"
        )
    seekable = getattr(file_or_buffer, "seekable", None)
    if callable(seekable) and seekable():
        # Read where needed (a local file is mapped, see _remote), offsets
        # counting from the start of the file, wherever the caller left it.
        _remote.check_binary(file_or_buffer.read(0))
        return _file_records(file_or_buffer, verify), "<binary>"
    # A stream that cannot seek (a pipe, a socket) is read whole.
    data = _remote.check_binary(read())
    # Errors name the file the bytes came from, when the object knows it.
    name = getattr(file_or_buffer, "name", None)
    return _buffer_records(data if name is None else _NamedBytes(data, name), data,
                           verify), "<binary>"


def _file_records(file, verify):
    reader = RecordReader(_core.ArchiveReader(file, verify_crc=verify))
    # torch's reader of TorchScript records reads the same file object.
    reader.source = file
    return reader


def _buffer_records(source, data, verify):
    reader = RecordReader(_core.ArchiveReader(source, verify_crc=verify))
    # The archive's bytes, for torch's reader of TorchScript records.
    reader.source = data
    return reader


class _NamedBytes:
    """Bytes already read from a file object, handed to the reader as a file
    object (read() and name) so that its errors name that file."""

    def __init__(self, data, name):
        self._data = data
        self.name = name

    def read(self):
        return self._data


def _where(reader, record):
    """The "archive A, record R" that starts every error about a record."""
    return f"archive {reader.archive.name}, record {record}"


def _utf8_record(reader, record):
    """Record `record` decoded as UTF-8; CorruptArchiveError if it is not."""
    try:
        return reader.get_record(record).decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorruptArchiveError(f"{_where(reader, record)}: not UTF-8: {error}") from error


def _decode_source(reader, record, source):
    """A module's source bytes as text, in the encoding its coding cookie
    declares (UTF-8 without one), as the import system decodes it;
    CorruptArchiveError if they cannot be, or hold a NUL (which no source
    file can)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        text = source.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as error:
        raise CorruptArchiveError(
            f"{_where(reader, record)}: source cannot be decoded: {error}"
        ) from error
    if "\0" in text:
        raise CorruptArchiveError(f"{_where(reader, record)}: source contains a NUL byte")
    return text


def _read_extern_list(reader):
    archive = reader.archive
    if not reader.has_record(_EXTERN_LIST):
        raise CorruptArchiveError(
            f"archive {archive.name!r} has no record {_EXTERN_LIST}: it is not a package "
            "(or its exporter was never closed)"
        )
    text = _utf8_record(reader, _EXTERN_LIST)
    # A package without externs stores a lone newline; a blank name means
    # nothing and would only confuse module_allowed.
    return [name for name in text.splitlines() if name]


def _unpickler_error(error):
    """Whether `error`, caught around Unpickler.load() in the same frame,
    was raised by the C unpickler itself (or a builtin it called on the
    stream's behalf), not by Python code the load ran: packaged code, an
    extern library or hermetic's own glue, which raise what they mean."""
    traceback = error.__traceback__
    return traceback is not None and traceback.tb_next is None


# Mangled module name -> module, for every module any PackageImporter
# created; lets inspect find source files of packaged classes.
_package_imported_modules = weakref.WeakValueDictionary()


def _is_package(module):
    """hasattr(module, "__path__"), without the AttributeError (and its
    formatted message) that asking a plain module for it costs."""
    if type(module) is types.ModuleType:
        namespace = module.__dict__
        if "__path__" in namespace:
            return True
        if "__getattr__" not in namespace:
            return False
    return hasattr(module, "__path__")


class PackageImporter(Importer):
    """Imports modules and loads resources from a package archive.

    file_or_buffer: path of a zip archive or of an unzipped package folder
    (the folder that holds ``.data/``; str or os.PathLike), a URL (a str
    with ``://``, opened through fsspec when installed), a bytes-like
    object, or a readable binary file object. A seekable file object
    (fsspec files included) and a URL are read where needed: the central
    directory and local headers at open, each record when first used, a
    tensor storage whole in one read (see _remote); a local file object is
    mapped like a path; a stream that cannot seek is read whole.
    module_allowed: called with every external module the package needs;
    returning False refuses the package with ImportError.

    verify: check every record's CRC-32 now, and the CRC of each tensor
    storage and out-of-band buffer when it is first mapped. Without it, the
    CRC of every record read into memory (sources, pickles, text, binary) is
    checked on each read, but mapped storages and buffers are used as they
    are: a changed byte in them goes unnoticed. A mismatch raises
    CorruptArchiveError naming the archive and the record. When the archive
    has a manifest (``.data/hermetic/manifest``), every record's SHA-256 is
    also checked against it, and its signature if any: a record changed,
    added or removed raises IntegrityError naming it.
    trusted_keys: public keys (paths or bytes of key files, see
    ``hermetic keygen``); the archive must carry a valid signature by one of
    them, else IntegrityError (unsigned, signed by another key, tampered).
    The manifest is checked as with verify, before anything is loaded;
    ``trusted_signer`` is then the hex of the key that signed it (else None).

    policy: a LoadPolicy (see _policy); ``safe=True`` is policy=LoadPolicy().
    Before this returns, the package's externs, every global of every
    ``*.pkl`` record and the static scan's findings are checked against it;
    load_pickle checks the pickle's bytes again and each global as it is
    resolved. A violation raises UnsafePackageError (record, subject, rule)
    and nothing of the package has run.

    real_files: top-level packages (a name, a list of names, or True for
    all) whose records are written once as real, read-only files into the
    local cache, so that their modules' ``__file__`` and ``__path__`` are
    paths of the file system: for libraries that list or open files of
    their own folder (see _files). Others keep torch.package's mangled
    ``__file__``.

    expose: top-level packages of the archive that the host's own import
    system sees under their plain names while the importer is open
    (``import lib`` anywhere gets the packaged ``lib``): for libraries that
    import themselves by name through importlib (transformers does, with
    real_files). ImportError if the host already has a module of that name.

    strict: an archive that records its environment
    (``.data/hermetic/environment``, PackageExporter(environment=True)) is
    compared with this interpreter at open: each extern distribution whose
    version differs or that is missing, and another Python major.minor,
    warn (EnvironmentMismatchWarning) naming both; with strict=True they
    raise EnvironmentMismatchError (an ImportError) instead.

    trust_bytecode: run the bytecode records the archive carries (see
    _bytecode) instead of its source; an archive signed by one of
    trusted_keys is trusted so too. Off by default: a record's header is
    written by the archive's author, so its code may differ from the source
    it claims. Untrusted, packaged source is compiled, once per machine,
    into the local bytecode cache (_bytecode_cache; ``HERMETIC_CACHE_DIR``).

    Attributes: ``filename`` (the path or URL given, or ``"<binary>"``),
    ``zip_reader`` (a RecordReader/DirectoryReader: ``get_record(name)``,
    ``has_record(name)``, ``get_all_records()``; see _directory_reader),
    ``root`` (the module tree), ``modules`` (demangled name -> module, like
    sys.modules but private), ``extern_modules``, ``patched_builtins``
    (the builtins packaged code sees), ``storage_context`` and
    ``last_map_location`` (set while load_pickle runs), ``Unpickler``
    (a factory, so the importer serves as torch.load's pickle_module).
    """

    def __init__(self, file_or_buffer: Union[str, os.PathLike[str], bytes, bytearray,
                                             memoryview, BinaryIO],
                 module_allowed: Callable[[str], bool] = lambda module_name: True, *,
                 verify: bool = False, trusted_keys: Optional[Sequence[KeyFile]] = None,
                 trust_bytecode: bool = False, policy: Optional[LoadPolicy] = None,
                 safe: bool = False, real_files: Union[bool, str, Sequence[str]] = (),
                 expose: Union[str, Sequence[str]] = (), strict: bool = False) -> None:
        if safe:
            if policy is not None:
                raise TypeError("PackageImporter takes policy= or safe=True, not both")
            policy = LoadPolicy()
        elif policy is not None and not isinstance(policy, LoadPolicy):
            raise TypeError(f"policy must be a LoadPolicy, not {type(policy).__name__}")
        # Everything that can fail on a bad archive runs before any shared
        # state (mangle counter, registries) is touched.
        reader, filename = _open_records(file_or_buffer, verify)
        if isinstance(expose, str):
            expose = (expose,)
        for top in expose:
            taken = sys.modules.get(top)
            if top in _exposed or (taken is not None and
                                   not getattr(taken, "__torch_package__", False)):
                raise ImportError(f"cannot expose package {top!r} of {filename}: the "
                                  "interpreter already has a module of that name")
        if verify:
            reader.archive.verify()
        trusted_signer = None
        if verify or trusted_keys is not None:
            _, signer, _ = _manifest.verify_archive(reader.archive, trusted_keys)
            if trusted_keys is not None:
                trusted_signer = signer
        extern_modules = _read_extern_list(reader)
        for name in extern_modules:
            if not module_allowed(name):
                raise ImportError(
                    f"package '{file_or_buffer}' needs the external module '{name}' "
                    "but that module has been disallowed"
                )
        bytecode_runs = archive_bytecode_trusted(trusted_signer, trust_bytecode=trust_bytecode)
        self._policy = None
        if policy is not None:
            self._policy = PolicyCheck(policy, reader, extern_modules,
                                       bytecode_runs=bytecode_runs)
            self._policy.check_archive()
        if reader.has_record(_environment.RECORD):
            _environment.check(_utf8_record(reader, _environment.RECORD), filename,
                               strict=strict)
        self.root: _PackageNode = _build_module_tree(extern_modules, reader.get_all_records())

        self.filename = filename
        self.zip_reader: RecordReader = reader
        # Hex of the trusted key that signed the archive (trusted_keys only).
        self.trusted_signer = trusted_signer
        # The C++ reader itself, for the tensor and out-of-band buffer glue.
        self._reader = reader.archive
        self.extern_modules: List[str] = extern_modules
        self.modules: Dict[str, Any] = {"torch_package_importer": self}
        # (package, name, level) -> absolute name, for relative imports.
        self._relative_names = {}
        self.patched_builtins: Dict[str, Any] = dict(builtins.__dict__)
        self.patched_builtins["__import__"] = self.__import__
        self.storage_context: Any = None
        self.last_map_location: Any = None
        self._mangler = PackageMangler()
        # Mangled name -> module, of what this importer put in sys.modules.
        # The prefix itself is registered as a bare package so that
        # __import__ of a mangled dotted name (pickle does that) finds a top.
        prefix = self._mangler.parent_name()
        root_module = types.ModuleType(prefix)
        root_module.__path__ = []
        self._registered = {prefix: root_module}
        sys.modules[prefix] = root_module
        registered_prefixes[prefix] = self
        _install_mangled_finder()
        self._exposed = tuple(expose)
        for top in self._exposed:
            _exposed[top] = self
        if isinstance(real_files, str):
            real_files = (real_files,)
        self._real_files = real_files if real_files is True else frozenset(real_files)
        # Top-level package -> folder of its real files.
        self._file_roots = {}
        self._module_code = ModuleCode(reader, bytecode_runs)

    def Unpickler(self, *args: Any, **kwargs: Any) -> pickle.Unpickler:  # noqa: N802 (torch's name)
        return PackageUnpickler(self, *args, **kwargs)

    def close(self) -> None:
        """Removes this importer's modules from sys.modules. What was loaded
        keeps working; sys.modules holds the modules, and they hold their
        importer, so an importer never closed stays registered (as an
        ordinary import stays) until the interpreter exits."""
        for name, module in self._registered.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        self._registered.clear()
        registered_prefixes.pop(self._mangler.parent_name(), None)
        for top in self._exposed:
            if _exposed.get(top) is self:
                del _exposed[top]

    def __enter__(self) -> "PackageImporter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------
    # Public API

    def import_module(self, name: str, package: Optional[str] = None) -> types.ModuleType:
        """Imports `name` from the package (or its externs) and returns it.

        Names mangled by this importer (e.g. an object's __module__) are
        accepted; `package` is unused (importlib.import_module's signature).
        """
        if isinstance(name, str):
            name = self._mangler.demangle(name)
        return self._gcd_import(name)

    def load_binary(self, package: PackageName, resource: str) -> bytes:
        """Bytes of `resource` in `package` (a package name or module)."""
        return self.zip_reader.get_record(self._zipfile_path(package, resource))

    def load_text(self, package: PackageName, resource: str, encoding: str = "utf-8",
                  errors: str = "strict") -> str:
        record = self._zipfile_path(package, resource)
        data = self.zip_reader.get_record(record)
        try:
            return data.decode(encoding, errors)
        except UnicodeDecodeError as error:
            raise CorruptArchiveError(
                f"{_where(self.zip_reader, record)}: not {encoding}: {error}"
            ) from error

    def load_pickle(self, package: PackageName, resource: str,
                    map_location: Any = None) -> Any:
        """Unpickles `resource` of `package`, importing the globals it names
        from this package; map_location is torch.load's, for tensors.

        The pickle's bytes pass _core.check_pickle first, so the unpickler
        never sees a stream whose memo, lengths or nesting would make it
        allocate out of proportion to the pickle. What the unpickler itself
        still refuses raises CorruptPickleError (a CorruptArchiveError and an
        UnpicklingError; ResourceLimitError for a MemoryError) naming the archive and record, the original chained;
        exceptions raised by code the load runs (packaged or extern classes,
        their imports) propagate unchanged.
        """
        record, data, scan = self._checked_pickle(self._zipfile_path(package, resource))
        if self._policy is not None:
            self._policy.check_pickle(record, scan)
        buffers = None
        if self.zip_reader.has_record(f"{record}.oob/0"):
            # Imported here: most pickles have no out-of-band buffers.
            from ._oob import load_buffers

            package_name = record.rpartition("/")[0].replace("/", ".")
            buffers = load_buffers(self, package_name, resource)
        # A buffered reader has peek(), which lets the C unpickler take the
        # input in large blocks rather than one read() call per opcode.
        unpickler = PackageUnpickler(
            self,
            io.BufferedReader(io.BytesIO(data)),
            buffers=buffers,
            map_location=map_location,
            record=record,
            policy=self._policy,
        )
        return self._unpickle(unpickler, record, map_location)

    def load_weights(self, package: PackageName, resource: str,
                     map_location: Any = None) -> Any:
        """Tensors and plain containers (a state_dict) of pickle `resource`
        of `package`, running no packaged code and importing nothing from
        the package, whatever policy the importer has (see _weights for
        what is allowed and how it compares with torch.load's
        weights_only). Anything else raises UnsafePackageError before
        unpickling.
        """
        from ._weights import WeightsUnpickler

        # The record by name: resolving the package as load_pickle does
        # would import it, running its __init__.
        name = package if isinstance(package, str) else demangle(package.__name__)
        record, data, scan = self._checked_pickle(
            f"{name.replace('.', '/')}/{normalize_resource(resource)}")
        unpickler = WeightsUnpickler(
            self, io.BufferedReader(io.BytesIO(data)), map_location=map_location, record=record)
        unpickler.check(scan)
        return self._unpickle(unpickler, record, map_location)

    def _checked_pickle(self, record):
        """(record, bytes, gate scan) of a pickle record: its bytes passed
        _core.check_pickle, else CorruptPickleError naming the record."""
        data = self.zip_reader.get_record(record)
        try:
            scan = _core.check_pickle(data)
        except CorruptPickleError as error:
            raise CorruptPickleError(f"{_where(self.zip_reader, record)}: {error}") from None
        return record, data, scan

    def _unpickle(self, unpickler, record, map_location):
        self.storage_context = unpickler.loaded_storages
        self.last_map_location = map_location
        import gc

        # Unpickling allocates many objects and frees almost none, so cyclic
        # collections during it find nothing; on pickles of many small
        # tensors they cost more than the loading itself.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            result = unpickler.load()
        except HermeticError:
            raise
        except Exception as error:
            if not _unpickler_error(error):
                raise
            kind = ResourceLimitError if isinstance(error, MemoryError) else CorruptPickleError
            raise kind(
                f"{_where(self.zip_reader, record)}: cannot unpickle: "
                f"{type(error).__name__}: {error}"
            ) from error
        finally:
            if gc_was_enabled:
                gc.enable()
            self.storage_context = None
            self.last_map_location = None
        if unpickler.loaded_storages:
            # torch checks sparse tensors only once all their parts exist.
            sys.modules["torch"]._utils._validate_loaded_sparse_tensors()
        return result

    def id(self) -> str:
        """This importer's mangle prefix, e.g. ``<torch_package_0>``."""
        return self._mangler.parent_name()

    def file_structure(self, *, include: Union[str, Sequence[str]] = "**",
                       exclude: Union[str, Sequence[str]] = ()) -> Directory:
        """A Directory tree of the records matching the '/'-separated globs."""
        return _create_directory_from_file_list(
            self.filename, self.zip_reader.get_all_records(), include, exclude
        )

    def python_version(self) -> Optional[str]:
        """The exporting Python's version (e.g. "3.11.7"), or None if not
        recorded."""
        if not self.zip_reader.has_record(_PYTHON_VERSION):
            return None
        return _utf8_record(self.zip_reader, _PYTHON_VERSION).strip()

    # linecache and inspect call these two by name on a module's __loader__.
    # Neither imports anything: a traceback printed while a module's code
    # fails asks for its source, and must not run that code again.
    def get_source(self, module_name: str) -> Optional[str]:
        node = self._node(demangle(module_name))
        record = getattr(node, "source_file", None)
        if record is None:
            return None
        return _decode_source(self.zip_reader, record, self.zip_reader.get_record(record))

    def get_resource_reader(self, fullname: str) -> Optional[TraversableResources]:
        """importlib.resources support for package `fullname` of this archive."""
        name = demangle(fullname)
        if not isinstance(self._node(name), _PackageNode):
            return None
        return _PackageResourceReader(self, name)

    def _node(self, name):
        """The module tree's node for demangled `name`, or None."""
        node = self.root
        for atom in name.split("."):
            if not isinstance(node, _PackageNode):
                return None
            node = node.children.get(atom)
        return node

    # ------------------------------------------------------------------
    # Import machinery (the shape of importlib._bootstrap)

    def __import__(self, name: str, globals: Optional[Mapping[str, Any]] = None,
                   locals: Optional[Mapping[str, Any]] = None,
                   fromlist: Sequence[str] = (), level: int = 0) -> types.ModuleType:
        # Packaged code mostly imports modules that are loaded already;
        # answer those without the full protocol below, which would return
        # the same modules.
        if level == 0 and type(name) is str and name not in _ALIASING_MODULES:
            module = self.modules.get(name)
            if module is not None:
                if fromlist:
                    return self._handle_fromlist(module, fromlist)
                top = name.partition(".")[0]
                top_module = self.modules.get(top)
                if top_module is not None and top not in _ALIASING_MODULES:
                    return top_module
        elif level > 0 and fromlist and type(name) is str and globals is not None:
            # A relative import resolved before, from a module whose
            # __package__ calc_package would take as is.
            package = globals.get("__package__")
            absolute = (self._relative_names.get((package, name, level))
                        if type(package) is str else None)
            if absolute is not None:
                spec = globals.get("__spec__")
                module = self.modules.get(absolute)
                if module is not None and (spec is None or spec.parent == package):
                    return self._handle_fromlist(module, fromlist)
        if level <= 0:
            # A negative level fails the sanity check before any package
            # lookup.
            module = self._gcd_import(name, None, level)
        else:
            package = calc_package(globals if globals is not None else {})
            module = self._gcd_import(name, package, level)
        if fromlist:
            return self._handle_fromlist(module, fromlist)
        if level == 0:
            return self._gcd_import(name.partition(".")[0])
        if not name:
            return module
        # `from .a.b import` without fromlist: return the module that `.a`
        # names, i.e. cut the tail after the first dot of `name`.
        tail = len(name) - len(name.partition(".")[0])
        module_name = demangle(module.__name__)
        return self.modules[module_name[: len(module_name) - tail]]

    def _gcd_import(self, name, package=None, level=0):
        sanity_check(name, package, level)
        if level > 0:
            absolute = resolve_name(name, package, level)
            if absolute not in _ALIASING_MODULES:
                self._relative_names[package, name, level] = absolute
            name = absolute
        return self._find_and_load(name)

    def _find_and_load(self, name):
        module = self.modules.get(name, _NOT_LOADED)
        if module is _NOT_LOADED:
            return self._do_find_and_load(name)
        if module is None:
            raise ModuleNotFoundError(f"import of {name} halted; None in sys.modules", name=name)
        # os and typing fake submodules through sys.modules, which this
        # importer does not share: register the aliases here.
        if name == "os":
            self.modules["os.path"] = module.path
        elif name == "typing" and sys.version_info < (3, 13):
            self.modules["typing.io"] = module.io
            self.modules["typing.re"] = module.re
        return module

    def _do_find_and_load(self, name):
        parent, _, child = name.rpartition(".")
        if parent:
            if parent not in self.modules:
                self._gcd_import(parent)
            # Importing the parent may have imported this module too.
            if name in self.modules:
                return self.modules[name]
            self._check_is_package(name, parent, child)
        module = self._load_module(name, parent)
        self._install_on_parent(parent, name, module)
        return module

    def _check_is_package(self, name, parent, child):
        parent_module = self.modules[parent]
        if _is_package(parent_module):
            return
        if not isinstance(parent_module.__loader__, importlib.machinery.ExtensionFileLoader):
            raise ModuleNotFoundError(
                f"No module named {name!r}; {parent!r} is not a package", name=name
            )
        if name not in self.extern_modules:
            raise ModuleNotFoundError(
                f"No module named {name!r}; {name!r} is a c extension module which was not "
                "externed. C extension modules need to be externed by the PackageExporter in "
                "order to be used "
                "as we do not support interning them.",
                name=name,
            )
        if not isinstance(parent_module.__dict__.get(child), types.ModuleType):
            raise ModuleNotFoundError(
                f"No module named {name!r}; {parent!r} is a c extension package "
                f"which does not contain {name!r}.",
                name=name,
            )

    def _load_module(self, name, parent):
        node = self.root
        for atom in name.split("."):
            if not isinstance(node, _PackageNode) or atom not in node.children:
                if name in IMPLICIT_IMPORT_ALLOWLIST:
                    module = self.modules[name] = importlib.import_module(name)
                    return module
                raise ModuleNotFoundError(
                    f'No module named "{name}" in self-contained archive "{self.filename}" '
                    "and the module is also not in the list of allowed external modules: "
                    f"{self.extern_modules}",
                    name=name,
                )
            node = node.children[atom]
            if isinstance(node, _ExternNode):
                module = self.modules[name] = importlib.import_module(name)
                for old_name, value in EXTERN_IMPORT_COMPAT_NAME_MAPPING.get(name, {}).items():
                    module.__dict__.setdefault(old_name, value)
                return module
        return self._make_module(name, node.source_file, isinstance(node, _PackageNode), parent)

    def _real_root(self, name):
        """The folder holding module `name`'s top-level package as real
        files (see real_files), else None."""
        top = name.partition(".")[0]
        if self._real_files is not True and top not in self._real_files:
            return None
        root = self._file_roots.get(top)
        if root is None:
            root = self._file_roots[top] = materialize(self.zip_reader, top)
        return root

    def _make_module(self, name, source_file, is_package, parent):
        mangled_name = self._mangler.mangle(name)
        spec = importlib.machinery.ModuleSpec(
            name, self, origin=_MODULE_ORIGIN, is_package=is_package
        )
        # The module's __file__, and the name its code and tracebacks show.
        file_name = self._mangler.mangle(source_file) if source_file is not None else None
        real_root = self._real_root(name) if self._real_files else None
        if real_root is not None:
            if is_package:
                spec.submodule_search_locations.append(os.path.join(real_root, *name.split(".")))
            if source_file is not None:
                file_name = os.path.join(real_root, *source_file.split("/"))
        module = types.ModuleType(mangled_name)
        namespace = module.__dict__
        namespace.update(
            __spec__=spec,
            __loader__=self,
            __package__=spec.parent,
            __file__=file_name,
            __cached__=None,
            __builtins__=self.patched_builtins,
            __torch_package__=True,
        )
        if is_package:
            namespace["__path__"] = spec.submodule_search_locations
        self.modules[name] = module
        _package_imported_modules[mangled_name] = module
        if self._registered:
            sys.modules[mangled_name] = self._registered[mangled_name] = module
        # Installed before running the code so that `from . import x` inside
        # a package's own __init__ finds x without a second import.
        self._install_on_parent(parent, name, module)
        if source_file is None:
            return module
        if real_root is None:
            # Real files are read by linecache from the file system.
            linecache.lazycache(file_name, namespace)
        try:
            source = self.zip_reader.get_record(source_file)
            try:
                code = self._module_code.code(name, is_package, source, file_name)
            except (SyntaxError, ValueError):
                # Bytes that cannot be text (or hold a NUL) are damage, not a mistake in
                # the package's code; checked only then, as it costs.
                _decode_source(self.zip_reader, source_file, source)
                raise
            exec(code, namespace)
        except BaseException as error:
            if (isinstance(error, OSError) and isinstance(error.filename, str)
                    and is_mangled(error.filename) and hasattr(error, "add_note")):
                error.add_note(
                    f"{error.filename} is a module's folder inside the package, not on disk: "
                    "to let packaged code read its own files, open the package with "
                    f"PackageImporter(..., real_files=[{name.partition('.')[0]!r}])")
            # As importlib does: a module whose code failed is not imported.
            del self.modules[name]
            if self._registered.pop(mangled_name, None) is module:
                del sys.modules[mangled_name]
            # Through __dict__: a lazy parent's __getattr__ would import again.
            child = name.rpartition(".")[2]
            if parent and vars(self.modules[parent]).get(child) is module:
                delattr(self.modules[parent], child)
            raise
        # As importlib does: a module may put another object in its place in
        # sys.modules (transformers' lazy modules do), and that is what an
        # import returns.
        replaced = sys.modules.get(mangled_name) if self._registered else module
        if replaced is not module and replaced is not None:
            module = self.modules[name] = self._registered[mangled_name] = replaced
            _package_imported_modules[mangled_name] = replaced
            self._install_on_parent(parent, name, replaced)
        return module

    def _install_on_parent(self, parent, name, module):
        if not parent:
            return
        parent_module = self.modules[parent]
        # Never modify a module of the environment (an extern parent).
        if parent_module.__loader__ is self:
            setattr(parent_module, name.rpartition(".")[2], module)

    def _handle_fromlist(self, module, fromlist, *, recursive=False):
        if not _is_package(module):
            return module
        # The usual case first: every name is in the package already.
        namespace = module.__dict__
        for item in fromlist:
            if type(item) is not str or item == "*" or item not in namespace:
                break
        else:
            return module
        module_name = demangle(module.__name__)
        for item in fromlist:
            if not isinstance(item, str):
                where = f"{module_name}.__all__" if recursive else "``from list''"
                raise TypeError(f"Item in {where} must be str, not {type(item).__name__}")
            if item == "*":
                if not recursive and hasattr(module, "__all__"):
                    self._handle_fromlist(module, module.__all__, recursive=True)
            elif not hasattr(module, item):
                submodule = f"{module_name}.{item}"
                try:
                    self._gcd_import(submodule)
                except ModuleNotFoundError as error:
                    # `from pkg import name` where name is neither attribute
                    # nor submodule: IMPORT_FROM reports it, not us.
                    blocked = self.modules.get(submodule, _NOT_LOADED) is None
                    if error.name == submodule and not blocked:
                        continue
                    raise
        return module

    # ------------------------------------------------------------------
    # Resource paths

    def _get_package(self, package):
        """The package module for a name or module object; TypeError if it
        is a plain module."""
        module = package if hasattr(package, "__spec__") else self.import_module(package)
        if module.__spec__.submodule_search_locations is None:
            shown = module.__spec__.name if module is package else package
            raise TypeError(f"{shown!r} is not a package")
        return module

    def _zipfile_path(self, package, resource=None):
        module = self._get_package(package)
        if module.__loader__ is not self:
            raise ValueError(
                f"{module.__name__!r} was not imported by this PackageImporter ({self.id()})"
            )
        folder = demangle(module.__name__).replace(".", "/")
        if resource is None:
            return folder
        return f"{folder}/{normalize_resource(resource)}"


class _RecordPath(Traversable):
    """A file or folder of the archive, for importlib.resources.files()."""

    def __init__(self, importer, path):
        self._importer = importer
        self._path = path

    @property
    def name(self):
        return self._path.rpartition("/")[2]

    def __repr__(self):
        return f"{type(self).__name__}({self._importer.filename!r}, {self._path!r})"

    def _child_names(self):
        folder = self._path + "/"
        names = {}
        for record in self._importer.zip_reader.get_all_records():
            if record.startswith(folder):
                names.setdefault(record[len(folder):].partition("/")[0])
        return list(names)

    def iterdir(self):
        return (self.joinpath(name) for name in self._child_names())

    def is_file(self):
        return self._importer.zip_reader.has_record(self._path)

    def is_dir(self):
        return not self.is_file() and bool(self._child_names())

    def joinpath(self, *descendants):
        parts = [part for descendant in descendants for part in str(descendant).split("/") if part]
        return _RecordPath(self._importer, "/".join([self._path, *parts]))

    __truediv__ = joinpath

    def open(self, mode="r", *args, **kwargs):
        if mode not in ("r", "rb"):
            raise ValueError(f"package resources are read-only; cannot open with mode {mode!r}")
        if not self.is_file():
            raise FileNotFoundError(
                f"{self._path!r} is not a file in package {self._importer.filename!r}"
            )
        data = io.BytesIO(self._importer.zip_reader.get_record(self._path))
        return data if mode == "rb" else io.TextIOWrapper(data, *args, **kwargs)


class _PackageResourceReader(TraversableResources):
    """What PackageImporter.get_resource_reader returns: the resources of one
    package, also through the older open_resource/contents interface."""

    def __init__(self, importer, package_name):
        self._importer = importer
        self._folder = package_name.replace(".", "/")

    def files(self):
        return _RecordPath(self._importer, self._folder)

    def resource_path(self, resource):
        # Only an unzipped package has resources as real files.
        reader = self._importer.zip_reader
        record = f"{self._folder}/{normalize_resource(resource)}"
        if isinstance(reader, DirectoryReader) and reader.has_record(record):
            return reader.record_path(record)
        raise FileNotFoundError(record)


class _ImportedLoader:
    """importlib's loader for a module an open PackageImporter made: hands
    that module over as it is."""

    def __init__(self, module):
        self._module = module
        self._spec = module.__spec__

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        # importlib set the spec it found; the module keeps its importer's.
        module.__spec__ = self._spec


class _MangledFinder:
    """Answers importlib for mangled names (``importlib.import_module(
    "<torch_package_0>.pkg.mod")``, which lazy-loading libraries call with
    their own __name__) from the open importer that owns the prefix, and for
    the plain names of packages an importer exposes."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname.startswith("<") and is_mangled(fullname):
            importer = registered_prefixes.get(fullname.partition(".")[0])
            name = demangle(fullname)
        else:
            importer = _exposed.get(fullname.partition(".")[0])
            name = fullname
        if importer is None or not isinstance(importer._node(name), (_PackageNode, _ModuleNode)):
            return None  # not in the archive; an extern is the host's by its own name
        module = importer.import_module(name)
        # importlib would take a module already in sys.modules by its own
        # __spec__, whose name is the demangled one, and register it under
        # that: out until importlib puts it back under `fullname`.
        if sys.modules.get(fullname) is module:
            del sys.modules[fullname]
        importer._registered[fullname] = module
        return importlib.util.spec_from_loader(fullname, _ImportedLoader(module))


# Top-level name -> the open importer that exposes that package of its
# archive under the plain name (PackageImporter(expose=...)).
_exposed = {}


def _install_mangled_finder():
    if not any(finder is _MangledFinder for finder in sys.meta_path):
        sys.meta_path.insert(0, _MangledFinder)


def _getfile(obj):
    # inspect only looks in sys.modules for a class's module; packaged
    # modules live in the registry instead.
    if inspect.isclass(obj):
        module = _package_imported_modules.get(obj.__module__)
        if module is not None:
            return module.__file__
    return _inspect_getfile(obj)


_inspect_getfile = inspect.getfile
inspect.getfile = _getfile
