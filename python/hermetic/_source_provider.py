"""What the export engine needs to know of the exporting interpreter: whether
a module exists, whether it is a package, and its source, found through the
exporter's importer (hermetic._core.SourceProvider's protocol)."""

import codecs
import importlib.machinery
import importlib.util
import io
import linecache
import os
import sys
from typing import Optional

from . import _core
from .importer import sys_importer

_Reason = _core.PackagingErrorReason


class SourceProvider:
    """Modules are imported through the exporter's importer."""

    def __init__(self, exporter):
        self._exporter = exporter
        # name -> (source record bytes, is_package) of modules read from
        # their files; close() compiles them into bytecode records if the
        # exporter was asked for them.
        self.file_sources: dict = {}

    def module_exists(self, name: str, must_import: bool) -> bool:
        if self._exporter.importer is sys_importer:
            if not must_import:
                return _module_exists_without_running(name)
            if not _may_import(name):
                return False
        try:
            self._exporter._import_module(name)
        except Exception:
            return False
        return True

    def module_source(self, name: str):
        module = self._exporter._import_module(name)
        is_package = hasattr(module, "__path__")
        filename = _module_filename(module)
        if filename is None:
            return is_package, None, _Reason.NO_DUNDER_FILE, ""
        if not filename.endswith(".py"):
            if filename.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
                return is_package, None, _Reason.IS_EXTENSION_MODULE, ""
            return (is_package, None, _Reason.SOURCE_FILE_NOT_FOUND,
                    f"filename: {filename}")
        read = _read_source_file(module)
        if read is not None:
            source, record = read
            self.file_sources[name] = (record, is_package)
            return is_package, source, None, ""
        source = _module_source(module, filename)
        if source is None:
            return (is_package, None, _Reason.SOURCE_FILE_NOT_FOUND,
                    f"filename: {filename}")
        return is_package, source, None, ""

    def module_is_package(self, name: str) -> bool:
        # torch imports a mocked module to tell (at close()).
        return hasattr(self._exporter._import_module(name), "__path__")


def _may_import(name: str) -> bool:
    """False only where importlib.import_module(name) is certain to raise
    ImportError; cheap, as most names asked about are not modules."""
    if name in sys.modules:
        return True
    parent = name.rpartition(".")[0]
    if parent:
        parent_module = sys.modules.get(parent)
        if parent_module is not None and not hasattr(parent_module, "__path__"):
            return False
    try:
        # Asks the finders as the import would, without the import lock
        # and the raised exception of a failed import.
        spec = importlib.util.find_spec(name)
    except Exception:
        return False
    # The parent's __init__, imported by find_spec, may have registered the
    # submodule itself, which the import would then return.
    return spec is not None or name in sys.modules


def _module_exists_without_running(name: str) -> bool:
    """Whether `name` is imported or the finders locate it and each of its
    packages that is not imported yet, searching a package's folders as
    importlib would but without running its __init__ or anything else.

    The engine asks this of names it will not intern. Code often imports
    optional libraries inside functions (sympy's `from
    IPython.lib.latextools import latex_to_png`); torch.package imports
    each such name to find out whether it exists, which runs all of IPython
    at export time: a side effect the export has no business causing, and
    a fifth of a sympy export's time. What not running costs: an extern or
    mocked module that exists but fails to import is still listed, and a
    package whose __init__ makes submodules appear at run time (extending
    __path__, installing a finder) has only its static submodules seen
    until it is imported, as using the code does.
    """
    if name in sys.modules:
        return sys.modules[name] is not None  # None: imports are blocked
    parts = name.split(".")
    loaded = len(parts) - 1
    while loaded and ".".join(parts[:loaded]) not in sys.modules:
        loaded -= 1
    path = None
    if loaded:
        # importlib reads the parent's __path__ the same way before
        # looking for a submodule.
        path = getattr(sys.modules[".".join(parts[:loaded])], "__path__", None)
        if path is None:
            return False
    for end in range(loaded + 1, len(parts) + 1):
        spec = _find_spec_in_finders(".".join(parts[:end]), path)
        if spec is None:
            return False
        path = spec.submodule_search_locations
        if path is None and end < len(parts):
            return False  # a plain module has no submodules
    return True


def _find_spec_in_finders(fullname: str, path):
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(fullname, path, None)
        except Exception:
            return None
        if spec is not None:
            return spec
    return None


def _module_filename(module) -> Optional[str]:
    spec = getattr(module, "__spec__", None)
    loader = getattr(spec, "loader", None)
    if isinstance(loader, importlib.machinery.SourceFileLoader):
        try:
            return loader.get_filename(module.__name__)
        except ImportError:
            pass
    filename = getattr(module, "__file__", None)
    return filename if isinstance(filename, str) else None


def _module_source(module, filename: str) -> Optional[str]:
    """The text of a module whose file name ends in .py, from its loader
    (which is how modules of a PackageImporter give theirs), else from the
    file; None if neither has it."""
    loader = getattr(module, "__loader__", None)
    get_source = getattr(loader, "get_source", None)
    if get_source is not None:
        try:
            source = get_source(module.__name__)
        except Exception:
            source = None
        if source is not None:
            return source
    lines = linecache.getlines(filename, module.__dict__)
    if lines:
        return "".join(lines)
    return "" if os.path.isfile(filename) else None


def _read_source_file(module):
    """(source text, its UTF-8 record bytes) as the module's
    SourceFileLoader's get_source gives the text, reading the file once;
    None if the module has no such loader or it fails."""
    loader = getattr(module, "__loader__", None)
    if not isinstance(loader, importlib.machinery.SourceFileLoader):
        return None
    try:
        path = loader.get_filename(module.__name__)
        if type(loader).get_data is importlib.machinery.SourceFileLoader.get_data:
            with io.open_code(path) as file:  # what get_data does
                data = file.read()
        else:
            data = loader.get_data(path)
    except (ImportError, OSError):
        return None
    # get_source's decode_source is needed only for an encoding cookie (on
    # the first two lines), a BOM, non-UTF-8 bytes or newlines it would
    # translate.
    second_newline = data.find(b"\n", data.find(b"\n") + 1)
    head = data if second_newline < 0 else data[:second_newline]
    if (b"\r" not in data and not data.startswith(codecs.BOM_UTF8)
            and b"coding" not in head):
        try:
            return data.decode("utf-8"), data
        except UnicodeDecodeError:
            pass
    try:
        source = importlib.util.decode_source(data)
    except Exception:
        return None
    return source, source.encode("utf-8")
