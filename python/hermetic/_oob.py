"""Out-of-band buffers of protocol-5 pickles.

A protocol-5 pickle can hand large contiguous buffers (numpy arrays,
bytearrays, PickleBuffer) to a callback instead of copying them into the
pickle stream. The exporter stores each as its own record
``<package path>/<resource>.oob/<n>``, n counting from 0 in callback order;
the writer aligns every record to 64 bytes, so the importer can give them
back as zero-copy views of the mapped archive.
"""

from __future__ import annotations

import pickle
import warnings
import weakref

from .errors import StateError, TorchIncompatibleWarning, UnsupportedError

# Exporters that have already said their archive is unreadable by
# torch.package: one warning per exporter, however many pickles follow.
_warned_exporters: "weakref.WeakSet" = weakref.WeakSet()


def record_view(reader, record_map, name: str) -> memoryview:
    """A writable view of record `name` in `record_map` (made by
    ``reader.map_records``): zero-copy when the map is a mapping of the
    file, else over a private copy (compressed records cannot be mapped)."""
    try:
        return record_map.view(name)
    except UnsupportedError:
        return memoryview(bytearray(reader.read(name)))


def _oob_prefix(package: str, resource: str) -> str:
    return f"{package.replace('.', '/')}/{resource}.oob/"


class BufferWriter:
    """A ``buffer_callback`` that writes each buffer as a record.

    Returns False for every buffer, which tells pickle to leave it out of
    the stream. Call finish() once pickling is done.
    """

    def __init__(self, exporter, package: str, resource: str) -> None:
        self._exporter = exporter
        self._prefix = _oob_prefix(package, resource)
        self._count = 0
        self._finished = False

    def __call__(self, buffer: pickle.PickleBuffer) -> bool:
        if self._finished:
            raise StateError(
                f"out-of-band buffers of {self._prefix[:-5]!r} were finished")
        with buffer.raw() as data:
            self._exporter._write_record(f"{self._prefix}{self._count}", data)
        self._count += 1
        return False

    def finish(self) -> int:
        """Ends the pickle's buffers; returns how many were written."""
        self._finished = True
        return self._count


def warn_torch_unreadable(exporter, package: str, resource: str) -> None:
    """Warns, once per exporter, that `package`/`resource` holds out-of-band
    buffers: torch.package's unpickler is given no buffers, so it cannot
    load that pickle (a protocol-5 pickle without them loads there)."""
    if exporter in _warned_exporters:
        return
    _warned_exporters.add(exporter)
    warnings.warn(
        f"save_pickle({package!r}, {resource!r}, out_of_band=True) stored "
        "buffers as separate records: torch.package cannot load this pickle "
        "(hermetic can). Save it without out_of_band=True for an archive "
        "torch.package reads.", TorchIncompatibleWarning, stacklevel=3)


def load_buffers(importer, package: str,
                 resource: str) -> list[memoryview] | None:
    """The pickle's out-of-band buffers in order, or None if it has none.

    Each is a writable copy-on-write view of the archive that belongs to
    this call alone (writes reach neither the file nor another load) and
    keeps its mapping alive.
    """
    reader = importer._reader
    prefix = _oob_prefix(package, resource)
    if not reader.has_record(f"{prefix}0"):
        return None
    record_map = reader.map_records(prefix)
    buffers = []
    while reader.has_record(f"{prefix}{len(buffers)}"):
        buffers.append(record_view(reader, record_map, f"{prefix}{len(buffers)}"))
    return buffers
