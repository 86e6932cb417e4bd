"""TorchScript in packages, through torch's own serializer and reader.

hermetic does not implement TorchScript. A ScriptModule's
``__reduce_package__`` asks the exporter for ``script_module_serializer``;
ours (ScriptModuleWriter) is torch's ``ScriptModuleSerializer`` writing into
a ``PyTorchFileWriter`` over a temporary file. The storages of a script
module's parameters and buffers are written into the archive directly, in
the order torch's serializer meets them; at close the serializer's records
(the ``.data/ts_code/`` tree, and any other storage) are copied in under the
names torch.package gives them. Tensor storages
are shared with the pickles as in torch.package: once the first ScriptModule
is seen, the serializer's storage context numbers every storage, the ones
pickled before included (they keep their keys), so a tensor held by an eager
module and a script module is one ``.data/<key>.storage`` record.

Loading: the pickle names ``torch.jit._script.unpackage_script_module``,
which wants a ``PyTorchFileReader`` as ``importer.zip_reader`` and a
``DeserializationStorageContext``. The unpickler calls it with a view of the
importer that has both (TorchScriptLoad): torch's reader is opened on the
archive the first time a ScriptModule is unpickled, and torch's context is
given the storages as hermetic's tensor loader maps them. From an unzipped
folder the view carries the folder's reader, and torch raises its own
error. The ``.data/ts_code/`` records torch's reader parses bypass
hermetic's checks (docs/format.md section 11).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile

from ._directory_reader import DirectoryReader

__all__ = ["RECORDS", "ScriptModuleWriter", "is_record", "is_unpackage_function"]

# Where torch.package keeps what its TorchScript serializer writes.
RECORDS = ".data/ts_code/"
# The global a package's pickle names to load a ScriptModule.
LOADER_MODULE = "torch.jit._script"
LOADER_NAME = "unpackage_script_module"
# Records of the serializer's file that hermetic's writer makes itself, for
# the archive they end up in.
_OWN_RECORDS = frozenset(("byteorder", ".data/serialization_id"))
# torch.package's writer starts at this format version; the serializer may
# need a later one, which its .data/version then says.
_PACKAGE_VERSION = 6


def is_record(name: str) -> bool:
    """Whether record `name` is one of TorchScript's (torch parses it)."""
    return name.startswith(RECORDS)


def is_unpackage_function(func) -> bool:
    module = sys.modules.get(LOADER_MODULE)
    return module is not None and func is getattr(module, LOADER_NAME, None)


def _gate_closed(hermetic_gate: bool) -> bool:
    """torch.package refuses ScriptModules unless its module global is
    False; lifting either that one or hermetic's own opens the gate."""
    torch_exporter = sys.modules.get("torch.package.package_exporter")
    torch_gate = getattr(torch_exporter, "_gate_torchscript_serialization", True)
    return bool(hermetic_gate) and bool(torch_gate)


class ScriptModuleWriter:
    """The exporter's ``script_module_serializer``: torch's serializer over a
    temporary torch archive, whose records close() copies into the package.

    storage_key(untyped) gives the persistent-id key of a storage once this
    writer exists, and whether a record for it was written already.
    """

    def __init__(self, exporter):
        import torch

        self._exporter = exporter
        self._folder = tempfile.TemporaryDirectory(prefix="hermetic-ts-")
        self._path = os.path.join(self._folder.name, "ts.pt")
        self._writer = torch._C.PyTorchFileWriter(self._path)
        self._writer.set_min_version(_PACKAGE_VERSION)
        self._serializer = torch._C.ScriptModuleSerializer(self._writer)
        self.storage_context = self._serializer.storage_context()
        # The storages pickled so far keep their keys: the context numbers
        # from 0 in first-seen order, as hermetic did.
        seen = getattr(exporter, "_hermetic_storages", {})
        for key, untyped in sorted(seen.values(), key=lambda entry: entry[0]):
            got = self.storage_context.get_or_add_storage(untyped)
            if got != key:
                raise AssertionError(f"storage key {key} became {got} in torch's context")

    def serialize(self, module, script_module_id: int) -> None:
        self._write_storages(module)
        self._serializer.serialize(module, script_module_id)

    def _write_storages(self, module) -> None:
        """Writes the storages of `module`'s parameters and buffers as the
        pickler writes its own, in the order torch's serializer would, so
        that it finds them written: their bytes go into the archive once,
        directly, and where torch.package puts them. The order comes from a
        dry run of a second serializer into a sink that keeps nothing (it
        is handed views, so no byte is copied)."""
        import torch

        from ._tensors import storage_persistent_id

        candidates = {}
        state = torch.jit._recursive.wrap_cpp_module(module).state_dict(keep_vars=True)
        for tensor in state.values():
            untyped = tensor.untyped_storage()
            if not self.storage_context.has_storage(untyped):
                candidates.setdefault(untyped._cdata, untyped)
        if not candidates:
            return
        # The serializer does not keep its writer alive.
        sink = torch._C.PyTorchFileWriter(_Sink(), compute_crc32=False)
        dry_run = torch._C.ScriptModuleSerializer(sink)
        dry_run.serialize(module, 0)
        order = dry_run.storage_context()
        # Storages the dry run did not meet go last, in state_dict order.
        ranked = sorted(candidates.values(), key=lambda untyped: (
            not order.has_storage(untyped), order.get_or_add_storage(untyped)))
        for untyped in ranked:
            storage_persistent_id(self._exporter, untyped)

    def storage_key(self, untyped) -> tuple[int, bool]:
        written = self.storage_context.has_storage(untyped)
        return self.storage_context.get_or_add_storage(untyped), written

    def close(self, write_record) -> None:
        """Finishes torch's archive and passes each of its records but
        byteorder and the serialization id to write_record(name, data)."""
        from . import _core

        self._serializer.write_files()
        self._writer.write_end_of_file()
        # Dropping torch's writer closes its file.
        del self._serializer, self._writer
        reader = _core.ArchiveReader(self._path)
        try:
            for info in reader.record_infos():
                name = info.name
                if name in _OWN_RECORDS:
                    continue
                version = f"{_PACKAGE_VERSION}\n".encode()
                if name == ".data/version" and reader.read(name) == version:
                    # hermetic's writer writes this one itself, in its place.
                    continue
                # torch deflates the code records; hermetic's writer stores
                # every record as it is given.
                write_record(name, reader.view(name) if info.method == 0 else reader.read(name))
        finally:
            reader.close()
            self.discard()

    def discard(self) -> None:
        self._folder.cleanup()


class _Sink:
    """A file torch's writer writes into and nothing is kept of."""

    def write(self, data) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def script_module_serializer(exporter, hermetic_gate: bool) -> ScriptModuleWriter:
    """The exporter's writer of TorchScript, made on first use."""
    if _gate_closed(hermetic_gate):
        raise Exception(  # noqa: TRY002 (the type torch.package raises here)
            "Pickling a ScriptModule into a package is gated, as in torch.package: "
            "set hermetic.package_exporter._gate_torchscript_serialization (or "
            "torch.package.package_exporter's) to False to allow it")
    writer = getattr(exporter, "_hermetic_torchscript", None)
    if writer is None:
        writer = exporter._hermetic_torchscript = ScriptModuleWriter(exporter)
    return writer


def close_exporter(exporter) -> None:
    """Copies the TorchScript records into the archive, if any were made."""
    writer = getattr(exporter, "_hermetic_torchscript", None)
    if writer is not None:
        writer.close(exporter._write_record)


def abort_exporter(exporter) -> None:
    writer = getattr(exporter, "_hermetic_torchscript", None)
    if writer is not None:
        writer.discard()


# ------------------------------------------------------------------ loading


def _torch_reader(importer):
    """torch's reader of the importer's archive, opened once; for an
    unzipped folder, hermetic's reader (torch then refuses it)."""
    reader = getattr(importer, "_hermetic_torch_reader", None)
    if reader is not None:
        return reader
    records = importer.zip_reader
    if isinstance(records, DirectoryReader):
        return records
    import torch

    source = getattr(records, "source", None)
    if source is None:
        source = importer.filename
    if callable(getattr(source, "read", None)):
        # hermetic's reader left the file anywhere; torch's reads from here.
        source.seek(0)
    elif not isinstance(source, str):
        # BytesIO over bytes shares them; other buffers are copied once.
        source = io.BytesIO(source if isinstance(source, bytes) else bytes(source))
    reader = importer._hermetic_torch_reader = torch._C.PyTorchFileReader(source)
    return reader


class TorchScriptLoad:
    """What torch's ``unpackage_script_module`` reads from its importer,
    for one load (one PackageUnpickler): ``zip_reader`` (torch's reader),
    ``storage_context`` and ``last_map_location``.

    Before torch's loader runs, the context is given every storage record
    as hermetic's tensor loader maps it (zero-copy, CRC-checked with
    verify=True), shared with the rest of the pickle: torch then reads
    only the ``.data/ts_code/`` records itself.
    """

    def __init__(self, unpickler):
        import torch

        self._torch = torch
        self._unpickler = unpickler
        self.zip_reader = _torch_reader(unpickler._importer)
        self.storage_context = torch._C.DeserializationStorageContext()
        self.last_map_location = unpickler._map_location
        # Storage key -> record size, of every .data/<key>.storage record.
        self._storages = {}
        for info in unpickler._importer._reader.record_infos():
            name = info.name
            if name.startswith(".data/") and name.endswith(".storage") and name.count("/") == 1:
                key = name[len(".data/"):-len(".storage")]
                self._storages[int(key) if key.isdigit() else key] = info.size

    def load(self, func, args):
        if isinstance(self.zip_reader, DirectoryReader):
            return func(self, *args)  # torch refuses folders itself
        torch = self._torch
        loaded = self._unpickler.loaded_storages
        load_storage = self._unpickler._tensors().load_storage
        context = self.storage_context
        for key, size in self._storages.items():
            if key not in loaded:
                load_storage(torch.UntypedStorage, key, "cpu", size)
            name = f"{key}.storage"
            if not context.has_storage(name):
                untyped = loaded[key]
                tensor = torch.empty(0, dtype=torch.uint8, device=untyped.device)
                context.add_storage(name, tensor.set_(untyped))
        return func(self, *args)


def load(unpickler, func, args):
    """Calls torch's unpackage_script_module for a reduce_package id."""
    state = getattr(unpickler, "_hermetic_torchscript", None)
    if state is None:
        state = unpickler._hermetic_torchscript = TorchScriptLoad(unpickler)
    return state.load(func, args)
