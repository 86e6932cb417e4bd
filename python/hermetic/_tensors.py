"""Torch storages in packages: the exporter's and importer's storage glue.

Writing follows torch.package: each storage a pickle references becomes the
persistent id ``('storage', storage_class, key, location, numel)`` and its
bytes the record ``.data/<key>.storage``, written once per archive. Reading
maps the record instead of copying it: the loaded storage is a view of a
copy-on-write mapping of the archive made for that load, so a tensor's pages
are read when first touched and writing to it reaches neither the file nor
another load.

This module never imports torch at import time; the exporter and importer
call it only once ``"torch" in sys.modules``.
"""

from __future__ import annotations

import ctypes

from ._oob import record_view
from .errors import CorruptArchiveError, NotFoundError

# Exact storage types the pickler hands to persistent_id; filled on first use
# because building it imports torch. A set lookup on type(obj) keeps the
# per-object cost of the common non-storage case to one hash probe.
_STORAGE_TYPES: frozenset = frozenset()


def _storage_types() -> frozenset:
    global _STORAGE_TYPES
    import torch

    found = set()
    pending = [torch.UntypedStorage, torch.storage.TypedStorage]
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.add(cls)
            pending.extend(cls.__subclasses__())
    _STORAGE_TYPES = frozenset(found)
    return _STORAGE_TYPES


def _cpu_bytes(untyped) -> memoryview:
    """The storage's bytes without a copy; the caller keeps `untyped` alive."""
    nbytes = untyped.nbytes()
    if nbytes == 0:
        return memoryview(b"")
    array = (ctypes.c_ubyte * nbytes).from_address(untyped.data_ptr())
    return memoryview(array).cast("B")


def storage_persistent_id(exporter, obj) -> tuple | None:
    """torch.package's persistent id for a storage, else None.

    Writes ``.data/<key>.storage`` the first time a storage is seen by
    `exporter`; keys count from 0 in first-seen order across all pickles of
    the exporter. Views and differently typed wrappers of one storage share
    its key, as in torch's SerializationStorageContext.
    """
    if type(obj) not in (_STORAGE_TYPES or _storage_types()):
        return None
    import torch

    if isinstance(obj, torch.storage.TypedStorage):
        untyped = obj._untyped_storage
        try:
            storage_type = getattr(torch, obj._pickle_storage_type())
            numel = obj._size()
        except KeyError:
            # A dtype without a legacy class (float8, uint16, ...): newest
            # torch saves such storages untyped, numel counted in bytes.
            storage_type = torch.UntypedStorage
            numel = untyped.nbytes()
    else:
        untyped = obj
        storage_type = torch.UntypedStorage
        numel = untyped.nbytes()

    on_cpu = untyped.device.type == "cpu"
    if on_cpu:
        # What location_tag returns, without its walk over all backends.
        location = "cpu"
    else:
        from torch.serialization import location_tag

        location = location_tag(untyped)
    seen = getattr(exporter, "_hermetic_storages", None)
    if seen is None:
        seen = exporter._hermetic_storages = {}
    entry = seen.get(untyped._cdata)
    if entry is None:
        # Once a ScriptModule was pickled, torch's storage context numbers
        # storages (see _torchscript) and may have written this one.
        torchscript = getattr(exporter, "_hermetic_torchscript", None)
        if torchscript is None:
            key, written = len(seen), False
        else:
            key, written = torchscript.storage_key(untyped)
        # Holding the storage keeps its _cdata address from being reused by
        # another storage while the exporter lives.
        seen[untyped._cdata] = (key, untyped)
        if not written:
            cpu = untyped if on_cpu else untyped.cpu()
            exporter._write_record(f".data/{key}.storage", _cpu_bytes(cpu))
    else:
        key = entry[0]
    return ("storage", storage_type, key, location, numel)


# Storage class -> dtype of the storages a pickle may name; filled on first
# load. UntypedStorage holds bytes (newest torch.package loads it as uint8).
_DTYPES: dict = {}


def _storage_dtype(storage_type):
    if not _DTYPES:
        import torch

        _DTYPES[torch.UntypedStorage] = torch.uint8
        for cls in _storage_types():
            if issubclass(cls, torch.storage._LegacyStorage):
                # _dtype: the public dtype of legacy classes warns of
                # deprecation.
                _DTYPES[cls] = cls._dtype
    try:
        return _DTYPES.get(storage_type)
    except TypeError:  # unhashable: not a class
        return None


def _describe(reader, name: str, storage_type) -> str:
    module = getattr(storage_type, "__module__", None)
    qualname = getattr(storage_type, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        cls = f"{module}.{qualname}"
    else:
        cls = repr(storage_type)
    return f"archive {reader.name!r}: storage record {name!r} of {cls}"


def _stays_on_cpu(torch, map_location, location) -> bool:
    """Whether torch.load's restore would return a CPU storage unchanged;
    skipping it saves most of the per-storage cost of small tensors."""
    if map_location is None:
        target = location
    elif isinstance(map_location, dict):
        target = map_location.get(location, location)
    elif isinstance(map_location, (str, torch.device)):
        target = str(map_location)
    else:
        return False
    return target == "cpu"


def _typed_storage_maker(torch):
    """``make(untyped, dtype)``: what ``TypedStorage(wrap_storage=untyped,
    dtype=dtype, _internal=True)`` makes, without the argument checks of its
    Python __new__ and __init__, which cost more than the rest of loading a
    small storage."""
    cls = torch.storage.TypedStorage
    new = object.__new__

    def make(untyped, dtype):
        typed = new(cls)
        typed.dtype = dtype
        typed._untyped_storage = untyped
        return typed

    return make


class TensorLoader:
    """The tensor glue of one load (one PackageUnpickler.load call).

    ``load_storage(storage_type, key, location, numel)`` turns a
    ``'storage'`` persistent id into its TypedStorage; ``rebuild(function)``
    is what the unpickler's find_class returns for a function of
    torch._utils. Small tensors cost microseconds each, so everything that
    is the same for the whole load is looked up once, here.

    Storages are shared within the load through ``unpickler.loaded_storages``
    (key -> restored UntypedStorage) and are views of one private mapping of
    the archive made for that load alone: as in torch.package, each
    load_pickle call gets its own storages, and a write into one is seen by
    no other load. Bytes are not copied unless ``importer.copy_tensors`` is
    true, the unpickler's map_location moves them, or the record is
    compressed or misaligned for its dtype.
    """

    def __init__(self, unpickler):
        import torch

        importer = unpickler._importer
        reader = importer._reader
        map_location = unpickler._map_location
        loaded_storages = unpickler.loaded_storages
        copy = getattr(importer, "copy_tensors", False)
        typed_storage = torch.storage.TypedStorage
        frombuffer = torch.frombuffer
        new_typed_storage = _typed_storage_maker(torch)
        _storage_dtype(None)  # fills _DTYPES
        dtypes = _DTYPES
        stays_on_cpu = {}
        fast = _fast_rebuilds()
        fast_rebuild_tensor_v2 = fast.get(torch._utils._rebuild_tensor_v2)
        # The storage of a record comes from a tensor over all of it. A
        # tensor of the same dtype spanning its whole storage, the usual
        # case, is that tensor (`spares`: id of the TypedStorage handed out
        # -> it and the tensor), saving the empty() and set_() of a rebuild.
        spares = {} if fast else None
        # Made when the first storage is needed: a map of the pages spanning
        # every .data/ record costs one mmap, where one per storage would
        # cost a system call and a kernel mapping each.
        record_map = None

        def restore(untyped, dtype, location):
            """The storage torch.load's restore makes of CPU `untyped`."""
            cpu = stays_on_cpu.get(location)
            if cpu is None:
                cpu = stays_on_cpu[location] = _stays_on_cpu(
                    torch, map_location, location)
            if cpu:
                return untyped
            from torch.serialization import _get_restore_location

            untyped = _get_restore_location(map_location)(
                new_typed_storage(untyped, dtype), location)
            if isinstance(untyped, typed_storage):
                untyped = untyped._untyped_storage
            return untyped

        def map_record(name, dtype, numel, storage_type):
            """A tensor of `numel` elements of `dtype` over record `name`."""
            nonlocal record_map
            if record_map is None:
                record_map = reader.map_records(".data/")
            try:
                view = record_view(reader, record_map, name)
            except NotFoundError as e:
                raise CorruptArchiveError(
                    f"{_describe(reader, name, storage_type)} is missing"
                ) from e
            nbytes = numel * dtype.itemsize
            if view.nbytes < nbytes:
                raise CorruptArchiveError(
                    f"{_describe(reader, name, storage_type)} holds "
                    f"{view.nbytes} bytes, fewer than the {nbytes} its pickle "
                    "declares")
            if nbytes == 0:
                return torch.empty(0, dtype=dtype)
            # The tensor holds the memoryview, which holds the load's
            # mapping, so the storage outlives the importer and its reader.
            tensor = frombuffer(view, dtype=dtype, count=numel)
            # Records of torch-written archives start 64-byte aligned; those
            # of foreign zips may not, and kernels expect aligned elements.
            # Bytes of an UntypedStorage id may become any dtype
            # (_rebuild_tensor_v3), so the check is for the widest scalar
            # alignment, not the itemsize.
            if copy or tensor.data_ptr() % 8:
                tensor = tensor.clone()
            return tensor

        def bad(storage_type, key, problem):
            name = f".data/{key}.storage"
            return CorruptArchiveError(
                f"{_describe(reader, name, storage_type)}{problem}")

        def load_storage(storage_type, key, location, numel):
            try:
                dtype = dtypes.get(storage_type)
            except TypeError:  # unhashable: not a class
                dtype = None
            if dtype is None:
                raise bad(storage_type, key,
                          f": this torch ({torch.__version__}) has no storage "
                          "dtype for that class")
            if type(key) is not int and type(key) is not str:
                raise bad(storage_type, key,
                          ": key must be an int or a str, not "
                          f"{type(key).__name__}")
            if type(numel) is not int or numel < 0:
                raise bad(storage_type, key,
                          f": element count {numel!r} is not a count")
            untyped = loaded_storages.get(key)
            if untyped is not None:
                nbytes = numel * dtype.itemsize
                if untyped.nbytes() < nbytes:
                    raise bad(storage_type, key,
                              f" holds {untyped.nbytes()} bytes, fewer than "
                              f"the {nbytes} its pickle declares")
                return new_typed_storage(untyped, dtype)
            tensor = map_record(f".data/{key}.storage", dtype, numel,
                                storage_type)
            mapped = tensor.untyped_storage()
            if isinstance(location, bytes):
                location = location.decode("ascii")
            untyped = loaded_storages[key] = restore(mapped, dtype, location)
            typed = new_typed_storage(untyped, dtype)
            if spares is not None and untyped is mapped and numel:
                spares[id(typed)] = (typed, tensor)
            return typed

        def rebuild_tensor_v2(storage, storage_offset, size, stride,
                              requires_grad, backward_hooks, metadata=None):
            spare = spares.pop(id(storage), None)
            if (spare is None or spare[0] is not storage or storage_offset
                    or metadata or stride != (1,)
                    or size != (spare[1].numel(),)):
                return fast_rebuild_tensor_v2(storage, storage_offset, size,
                                              stride, requires_grad,
                                              backward_hooks, metadata)
            # What set_() would make of an empty tensor: this one already.
            tensor = spare[1]
            tensor.requires_grad = requires_grad
            tensor._backward_hooks = backward_hooks
            return tensor

        def rebuild(function):
            if not fast:
                return function
            if function is torch._utils._rebuild_tensor_v2:
                return rebuild_tensor_v2
            return fast.get(function, function)

        self.load_storage = load_storage
        self.rebuild = rebuild


# torch._utils function -> our faster twin, filled on first use.
_FAST_REBUILDS: dict = {}
# Whether torch's rebuilds would do anything the fast ones do not.
_plain_torch = None


def _make_fast_rebuilds():
    global _plain_torch
    import torch
    from torch._guards import TracingContext

    utils = torch._utils
    torch_rebuild_tensor_v2 = utils._rebuild_tensor_v2
    typed_storage = torch.storage.TypedStorage
    tensor_type = torch.Tensor
    parameter_type = torch.nn.Parameter
    empty = torch.empty
    make_subclass = torch.Tensor._make_subclass
    dispatch_modes = torch._C._len_torch_dispatch_stack
    function_modes = torch._C._len_torch_function_stack

    def plain():
        # torch's rebuilds differ from the fast ones only under a fake mode,
        # which they look for on the dispatch stack and in the tracing
        # context; any mode or tracing at all keeps torch's functions.
        return not (dispatch_modes() or function_modes()
                    or TracingContext.try_get())

    def rebuild_tensor_v2(storage, storage_offset, size, stride,
                          requires_grad, backward_hooks, metadata=None):
        if type(storage) is not typed_storage:
            return torch_rebuild_tensor_v2(storage, storage_offset, size,
                                           stride, requires_grad,
                                           backward_hooks, metadata)
        untyped = storage._untyped_storage
        # empty(0, ...) is the (0,)-shaped tensor torch starts from, parsed
        # faster than a shape tuple.
        tensor = empty(0, dtype=storage.dtype, device=untyped.device)
        tensor.set_(untyped, storage_offset, size, stride)
        tensor.requires_grad = requires_grad
        if metadata:
            utils.set_tensor_metadata(tensor, metadata)
        tensor._backward_hooks = backward_hooks
        return tensor

    def rebuild_parameter(data, requires_grad, backward_hooks):
        if type(data) is not tensor_type:
            return utils._rebuild_parameter(data, requires_grad,
                                            backward_hooks)
        # What Parameter(data, requires_grad) does for a plain tensor.
        param = make_subclass(parameter_type, data, requires_grad)
        param._backward_hooks = backward_hooks
        return param

    _plain_torch = plain
    _FAST_REBUILDS.update({
        torch_rebuild_tensor_v2: rebuild_tensor_v2,
        utils._rebuild_parameter: rebuild_parameter,
    })


def _fast_rebuilds() -> dict:
    """torch._utils rebuild function -> our faster equivalent, or {} when a
    dispatch or torch function mode is active or a compile is tracing.

    The equivalents build the same objects (type, dtype, shape, stride,
    storage, requires_grad, _backward_hooks). An unpickler looks a global up
    once per pickle, so the check is made once per load, not per tensor.
    """
    if not _FAST_REBUILDS:
        _make_fast_rebuilds()
    return _FAST_REBUILDS if _plain_torch() else {}
