"""Type stubs of hermetic._core, the C++ core's Python binding.

This file is the contract between python/bindings/ and python/hermetic/: the
binding implements exactly this surface, the Python layer uses nothing else.
Errors are raised as the classes of hermetic.errors (one mapping, in
python/bindings/status_to_exception.cc, which also re-raises unchanged an
exception raised by a Python callback the core called), except where a
docstring says otherwise.
"""

import enum
import os
from typing import Callable, Iterable, Optional, Protocol, Sequence, Union

Buffer = Union[bytes, bytearray, memoryview]

# pyproject.toml's version, compiled in (the manifest's generator records it).
__version__: str

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
    def __repr__(self) -> str: ...

# libdeflate's level behind PackageExporter(compress=True).
DEFAULT_DEFLATE_LEVEL: int

class ArchiveWriter:
    """A torch-compatible zip writer.

    target: a path (str or os.PathLike) or an object with write() (and
    optionally flush()). A path is written atomically: the bytes go to a
    temporary file beside it, renamed over the path by finish(); abort(), or
    dropping the writer unfinished, removes the temporary file and leaves any
    existing file at the path untouched. The archive's top-level folder is the
    file name's stem, or "archive" for a buffer target.
    """

    def __init__(self, target: Union[str, os.PathLike[str], object], *,
                 compute_crc32: bool = True, deflate_level: int = 0) -> None:
        """deflate_level: libdeflate's level (1-12) for records written
        with compress=True; 0 stores them (InvalidArgumentError outside
        0-12)."""
    @property
    def archive_name(self) -> str: ...
    def write_record(self, name: str, data: Buffer, *,
                     compress: bool = False) -> None:
        """Writes a whole record (name without the top-level folder).
        A duplicate name raises InvalidArgumentError. compress: deflate it
        at the writer's deflate_level, unless that is 0, the record is
        over 1 GiB or deflate does not shrink it; streamed records
        (begin_record) are stored."""
    # Calls from several threads are serialised; each releases the GIL.
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
    """Reads a zip archive (mmap of a path or of a file object whose fileno()
    is a regular file; a bytes-like object; a seekable binary file object
    read through seek/readinto as records are needed, views then being
    CRC-checked private copies; any other file-like object read whole) or an
    unzipped package folder (path to a directory). Records are named without
    the top-level folder.

    Every read (read(), and what PackageImporter reads) checks the record's
    CRC-32; verify_crc also checks it on view() and RecordMap.view(). Names
    and paths that are not UTF-8 come back with surrogate escapes (as
    os.fsdecode makes them) and may be passed back as they are. Errors about
    a record name the archive and the record; an allocation that fails
    raises ResourceLimitError (a MemoryError)."""

    def __init__(self, source: Union[str, os.PathLike[str], Buffer, object], *,
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

def resolve_name(name: str, package: str, level: int) -> str:
    """The absolute name of a relative import (`level` >= 1 dots in
    `package`), the rule scan_imports uses; InvalidArgumentError 'attempted
    relative import beyond top-level package'."""

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
# Static inspection of a whole archive (src/scan)

def scan_archive(
    source: bytes | ArchiveReader, allowed_globals: Sequence[str] = []
) -> tuple[int, int, int, list[tuple[str, str, str, int, str]]]:
    """(records, pickles, sources, findings) of the archive at `source` (a
    path as bytes, as os.fsencode gives, or an open ArchiveReader), each
    finding (severity, rule, record, position, message), position -1 where
    none applies. Nothing in the archive runs; hermetic.scan wraps it in a
    ScanReport."""

def index_tensors(
    data: Buffer,
) -> list[tuple[str, int, bool, bool, str, str, list[int], list[int], str, int, Optional[int]]]:
    """The tensors a pickle holds, read without unpickling it (tensor_index.h):
    (name, position, parameter, known, unknown reason, dtype, shape, stride,
    storage record, storage offset, bytes spanned or None), pickle order."""

def classify_global(
    module: str, name: str, in_archive: bool, allowed_globals: Sequence[str] = []
) -> tuple[str, str]:
    """(kind, severity) the scan gives a pickle global: kind "dangerous",
    "interned" (in_archive: a module of the archive), "allowed" (a data
    constructor, default or in allowed_globals) or "extern"."""

# --------------------------------------------------------------------------
# Patterns and graph (src/glob, src/graph)

class GlobGroup:
    def __init__(self, include: Sequence[str], exclude: Sequence[str] = (),
                 separator: str = ".") -> None:
        """InvalidArgumentError (a ValueError) '** can only appear as an
        entire path segment', or for a separator that is not one char."""
    def matches(self, candidate: str) -> bool: ...

class DiGraph:
    """Insertion-ordered directed graph of names (structure only). Every
    query naming an unknown node raises InvalidArgumentError (a ValueError)
    'The node <n> is not in the digraph.'."""
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
    def shortest_path(self, sources: Sequence[str], dst: str) -> list[str]:
        """A shortest path from any of sources to dst, that source first
        (ties: the earlier source, then successor order); [] if none."""
    def to_dot(self) -> str: ...

def parse_dependency_record(data: bytes, archive: str) -> tuple[DiGraph, list[str], list[str]]:
    """The dependency record's graph, each node's kind ("intern", "extern",
    "mock", "pickle", "mock_module", "skip") in node order, and the root
    names in the order saved (dependency_record.h). CorruptArchiveError
    naming archive, record and line for anything but canonical bytes,
    UnsupportedError for another version."""

# --------------------------------------------------------------------------
# Export engine (src/export_engine, include/hermetic/export_engine.h)

class _ModuleProviderAction(enum.Enum):
    """torch.package's actions, with its numbers."""
    INTERN = 1
    EXTERN = 2
    MOCK = 3
    DENY = 4
    REPACKAGED_MOCK_MODULE = 5  # a dependency named `_mock`
    SKIP = 6  # `torch_package_importer`
    def __repr__(self) -> str: ...  # <_ModuleProviderAction.NAME: n>

class PackagingErrorReason(enum.Enum):
    """torch.package's reasons; each value is the sentence reports show.
    repr: <PackagingErrorReason.NAME>."""
    IS_EXTENSION_MODULE = ...
    NO_DUNDER_FILE = ...
    SOURCE_FILE_NOT_FOUND = ...
    DEPENDENCY_RESOLUTION_FAILED = ...
    NO_ACTION = ...
    DENIED = ...
    MOCKED_BUT_STILL_USED = ...
    def __repr__(self) -> str: ...

def is_mangled(name: str) -> bool:
    """Whether name starts with a PackageImporter's prefix
    '<torch_package_N>' (N: ASCII digits)."""

def demangle(name: str) -> str:
    """name without any importer's prefix ('' for a bare prefix); a name
    that is not mangled comes back as the same object."""

class SourceProvider(Protocol):
    """Protocol of the object handed to ExportEngine (duck-typed)."""
    def module_exists(self, name: str, must_import: bool) -> bool:
        """Whether `name` exists: with must_import, whether the importer
        can import it (importing it); without, it may instead say whether
        the finders locate it, running none of its code."""
    def module_source(self, name: str) -> tuple[
            bool, Optional[str], Optional[PackagingErrorReason], str]:
        """(is_package, source or None, reason, context). reason is None
        when source is given, else IS_EXTENSION_MODULE, NO_DUNDER_FILE or
        SOURCE_FILE_NOT_FOUND. Raising ModuleNotFoundError propagates."""
    def module_is_package(self, name: str) -> bool:
        """Asked once per mocked module, when MOCK is assigned to it (its
        stub is then a package's __init__.py). Raising propagates."""

class ExportEngine:
    """Dependency resolution and writing of torch.package's exporter; the
    engine writes the archive itself.

    An exception raised by the provider or by finish's on_action propagates
    out of the engine call unchanged; they may call back into the engine.
    A call from a second thread while one is running raises StateError.
    """

    def __init__(self, target: Union[str, os.PathLike[str], object],
                 provider: SourceProvider, mock_source: str,
                 stdlib_modules: Iterable[str], manifest: bool = False,
                 reproducible: bool = False,
                 sign_with: Optional[tuple[str, str]] = None,
                 dependency_record: bool = False,
                 deflate_level: int = 0) -> None:
        """target: as ArchiveWriter's (a path, written atomically, or an
        object with write()); TypeError otherwise. stdlib_modules: top-level
        names implicitly externed (minus sys and io, which the engine
        excludes itself). Keeps a reference to provider. Dropping an
        unfinished engine aborts the archive. manifest: finishing writes
        the manifest record (without its time if reproducible); sign_with,
        a (secret key file text, source) pair, adds a signature (implies
        manifest; InvalidArgumentError naming source for a bad key).
        dependency_record: finishing also writes .data/hermetic/dependencies
        (dependency_record.h).
        deflate_level: as ArchiveWriter's; the engine writes sources, mock
        stubs, pickles and its .data texts with compress=True."""
    def add_pattern(self, include: Sequence[str], exclude: Sequence[str],
                    action: _ModuleProviderAction,
                    allow_empty: bool) -> None: ...
    def save_source_string(self, module_name: str, source: str,
                           is_package: bool, dependencies: bool) -> None: ...
    def save_module(self, module_name: str, dependencies: bool) -> None: ...
    def add_dependency(self, module_name: str, dependencies: bool) -> None: ...
    def add_pickle(self, package: str, resource: str, data: Buffer,
                   dependencies: bool) -> None:
        """Scans the pickle's globals, adds node '<package.resource>' with its
        dependencies (and mocked-but-used errors), writes the record (the
        write_record checks apply). InvalidArgumentError (a ValueError) if
        resource has a '/'."""
    def write_record(self, name: str, data: Buffer, *,
                     compress: bool = False) -> None:
        """torch's _write checks: AlreadyExistsError (an AssertionError) on a
        duplicate name or a mangled name; then the writer's errors.
        compress: as ArchiveWriter.write_record's."""
    def has_record(self, name: str) -> bool: ...
    def record_names(self) -> list[str]: ...  # in write order
    @property
    def finished(self) -> bool: ...
    def abort(self) -> None:
        """Drops the archive being written (a path keeps what it had)."""
    def modules_with_action(self,
                            action: _ModuleProviderAction) -> list[str]: ...
    def rdeps(self, module_name: str) -> list[str]: ...
    def graph(self) -> DiGraph: ...  # a copy
    def dependency_graph(self, sources: bool = False) -> tuple[
            DiGraph, list[dict[str, object]]]:
        """A copy of the graph and each node's attributes in node order,
        under torch's names (action: _ModuleProviderAction, error:
        PackagingErrorReason, provided, is_package, is_pickle,
        error_context), only the keys that are set; 'source' only with
        sources=True."""
    def validate(self, debug: bool = False) -> Optional[str]:
        """None when no node has an error, else the PackagingError text;
        debug adds each broken module's first path instead of the hint."""
    def unmatched_patterns(self) -> list[int]:
        """Indices (add_pattern order) of allow_empty=False patterns that
        matched nothing."""
    def finish(self, on_action: Callable[[str, _ModuleProviderAction], None],
               python_version: str) -> None:
        """close() steps 2-5: per node in order calls on_action(name, action)
        (extern, mock and intern, incl. pickle nodes) then writes sources,
        _mock.py and stubs, .data/extern_modules, .data/python_version and
        finishes the writer."""


# --------------------------------------------------------------------------
# Manifest (src/manifest, include/hermetic/manifest.h). Keys are the text of
# their key files; a (text, source) pair names where the text came from.

MANIFEST_RECORD: str
SIGNATURE_RECORD: str

def generate_key() -> tuple[str, str]:
    """A new Ed25519 key pair: (secret key file text, public key file text)."""
def public_key_of(secret_key: tuple[str, str]) -> str:
    """The public key file text of a secret key; InvalidArgumentError."""
def verify_manifest(reader: ArchiveReader,
                    trusted_keys: Sequence[tuple[str, str]],
                    require_manifest: bool = False
                    ) -> tuple[bool, Optional[str], int]:
    """Checks every record of reader against its manifest and signature
    (GIL released): (has_manifest, signer key hex or None, records
    checked). IntegrityError naming archive and record for a record
    changed, added or removed, a bad manifest or signature, or (trusted_keys
    non-empty) an archive not signed by one of them."""
def sign_archive(path: str, secret_key: tuple[str, str]) -> str:
    """Rewrites the archive at path atomically with a signature of its
    (verified) manifest; returns the signer's key hex."""
