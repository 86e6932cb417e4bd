"""hermetic.open: a read-only view of a package, for looking at it without
importing, unpickling or running any of it (safetensors' safe_open, for
torch.package archives): its records, modules, externs, mocks, pickles,
tensor metadata (the C++ tensor index; torch is not needed), the dependency
graph the exporter recorded (PackageExporter(graph=True)) and scan."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Union

from . import _core
from ._digraph import DiGraph
from ._importlib import source_module
from ._scan import ScanReport, scan
from .errors import NotFoundError

__all__ = ["Package", "TensorMeta", "open"]

_DEPENDENCY_RECORD = ".data/hermetic/dependencies"


@dataclasses.dataclass(frozen=True)
class TensorMeta:
    """One tensor of a pickle, as the pickle describes it. When ``known`` is
    False the reader could not follow how the pickle builds it (``reason``)
    and the fields after it are empty."""

    pickle: str
    name: str  # its path in the pickle, as in a state_dict; may be empty
    parameter: bool
    known: bool
    reason: str
    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    storage: str  # the record that holds its bytes
    storage_offset: int  # in elements
    nbytes: Optional[int]  # of the storage it spans


class Package:
    """A package archive (or unzipped package folder) opened for reading
    only. Use as a context manager, or close()."""

    def __init__(self, path: Union[str, os.PathLike[str]]):
        self.path: str = os.fspath(path)
        self._reader = _core.ArchiveReader(self.path)
        self.records: list[str] = self._reader.records()
        self._graph: Optional[DiGraph] = None

    def read(self, record: str) -> bytes:
        """A record's bytes, CRC-checked."""
        return self._reader.read(record)

    @property
    def modules(self) -> list[str]:
        """Packaged modules (interned sources and mock stubs), by name."""
        # _mock.py is the mocks' shared helper, not a module of the package.
        return [name for name in map(source_module, self.records)
                if name is not None and name != "_mock"]

    @property
    def externs(self) -> list[str]:
        """The modules the host must provide (.data/extern_modules)."""
        if ".data/extern_modules" not in self.records:
            return []
        return [n for n in self.read(".data/extern_modules").decode().splitlines() if n]

    @property
    def mocks(self) -> list[str]:
        """Modules the package replaced by stubs, by their source record."""
        return [f.record for f in self.scan().findings if f.rule == "package.mock"]

    @property
    def pickles(self) -> list[str]:
        return [r for r in self.records if r.endswith(".pkl")]

    def tensors(self, pickle: Optional[str] = None) -> list[TensorMeta]:
        """The tensors of one pickle record, or of every ``*.pkl``."""
        out = []
        for record in [pickle] if pickle is not None else self.pickles:
            for (name, _, parameter, known, reason, dtype, shape, stride, storage, offset,
                 nbytes) in _core.index_tensors(self.read(record)):
                out.append(TensorMeta(record, name, parameter, known, reason, dtype,
                                      tuple(shape), tuple(stride), storage, offset, nbytes))
        return out

    @property
    def dependency_graph(self) -> Optional[DiGraph]:
        """The exporter's dependency graph as recorded in the archive
        (.data/hermetic/dependencies), or None when it is not recorded
        (torch.package's archives, or exported without graph=True). Each
        node's attributes: ``kind`` ("intern", "extern", "mock", "pickle",
        "mock_module" or "skip") and ``root`` (saved by the exporter's
        caller: every chain starts at one)."""
        if self._graph is None and _DEPENDENCY_RECORD in self.records:
            graph, kinds, roots = _core.parse_dependency_record(
                self.read(_DEPENDENCY_RECORD), self.path)
            saved = set(roots)
            self._graph = DiGraph._from_core(graph, [
                {"kind": kind, "root": name in saved}
                for name, kind in zip(graph.nodes(), kinds)])
            self._roots = roots
        return self._graph

    def why(self, module: str) -> list[str]:
        """The shortest chain of imports (or a pickle's globals) from a
        saved module or pickle to `module`, root first: why it is in the
        package. Empty if no chain reaches it; NotFoundError when the
        graph is not recorded, InvalidArgumentError (a ValueError) for a
        name that is not in it."""
        graph = self.dependency_graph
        if graph is None:
            raise NotFoundError(
                f"{self.path} does not record its dependency graph "
                f"({_DEPENDENCY_RECORD}); export it with PackageExporter(..., graph=True)")
        return graph._graph.shortest_path(self._roots, module)

    def scan(self) -> ScanReport:
        """hermetic.scan of the package."""
        return scan(self.path)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open(path: Union[str, os.PathLike[str]]) -> Package:  # noqa: A001 (hermetic.open)
    """The package at `path`, opened for reading only: nothing in it runs."""
    return Package(path)
