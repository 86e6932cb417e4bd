"""Type stubs of hermetic._core, the C++ core's Python binding.

This file is the contract between python/bindings/ and python/hermetic/: the
binding implements exactly this surface, the Python layer uses nothing else.
Errors are raised as the classes of hermetic.errors (one mapping, in
python/bindings/status_to_exception.cc), except where a docstring says
otherwise.
"""

import os
from typing import Callable, Iterable, Optional, Sequence, Union

Buffer = Union[bytes, bytearray, memoryview]

# --------------------------------------------------------------------------
# Archive (src/archive, include/hermetic/archive.h)

class RecordInfo:
    name: str  # without the archive's top-level folder
    header_offset: int
    data_offset: int
    size: int  # uncompressed
    compressed_size: int
    crc32: int
    method: int  # 0 stored, 8 deflated

class ArchiveWriter:
    """A torch-compatible zip writer.

    target: a path (str or os.PathLike) or an object with write() (and
    optionally flush()). A path is written atomically: the bytes go to a
    temporary file beside it, renamed over the path by finish(); abort(), or
    dropping the writer unfinished, removes the temporary file and leaves any
    existing file at the path untouched. The archive's top-level folder is the
    file name's stem, or "archive" for a buffer target.
    """

    def __init__(self, target: Union[str, os.PathLike, object], *,
                 compute_crc32: bool = True) -> None: ...
    @property
    def archive_name(self) -> str: ...
    def write_record(self, name: str, data: Buffer) -> None:
        """Writes a whole record (name without the top-level folder).
        A duplicate name raises InvalidArgumentError."""
    def begin_record(self, name: str) -> None: ...
    def append(self, piece: Buffer) -> None: ...
    def end_record(self) -> None: ...
    def has_record(self, name: str) -> bool: ...
    def record_names(self) -> list[str]: ...
    def finish(self) -> None:
        """Writes .data/version (unless written), the central directory and
        end records, then renames the temporary file into place."""
    def abort(self) -> None: ...
    @property
    def finished(self) -> bool: ...

class ArchiveReader:
    """Reads a zip archive (mmap of a path, a bytes-like object, or a file-like
    object read whole) or an unzipped package folder (path to a directory).
    Records are named without the top-level folder.

    Every read (read(), and what PackageImporter reads) checks the record's
    CRC-32; verify_crc also checks it on view() and RecordMap.view(). Names
    and paths that are not UTF-8 come back with surrogate escapes (as
    os.fsdecode makes them) and may be passed back as they are. Errors about
    a record name the archive and the record; an allocation that fails
    raises ResourceLimitError (a MemoryError)."""

    def __init__(self, source: Union[str, os.PathLike, Buffer, object], *,
                 verify_crc: bool = False) -> None: ...
    @property
    def prefix(self) -> str: ...  # top-level folder; folder name for a directory
    @property
    def name(self) -> str: ...  # what errors call this archive
    @property
    def is_directory(self) -> bool: ...
    def records(self) -> list[str]: ...  # central-directory order
    def record_infos(self) -> list[RecordInfo]: ...
    def has_record(self, name: str) -> bool: ...
    def read(self, name: str) -> bytes: ...
    def view(self, name: str) -> memoryview:
        """Zero-copy, writable copy-on-write view of a stored record of a
        mapped archive (writes never reach the file); other sources give a
        view over a private copy. Valid while the memoryview lives: it keeps
        the mapping alive."""
    def verify(self, name: Optional[str] = None) -> None:
        """Checks CRC-32 of one record or all; CorruptArchiveError naming
        the archive and record on mismatch."""
    def map_records(self, prefix: str = "") -> "RecordMap":
        """A new private copy-on-write map of the records whose names start
        with prefix (one mmap of their page span from the reader's open file
        descriptor; buffers copy a record on first use, folders map each file).
        Each load gets its own memory this way, without copying; the map
        outlives the reader."""
    def close(self) -> None: ...

class RecordMap:
    def view(self, name: str) -> memoryview:
        """Zero-copy writable view of a record in the map. NotFoundError for
        a name outside the prefix, UnsupportedError for a compressed record,
        CorruptArchiveError on a CRC mismatch when the reader verifies."""

# --------------------------------------------------------------------------
# Scanners (src/imports, src/pickle)

def scan_imports(source: Union[str, bytes], module_name: str,
                 is_package: bool) -> list[tuple[str, Optional[str]]]:
    """The (module, name-or-None) pairs torch.package's AST visitor would
    find, in order, de-duplicated. Relative imports are resolved against
    module_name/is_package. Raises InvalidArgumentError (a ValueError) for
    source a tokenizer can tell is broken, with Python's wording, and for
    'attempted relative import beyond top-level package'."""

def scan_pickle(data: Buffer) -> list[tuple[str, str]]:
    """Every global (module, qualname) the pickle references, protocols 0-5,
    in first-seen order, de-duplicated. Never executes anything. A malformed
    pickle raises CorruptArchiveError ("pickle <what> at byte N"); see
    check_pickle for what is refused."""

class PickleScan:
    """What check_pickle found (include/hermetic/pickle_scan.h)."""
    @property
    def protocol(self) -> int: ...
    @property
    def globals(self) -> list[tuple[str, str]]:
        """As scan_pickle returns them."""
    @property
    def unresolved_globals(self) -> int:
        """STACK_GLOBALs whose operands the scan cannot name."""
    @property
    def extension_codes(self) -> list[int]:
        """copyreg extension codes (EXT1/2/4), distinct, first-seen order."""
    @property
    def persistent_ids(self) -> int: ...
    @property
    def persistent_id_kinds(self) -> list[str]:
        """Distinct first items of tuple persistent ids ('storage', ...);
        undecodable bytes backslash-escaped."""
    @property
    def unnamed_persistent_ids(self) -> int: ...

def check_pickle(data: Buffer) -> PickleScan:
    """The gate PackageImporter.load_pickle runs before unpickling, in one
    pass with the GIL released: CorruptArchiveError ("pickle <what> at byte
    N") unless every length lies within the data, every memo index is below
    the number of values pushed so far, nesting, memo and integer text are
    within limits, opcodes are known and the protocol is at most 5, so that
    the C unpickler's allocations stay proportional to the pickle."""

# --------------------------------------------------------------------------
# Patterns and graph (src/glob, src/graph)

class GlobGroup:
    def __init__(self, include: Sequence[str], exclude: Sequence[str] = (),
                 separator: str = ".") -> None:
        """ValueError('** can only appear as an entire path segment')."""
    def matches(self, candidate: str) -> bool: ...

class DiGraph:
    """Insertion-ordered directed graph of names (structure only)."""
    def __init__(self) -> None: ...
    def add_node(self, name: str) -> None: ...
    def add_edge(self, u: str, v: str) -> None: ...
    def __contains__(self, name: str) -> bool: ...
    def __len__(self) -> int: ...
    def nodes(self) -> list[str]: ...
    def edges(self) -> list[tuple[str, str]]: ...
    def successors(self, name: str) -> list[str]: ...
    def predecessors(self, name: str) -> list[str]: ...
    def forward_transitive_closure(self, src: str) -> list[str]: ...
    def backward_transitive_closure(self, src: str) -> list[str]: ...
    def all_paths_dot(self, src: str, dst: str) -> str: ...
    def first_path(self, dst: str) -> list[str]: ...
    def to_dot(self) -> str: ...

# --------------------------------------------------------------------------
# Export engine (src/export_engine, include/hermetic/export_engine.h)

# Actions, numbered as torch.package's _ModuleProviderAction.
INTERN: int  # 1
EXTERN: int  # 2
MOCK: int  # 3
DENY: int  # 4
REPACKAGED_MOCK_MODULE: int  # 5
SKIP: int  # 6

class SourceProvider:
    """Protocol of the object handed to ExportEngine (duck-typed)."""
    def module_exists(self, name: str, must_import: bool) -> bool:
        """Whether `name` exists: with must_import, whether the importer
        can import it (importing it); without, it may instead say whether
        the finders locate it, running none of its code."""
    def module_source(self, name: str) -> tuple[bool, Optional[str], str, str]:
        """(is_package, source or None, reason, context). reason is "" when
        source is given, else one of "IS_EXTENSION_MODULE", "NO_DUNDER_FILE",
        "SOURCE_FILE_NOT_FOUND". Raising ModuleNotFoundError propagates."""

class ExportEngine:
    """Dependency resolution and writing of torch.package's exporter.

    An exception raised by the provider or by finish's on_action propagates
    out of the engine call unchanged; they may call back into the engine.
    A call from a second thread while one is running raises StateError.
    """

    def __init__(self, writer: ArchiveWriter, provider: SourceProvider,
                 mock_source: str, stdlib_modules: Iterable[str]) -> None:
        """stdlib_modules: top-level names implicitly externed (minus sys and
        io, which the engine excludes itself). Keeps references to writer
        and provider; writes go through writer."""
    def add_pattern(self, include: Sequence[str], exclude: Sequence[str],
                    action: int, allow_empty: bool) -> None: ...
    def save_source_string(self, module_name: str, source: str,
                           is_package: bool, dependencies: bool) -> None: ...
    def save_module(self, module_name: str, dependencies: bool) -> None: ...
    def add_dependency(self, module_name: str, dependencies: bool) -> None: ...
    def add_pickle(self, package: str, resource: str, data: Buffer,
                   dependencies: bool) -> None:
        """Scans the pickle's globals, adds node '<package.resource>' with its
        dependencies (and mocked-but-used errors), writes the record (the
        write_record checks apply). ValueError if resource has a '/'."""
    def write_record(self, name: str, data: Buffer) -> None:
        """torch's _write checks: AssertionError on a duplicate name or a
        mangled name."""
    def modules_with_action(self, action: int) -> list[str]: ...  # sorted
    def rdeps(self, module_name: str) -> list[str]: ...
    def graph(self) -> DiGraph: ...  # a copy
    def node_attributes(self, name: str) -> dict: ...  # torch's attr names
    def validate(self, debug: bool = False) -> Optional[str]:
        """None when no node has an error, else the PackagingError text;
        debug adds each broken module's first path instead of the hint."""
    def unmatched_patterns(self) -> list[int]:
        """Indices (add_pattern order) of allow_empty=False patterns that
        matched nothing."""
    def finish(self, on_action: Callable[[str, int], None],
               python_version: str) -> None:
        """close() steps 2-5: per node in order calls on_action(name, action)
        (extern, mock and intern, incl. pickle nodes) then writes sources,
        _mock.py and stubs, .data/extern_modules, .data/python_version and
        finishes the writer."""
