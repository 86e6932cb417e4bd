"""hermetic.open: a read-only view of a package, for looking at it without
importing, unpickling or running any of it (safetensors' safe_open, for
torch.package archives): its records, modules, externs, mocks, pickles,
tensor metadata (the C++ tensor index; torch is not needed) and scan."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Union

from . import _core
from ._importlib import source_module
from ._scan import ScanReport, scan

__all__ = ["Package", "TensorMeta", "open"]


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
