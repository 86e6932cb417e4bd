"""PackageExporter: writes code, pickled objects and resources into one
torch.package-compatible archive.

The C++ export engine (_core.ExportEngine) does dependency discovery, action
resolution, validation, the error report and archive writing (it opens the
target itself). This module keeps what needs live Python objects: pickling,
user hooks, and turning the engine's verdicts into exceptions; the engine
learns about modules from _source_provider.
"""

import collections.abc
import contextlib
import functools
import gc
import io
import itertools
import os
import platform
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Sequence, Type, Union

from . import _core, _manifest, _torchscript
from ._compression import deflate_level
from ._bytecode import write_bytecode
from ._digraph import DiGraph
from ._mangling import is_mangled
from ._package_pickler import PickleContext
from ._progress import ExportProgress
from ._source_provider import SourceProvider
from .glob_group import GlobGroup, GlobPattern
from .importer import Importer, OrderedImporter, sys_importer

__all__ = [
    "EmptyMatchError",
    "PackageExporter",
    "PackagingError",
    "PackagingErrorReason",
]

ActionHook = Callable[["PackageExporter", str], None]

# As in torch.package, pickling a ScriptModule is refused until this (or
# torch.package.package_exporter's) is set to False.
_gate_torchscript_serialization = True


# torch.package's enums, defined once in the C++ core (numbers and texts).
_ModuleProviderAction = _core._ModuleProviderAction
PackagingErrorReason = _core.PackagingErrorReason


class _PatternInfo:
    """An intern/extern/mock/deny call: its action and whether it may end up
    matching nothing."""

    def __init__(self, action: _ModuleProviderAction, allow_empty: bool):
        self.action = action
        self.allow_empty = allow_empty
        # Brought up to date by PackageExporter.close() for allow_empty=False
        # patterns; the engine does the matching.
        self.was_matched = False


class EmptyMatchError(Exception):
    """A pattern marked allow_empty=False matched no module."""


class PackagingError(Exception):
    """Modules that cannot be packaged, all reported at once.

    `dependency_graph` is the exporter's graph; a broken node's attributes
    carry `error` (a PackagingErrorReason) and maybe `error_context`.
    """

    def __init__(self, dependency_graph: DiGraph, debug: bool = False,
                 message: str = ""):
        self.dependency_graph = dependency_graph
        self.debug = debug
        super().__init__(message)


class RemovableHandle:
    """Returned by register_*_hook; remove() unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: Dict[int, ActionHook]):
        self._hooks = hooks
        self.id: int = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc_value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.remove()


def _filename(package: str, resource: str) -> str:
    if os.path.split(resource)[0]:
        raise ValueError(f"{resource!r} must be only a file name")
    return f"{package.replace('.', '/')}/{resource}"


class PackageExporter:
    """Writes a package: source code, pickled objects and resources, plus
    the list of external modules it needs.

    Source added to the package is scanned for imports (``dependencies=True``)
    and each imported module gets the action of the first matching pattern
    (``intern``, ``extern``, ``mock``, ``deny``); the
    standard library and torch are always extern. Everything is checked and
    written at ``close()`` (or the end of a ``with`` block). A path target
    is replaced atomically: if exporting fails, no partial archive is left
    and an existing file at the path is untouched.

    manifest: also write ``.data/hermetic/manifest``, the SHA-256 of every
    record (docs/format.md section 8), checked by ``PackageImporter(...,
    verify=True)`` and ``hermetic verify``; torch.package ignores it.
    reproducible: leave the creation time out of the manifest, so the same
    records give the same bytes. sign_with: a secret key (path or bytes of a
    key file from ``hermetic keygen``) that signs the manifest (implies
    manifest).
    environment: also write ``.data/hermetic/environment``: the Python
    version, platform, and the distribution and version that provides each
    extern (see _environment); importers warn when theirs differ.
    torch.package ignores it. Off by default so that archives stay
    byte-identical to torch.package's for the same content.
    ``bytecode=True`` also writes compiled code of the interned modules read
    from files (``.data/bytecode/``, docs/format.md section 9), which importers run
    only when they trust the archive; off by default. Hermetic only:
    torch.package ignores these records and loads the modules from source.
    graph: also write ``.data/hermetic/dependencies``, the dependency graph
    (names, kinds, edges, the saved roots; docs/format.md section 12) that
    ``hermetic deps`` and ``hermetic.open(...).dependency_graph`` read;
    torch.package ignores it. Off by default, as environment.
    progress: a progress line on standard error (modules scanned, bytes,
    then modules written) when it is a terminal: None (default) once the
    export has run for a second, True from the start, False never.
    compress: deflate the sources, texts and pickles (True, or a level from
    1, fastest, to 12, smallest); tensor storages and binaries are stored,
    so they load without a copy. torch.package reads either. Default
    False: stored, as torch.package writes (docs/format.md section 2).
    """

    importer: Importer

    def __init__(self, f: Union[str, "os.PathLike[str]", io.IOBase],
                 importer: Union[Importer, Sequence[Importer]] = sys_importer,
                 debug: bool = False, *, manifest: bool = False,
                 reproducible: bool = False,
                 sign_with: Union[None, str, "os.PathLike[str]", bytes] = None,
                 bytecode: bool = False, environment: bool = False, graph: bool = False,
                 progress: Optional[bool] = None,
                 compress: Union[bool, int] = False):
        self.debug = debug
        self._environment = environment
        # Compile interned modules read from files into .data/bytecode/
        # records (see _bytecode); importers run them only if trusted.
        self._bytecode = bytecode
        self.buffer: Optional[io.IOBase]
        if isinstance(f, (str, os.PathLike)):
            target = os.fspath(f)
            self.buffer = None
        elif callable(getattr(f, "write", None)):
            target = f
            self.buffer = f
        else:
            raise TypeError(
                "f should be a path (str or os.PathLike) or a writable binary "
                f"buffer, got {type(f)} instead.")

        if isinstance(importer, Importer):
            self.importer = importer
        elif isinstance(importer, collections.abc.Sequence):
            self.importer = OrderedImporter(*importer)
        else:
            raise TypeError(
                "importer arg should be an Importer or a sequence of Importers, "
                f"got {type(importer)} instead.")

        self.patterns: Dict[GlobGroup, _PatternInfo] = {}
        self.serialized_reduces: Dict[int, Any] = {}
        self._extern_hooks: Dict[int, ActionHook] = {}
        self._mock_hooks: Dict[int, ActionHook] = {}
        self._intern_hooks: Dict[int, ActionHook] = {}
        self._hooks_by_action = {
            _ModuleProviderAction.EXTERN: self._extern_hooks,
            _ModuleProviderAction.MOCK: self._mock_hooks,
            _ModuleProviderAction.INTERN: self._intern_hooks,
        }
        self._unique_id = 0
        self._pickling = PickleContext(self)
        self._closed = False
        self._provider = SourceProvider(self)
        self._progress = ExportProgress(progress, target)
        self._engine = _core.ExportEngine(
            target, self._progress.provider(self._provider), _mock_source(),
            _stdlib_names(), manifest=manifest, reproducible=reproducible,
            sign_with=_manifest.signing_key(sign_with), dependency_record=graph,
            deflate_level=deflate_level(compress))

    # -- archive contents -------------------------------------------------

    def save_source_file(self, module_name: str, file_or_directory: str,
                         dependencies: bool = True) -> None:
        """Adds the code of a .py file as `module_name` (a package if the
        file is ``__init__.py``), or every .py file below a directory as
        submodules of `module_name`."""
        path = Path(file_or_directory)
        if not path.is_dir():
            self.save_source_string(module_name, _read_text(path),
                                    is_package=path.name == "__init__.py",
                                    dependencies=dependencies)
            return
        # Read everything first so that every module of the directory is
        # provided before any of them has its imports resolved.
        module_path = module_name.replace(".", "/")
        to_save = []
        for file in path.glob("**/*.py"):
            archive_name = f"{module_path}/{file.relative_to(path).as_posix()}"
            is_package = file.name == "__init__.py"
            suffix = "/__init__.py" if is_package else ".py"
            submodule = archive_name[:-len(suffix)].replace("/", ".")
            to_save.append((submodule, _read_text(file), is_package))
        for submodule, source, is_package in to_save:
            self.save_source_string(submodule, source, is_package=is_package,
                                    dependencies=dependencies)

    def save_source_string(self, module_name: str, src: str,
                           is_package: bool = False,
                           dependencies: bool = True) -> None:
        """Adds `src` as the code of `module_name`, replacing any source the
        module was given before."""
        self._provider.file_sources.pop(module_name, None)
        with _collector_paused():
            self._engine.save_source_string(module_name, src, is_package,
                                            dependencies)

    def save_module(self, module_name: str, dependencies: bool = True) -> None:
        """Interns the module `module_name` as found by the importer."""
        if not isinstance(module_name, str):
            raise TypeError(
                "save_module() expects a string input, did you perhaps mean to pass `__name__`?"
            )
        with _collector_paused():
            self._engine.save_module(module_name, dependencies)

    def add_dependency(self, module_name: str, dependencies: bool = True) -> None:
        """Decides the action of `module_name` as if some saved code
        imported it."""
        with _collector_paused():
            self._engine.add_dependency(module_name, dependencies)

    def save_pickle(self, package: str, resource: str, obj: Any,
                    dependencies: bool = True, pickle_protocol: int = 3, *,
                    out_of_band: bool = False) -> None:
        """Pickles `obj` into `<package>/<resource>`.

        Globals are named through the importer, so objects of packaged code
        can be re-saved. With `dependencies`, the modules of the pickle's
        globals are added like imports. `out_of_band=True` pickles with
        protocol 5 and stores large buffers (e.g. array data) as separate
        records. **Hermetic only:** torch.package cannot load a pickle that
        has such buffers; the first one an exporter writes issues a
        `hermetic.TorchIncompatibleWarning`.
        Objects of ``__main__`` (a script, ``python -c``, notebook
        cells) are saved as module ``hermetic_main`` with its source (see
        _main_module), or MainModuleError says how to fix it.
        """
        if pickle_protocol not in (3, 4):
            raise AssertionError(
                "torch.package only supports pickle protocols 3 and 4, "
                f"got {pickle_protocol}")
        _filename(package, resource)
        with _collector_paused():
            if out_of_band:
                from . import _oob

                callback = _oob.BufferWriter(self, package, resource)
                data = self._pickling.dumps(obj, 5, buffer_callback=callback)
                if callback.finish():
                    _oob.warn_torch_unreadable(self, package, resource)
            else:
                data = self._pickling.dumps(obj, pickle_protocol)
            self._engine.add_pickle(package, resource, data, dependencies)
        self._progress.wrote(len(data))

    def save_text(self, package: str, resource: str, text: str) -> None:
        """Writes `text` as UTF-8 to `<package>/<resource>`."""
        self._write_record(_filename(package, resource), text.encode("utf-8"),
                           compress=True)

    def save_binary(self, package: str, resource: str, binary: bytes) -> None:
        """Writes `binary` to `<package>/<resource>`."""
        self._write_record(_filename(package, resource), binary)

    def _write_record(self, name: str, data, compress: bool = False) -> None:
        self._engine.write_record(name, data, compress=compress)
        self._progress.wrote(len(data))

    # -- patterns and hooks -----------------------------------------------

    def _add_pattern(self, include: GlobPattern, exclude: GlobPattern,
                     action: _ModuleProviderAction, allow_empty: bool) -> None:
        group = GlobGroup(include, exclude=exclude)
        self._engine.add_pattern(group.include, group.exclude, action,
                                 allow_empty)
        self.patterns[group] = _PatternInfo(action, allow_empty)

    def intern(self, include: GlobPattern, *, exclude: GlobPattern = (),
               allow_empty: bool = True) -> None:
        """Put matching modules' source into the package."""
        self._add_pattern(include, exclude, _ModuleProviderAction.INTERN,
                          allow_empty)

    def extern(self, include: GlobPattern, *, exclude: GlobPattern = (),
               allow_empty: bool = True) -> None:
        """Load matching modules from the loading environment."""
        self._add_pattern(include, exclude, _ModuleProviderAction.EXTERN,
                          allow_empty)

    def mock(self, include: GlobPattern, *, exclude: GlobPattern = (),
             allow_empty: bool = True) -> None:
        """Replace matching modules by stubs whose attributes are
        MockedObjects."""
        self._add_pattern(include, exclude, _ModuleProviderAction.MOCK,
                          allow_empty)

    def deny(self, include: GlobPattern, *, exclude: GlobPattern = ()) -> None:
        """Fail the export if a matching module is needed."""
        self._add_pattern(include, exclude, _ModuleProviderAction.DENY, True)

    def register_extern_hook(self, hook: ActionHook) -> RemovableHandle:
        """`hook(exporter, module_name)` runs at close() for each extern."""
        return self._register(self._extern_hooks, hook)

    def register_mock_hook(self, hook: ActionHook) -> RemovableHandle:
        """`hook(exporter, module_name)` runs at close() for each mock."""
        return self._register(self._mock_hooks, hook)

    def register_intern_hook(self, hook: ActionHook) -> RemovableHandle:
        """`hook(exporter, name)` runs at close() for each interned module
        and, as in torch, each pickle (`<package.resource>`)."""
        return self._register(self._intern_hooks, hook)

    @staticmethod
    def _register(hooks: Dict[int, ActionHook], hook: ActionHook) -> RemovableHandle:
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    @property
    def script_module_serializer(self) -> Any:
        # torch.jit.ScriptModule.__reduce_package__ asks for this.
        return _torchscript.script_module_serializer(self, _gate_torchscript_serialization)

    # -- inspection ---------------------------------------------------------

    def get_unique_id(self) -> str:
        """Ids unique within this package: "0", "1", ..."""
        unique_id = str(self._unique_id)
        self._unique_id += 1
        return unique_id

    @property
    def dependency_graph(self) -> DiGraph:
        """A snapshot of the dependency graph."""
        return DiGraph._from_core(*self._engine.dependency_graph(sources=True))

    def dependency_graph_string(self) -> str:
        """The dependency graph as DOT text."""
        return self._engine.graph().to_dot()

    def all_paths(self, src: str, dst: str) -> str:
        """DOT text of the subgraph of every path from src to dst."""
        return DiGraph._from_core(self._engine.graph()).all_paths(src, dst)

    def get_rdeps(self, module_name: str) -> List[str]:
        """The nodes that directly depend on `module_name`."""
        return self._engine.rdeps(module_name)

    def externed_modules(self) -> List[str]:
        return self._engine.modules_with_action(_ModuleProviderAction.EXTERN)

    def interned_modules(self) -> List[str]:
        return self._engine.modules_with_action(_ModuleProviderAction.INTERN)

    def mocked_modules(self) -> List[str]:
        return self._engine.modules_with_action(_ModuleProviderAction.MOCK)

    def denied_modules(self) -> List[str]:
        return self._engine.modules_with_action(_ModuleProviderAction.DENY)

    # -- closing ------------------------------------------------------------

    def _import_module(self, module_name: str):
        try:
            return self.importer.import_module(module_name)
        except ModuleNotFoundError:
            if not is_mangled(module_name):
                raise
            raise ModuleNotFoundError(
                f"Module not found: '{module_name}'. Make sure the PackageImporter "
                "that created this module is present in `self.importer`"
            ) from None

    def _on_action(self, name: str, action: _ModuleProviderAction) -> None:
        self._progress.writing(self._nodes)
        if action is _ModuleProviderAction.INTERN:
            read = self._provider.file_sources.pop(name, None)
            if read is not None and self._bytecode:
                record, is_package = read
                write_bytecode(self, name, record, is_package)
        hooks = self._hooks_by_action.get(action, {})
        # A hook may remove hooks: iterate over a copy.
        for hook in list(hooks.values()):
            hook(self, name)

    def _validate(self) -> None:
        message = self._engine.validate(self.debug)
        if message is not None:
            raise PackagingError(self.dependency_graph, self.debug,
                                 message + self._suggestions())
        unmatched = set(self._engine.unmatched_patterns())
        for index, info in enumerate(self.patterns.values()):
            if not info.allow_empty:
                info.was_matched = index not in unmatched
        if unmatched:
            group = list(self.patterns)[min(unmatched)]
            raise EmptyMatchError(
                f"Exporter did not match any modules to {group}, which was "
                "marked as allow_empty=False")

    def _suggestions(self) -> str:
        """What to add to the exporter for the modules no pattern matched,
        grouped by top-level package (torch's text has no such hint)."""
        graph = self.dependency_graph
        tops, extensions = set(), set()
        for name in graph.nodes:
            error = graph.nodes[name].get("error")
            if error is PackagingErrorReason.NO_ACTION:
                tops.add(name.partition(".")[0])
            elif error is PackagingErrorReason.IS_EXTENSION_MODULE:
                extensions.add(name.partition(".")[0])
        lines = []
        if tops:
            patterns = ", ".join(repr(f"{top}.**") for top in sorted(tops))
            lines.append(f"    exporter.extern([{patterns}])   # the host provides them, or")
            lines.append(f"    exporter.mock([{patterns}])     # stubs that fail if used, or")
            lines.append(f"    exporter.intern([{patterns}])   # their source goes in the package")
        if extensions:
            patterns = ", ".join(repr(f"{top}.**") for top in sorted(extensions))
            lines.append(f"    exporter.extern([{patterns}])   # C extensions cannot be interned")
        if not lines:
            return ""
        return "\nOne of these lines before saving would resolve them:\n" + "\n".join(lines) + "\n"

    def close(self) -> None:
        """Checks the package and writes it. The exporter cannot be used
        afterwards. On failure nothing is left at a path target."""
        if self._closed:
            return
        try:
            with _collector_paused():
                self._validate()
                _torchscript.close_exporter(self)
                if self._environment:
                    from . import _environment

                    self._engine.write_record(
                        _environment.RECORD, _environment.describe(self.externed_modules()),
                        compress=True)
                self._nodes = len(self._engine.graph())
                self._engine.finish(self._on_action, platform.python_version())
        except BaseException:
            self._abort()
            raise
        self._closed = True
        self._progress.finish()
        if self.buffer is not None and hasattr(self.buffer, "flush"):
            self.buffer.flush()

    def _abort(self) -> None:
        self._closed = True
        _torchscript.abort_exporter(self)
        self._engine.abort()
        self._progress.finish(ok=False)

    def __enter__(self) -> "PackageExporter":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc_value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        if exc_type is not None:
            # Unlike torch, which finalises a half-written archive, leave
            # nothing behind.
            self._abort()
            return
        self.close()


@contextlib.contextmanager
def _collector_paused():
    """Export work allocates many objects that live on (sources, graph
    attributes, pickle memos); cyclic collections triggered by them scan the
    whole heap, which for a large imported library costs more than the
    work itself."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


@functools.cache
def _stdlib_names() -> list:
    return sorted(sys.stdlib_module_names)


@functools.cache
def _mock_source() -> str:
    return _read_text(Path(__file__).parent / "_mock.py")
