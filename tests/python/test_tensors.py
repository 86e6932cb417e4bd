"""Tensors in packages: every dtype, sharing, map_location, torch objects,
interop with torch.package, and zero-copy loading."""

import gc
import io
import pickle
import sys
import textwrap
import warnings
import zipfile

import pytest

torch = pytest.importorskip("torch")

from hermetic import PackageExporter, PackageImporter  # noqa: E402
from hermetic import _core  # noqa: E402
from hermetic.errors import CorruptArchiveError  # noqa: E402
from process_maps import mapped_ranges

QUANTIZED = {torch.qint8, torch.quint8, torch.qint32, torch.quint4x2, torch.quint2x4}


def _all_dtypes():
    return sorted({v for v in vars(torch).values() if isinstance(v, torch.dtype)}, key=str)


def _sample(dtype):
    """A 3x4 tensor of `dtype` whose bytes are distinct per element."""
    if dtype == torch.bool:
        return torch.tensor([[True, False, True, True]] * 3)
    raw = torch.arange(12 * dtype.itemsize, dtype=torch.uint8) % 61 + 1
    return raw.view(dtype).reshape(3, -1)


def _torch_pickles(dtype):
    try:
        torch.save(_sample(dtype), io.BytesIO())
    except Exception:
        return False
    return True


PLAIN_DTYPES = [d for d in _all_dtypes() if d not in QUANTIZED and _torch_pickles(d)]


def _same(a, b):
    """Same dtype, shape and bytes (NaN-safe; works for every dtype)."""
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    if a.is_quantized:
        assert a.qscheme() == b.qscheme()
        assert torch.equal(a.int_repr(), b.int_repr())
        if a.qscheme() == torch.per_tensor_affine:
            assert (a.q_scale(), a.q_zero_point()) == (b.q_scale(), b.q_zero_point())
        else:
            assert torch.equal(a.q_per_channel_scales(), b.q_per_channel_scales())
        return
    assert torch.equal(a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8))


def _export(path, pickles, protocol=3):
    with PackageExporter(path) as exporter:
        for resource, obj in pickles.items():
            exporter.save_pickle("res", resource, obj, pickle_protocol=protocol)


def _roundtrip(tmp_path, obj, **load_kwargs):
    path = tmp_path / "p.pt"
    _export(path, {"obj.pkl": obj})
    return PackageImporter(path).load_pickle("res", "obj.pkl", **load_kwargs)


def _storage_records(path):
    with zipfile.ZipFile(path) as z:
        return sorted(n.split("/", 1)[1] for n in z.namelist() if "/.data/" in n and n.endswith(".storage"))


def _inside(ptr, ranges):
    return any(start <= ptr < end for start, end in ranges)


# ---------------------------------------------------------------------------
# dtypes


@pytest.mark.parametrize("dtype", PLAIN_DTYPES, ids=str)
def test_every_dtype_round_trips(tmp_path, dtype):
    tensor = _sample(dtype)
    loaded = _roundtrip(tmp_path, {"t": tensor, "col": tensor[:, 1]})
    _same(loaded["t"], tensor)
    _same(loaded["col"], tensor[:, 1])
    assert loaded["col"].stride() == tensor[:, 1].stride()


def test_dtype_list_covers_new_dtypes():
    for name in ("float8_e4m3fn", "float8_e5m2", "bfloat16", "complex64", "uint16", "uint32", "uint64", "bool"):
        assert getattr(torch, name) in PLAIN_DTYPES


@pytest.mark.parametrize("dtype", sorted(QUANTIZED, key=str), ids=str)
def test_quantized_per_tensor_round_trips(tmp_path, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized creation is deprecated
        tensor = torch.quantize_per_tensor(torch.linspace(-3, 3, 12), 0.25, 1, dtype)
    _same(_roundtrip(tmp_path, tensor), tensor)


def test_quantized_per_channel_round_trips(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tensor = torch.quantize_per_channel(
            torch.linspace(-3, 3, 12).reshape(3, 4), torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0, 1, 2]), 0, torch.quint8
        )
    _same(_roundtrip(tmp_path, tensor), tensor)


def test_bare_storages_round_trip(tmp_path):
    tensor = torch.arange(6, dtype=torch.int16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated
        typed = tensor.storage()
    loaded = _roundtrip(tmp_path, {"typed": typed, "untyped": tensor.untyped_storage()})
    assert loaded["typed"].dtype == torch.int16
    assert loaded["typed"].tolist() == list(range(6))
    # torch.package loads an UntypedStorage id as bytes (dtype uint8).
    assert loaded["untyped"].dtype == torch.uint8
    assert bytes(loaded["untyped"].tolist()) == tensor.numpy().tobytes()


class _RecordingExporter:
    def __init__(self):
        self.records = {}

    def _write_record(self, name, data):
        self.records[name] = bytes(data)


def test_persistent_id_layout():
    from hermetic._tensors import storage_persistent_id

    exporter = _RecordingExporter()
    floats = torch.arange(6.0)
    f8 = torch.zeros(5, dtype=torch.float8_e5m2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated
        typed, f8_typed = floats.storage(), f8.storage()
    assert storage_persistent_id(exporter, floats) is None
    assert storage_persistent_id(exporter, "not a storage") is None
    assert storage_persistent_id(exporter, typed) == ("storage", torch.FloatStorage, 0, "cpu", 6)
    assert storage_persistent_id(exporter, floats[2:].untyped_storage()) == (
        "storage", torch.UntypedStorage, 0, "cpu", 24)
    # No legacy class for float8: saved untyped, numel in bytes.
    assert storage_persistent_id(exporter, f8_typed) == ("storage", torch.UntypedStorage, 1, "cpu", 5)
    assert exporter.records == {".data/0.storage": floats.numpy().tobytes(), ".data/1.storage": bytes(5)}
    assert storage_persistent_id(_RecordingExporter(), typed)[2] == 0  # keys are per exporter


# ---------------------------------------------------------------------------
# sharing


def test_storage_keys_count_from_zero_and_dedup_across_pickles(tmp_path):
    a, b, c = torch.ones(2), torch.zeros(3), torch.arange(4.0)
    path = tmp_path / "p.pt"
    _export(path, {"one.pkl": {"a": a, "b": b, "a_again": a}, "two.pkl": [c, b, a[1:]]})
    assert _storage_records(path) == [".data/0.storage", ".data/1.storage", ".data/2.storage"]
    with zipfile.ZipFile(path) as z:
        prefix = z.namelist()[0].split("/")[0]
        assert z.read(f"{prefix}/.data/2.storage") == c.numpy().tobytes()
    importer = PackageImporter(path)
    two = importer.load_pickle("res", "two.pkl")
    assert two[0].tolist() == [0, 1, 2, 3] and two[1].tolist() == [0, 0, 0] and two[2].tolist() == [1]


def test_views_share_storage_after_load(tmp_path):
    base = torch.arange(10.0)
    loaded = _roundtrip(tmp_path, {"base": base, "slice": base[2:5], "bits": base.view(torch.int32)})
    assert _storage_records(tmp_path / "p.pt") == [".data/0.storage"]
    assert loaded["slice"].untyped_storage().data_ptr() == loaded["base"].untyped_storage().data_ptr()
    assert loaded["bits"].untyped_storage().data_ptr() == loaded["base"].untyped_storage().data_ptr()
    loaded["base"][3] = 42.0
    assert loaded["slice"][1].item() == 42.0
    assert loaded["bits"][3].item() == base.new_tensor([42.0]).view(torch.int32).item()


class _Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(7, 3)
        self.head = torch.nn.Linear(3, 7, bias=False)
        self.head.weight = self.embed.weight


def test_tied_weights_are_written_once_and_stay_tied(tmp_path):
    model = _Tied()
    path = tmp_path / "p.pt"
    with PackageExporter(path) as exporter:
        exporter.save_pickle("res", "sd.pkl", model.state_dict())
        exporter.save_pickle("res", "params.pkl", list(model.parameters()))
    assert _storage_records(path) == [".data/0.storage"]
    sd = PackageImporter(path).load_pickle("res", "sd.pkl")
    assert sd["embed.weight"].data_ptr() == sd["head.weight"].data_ptr()
    assert torch.equal(sd["head.weight"], model.head.weight.detach())


# ---------------------------------------------------------------------------
# map_location


@pytest.mark.parametrize(
    "map_location, device",
    [
        (None, "cpu"),
        ("cpu", "cpu"),
        (torch.device("cpu"), "cpu"),
        ("meta", "meta"),
        (torch.device("meta"), "meta"),
        ({"cpu": "meta"}, "meta"),
        ({"cuda:0": "cpu"}, "cpu"),
    ],
    ids=["none", "str", "device", "str-meta", "device-meta", "dict-meta", "dict-other"],
)
def test_map_location_forms(tmp_path, map_location, device):
    tensor = torch.arange(5.0)
    loaded = _roundtrip(tmp_path, tensor, map_location=map_location)
    assert loaded.device.type == device
    assert loaded.shape == tensor.shape
    if device == "cpu":
        assert torch.equal(loaded, tensor)


def test_map_location_callable(tmp_path):
    calls = []

    def to_meta(storage, location):
        calls.append(location)
        if len(calls) == 1:
            return torch.serialization.default_restore_location(storage, "meta")
        return None

    loaded = _roundtrip(tmp_path, [torch.ones(2), torch.zeros(3)], map_location=to_meta)
    assert calls == ["cpu", "cpu"]
    assert loaded[0].device.type == "meta"
    # Returning None falls back to the default restore (stays on cpu).
    assert loaded[1].device.type == "cpu" and torch.equal(loaded[1], torch.zeros(3))


# ---------------------------------------------------------------------------
# zero copy


def test_loaded_tensor_lies_in_the_archive_mapping(tmp_path):
    tensor = torch.arange(1 << 16, dtype=torch.float32)
    path = tmp_path / "p.pt"
    _export(path, {"t.pkl": tensor})
    importer = PackageImporter(path)
    loaded = importer.load_pickle("res", "t.pkl")
    ranges = mapped_ranges(path)
    assert ranges, "archive is not memory-mapped"
    assert _inside(loaded.data_ptr(), ranges)
    assert _inside(loaded.data_ptr() + loaded.nbytes - 1, ranges)
    assert torch.equal(loaded, tensor)


def test_copy_tensors_option_copies(tmp_path):
    tensor = torch.arange(1 << 12, dtype=torch.float32)
    path = tmp_path / "p.pt"
    _export(path, {"t.pkl": tensor})
    importer = PackageImporter(path)
    importer.copy_tensors = True
    loaded = importer.load_pickle("res", "t.pkl")
    assert not _inside(loaded.data_ptr(), mapped_ranges(path))
    assert torch.equal(loaded, tensor)


def test_tensor_outlives_importer(tmp_path):
    tensor = torch.arange(1 << 14, dtype=torch.float64)
    path = tmp_path / "p.pt"
    _export(path, {"t.pkl": {"t": tensor}})
    with PackageImporter(path) as importer:
        loaded = importer.load_pickle("res", "t.pkl")["t"]
    del importer
    gc.collect()
    assert mapped_ranges(path), "the tensor should keep the mapping alive"
    assert torch.equal(loaded, tensor)
    del loaded
    gc.collect()
    assert not mapped_ranges(path)


def test_writing_a_loaded_tensor_does_not_change_the_file(tmp_path):
    tensor = torch.arange(1024, dtype=torch.int64)
    path = tmp_path / "p.pt"
    _export(path, {"t.pkl": tensor})
    before = path.read_bytes()
    loaded = PackageImporter(path).load_pickle("res", "t.pkl")
    loaded.fill_(-7)
    loaded.add_(1)
    assert path.read_bytes() == before
    assert torch.equal(PackageImporter(path).load_pickle("res", "t.pkl"), tensor)
    assert torch.all(loaded == -6)


def _two_loads(tmp_path, copy_tensors):
    tensor = torch.arange(8.0)
    path = tmp_path / "p.pt"
    _export(path, {"a.pkl": tensor, "b.pkl": [tensor, tensor[1:]]})
    importer = PackageImporter(path)
    importer.copy_tensors = copy_tensors
    a = importer.load_pickle("res", "a.pkl")
    a[1] = 100.0
    return a, importer.load_pickle("res", "b.pkl")


def test_storages_are_shared_within_one_load(tmp_path):
    _, (whole, tail) = _two_loads(tmp_path, copy_tensors=False)
    assert tail.data_ptr() == whole.data_ptr() + 4
    whole[2] = -1.0
    assert tail[1].item() == -1.0


def test_copy_tensors_gives_each_load_its_own_bytes(tmp_path):
    a, (whole, tail) = _two_loads(tmp_path, copy_tensors=True)
    assert tail.data_ptr() == whole.data_ptr() + 4
    assert torch.equal(whole, torch.arange(8.0))
    assert a[1].item() == 100.0


def test_zero_copy_loads_are_independent(tmp_path):
    a, (whole, _) = _two_loads(tmp_path, copy_tensors=False)
    assert torch.equal(whole, torch.arange(8.0))
    assert a[1].item() == 100.0
    ranges = mapped_ranges(tmp_path / "p.pt")
    assert _inside(a.data_ptr(), ranges) and _inside(whole.data_ptr(), ranges)


def test_compressed_storage_records_load_as_copies(tmp_path):
    tensor = torch.arange(1000, dtype=torch.int32)
    path, deflated = tmp_path / "p.pt", tmp_path / "deflated.pt"
    _export(path, {"t.pkl": {"t": tensor, "view": tensor[10:20]}})
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    loaded = PackageImporter(deflated).load_pickle("res", "t.pkl")
    assert torch.equal(loaded["t"], tensor) and torch.equal(loaded["view"], tensor[10:20])
    assert loaded["view"].data_ptr() == loaded["t"].data_ptr() + 40
    assert not _inside(loaded["t"].data_ptr(), mapped_ranges(deflated))


def test_unzipped_package_folder_loads_tensors(tmp_path):
    tensor = torch.arange(50, dtype=torch.int16)
    path = tmp_path / "p.pt"
    _export(path, {"t.pkl": [tensor, tensor[5:]]})
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp_path / "unzipped")
        prefix = z.namelist()[0].split("/")[0]
    importer = PackageImporter(tmp_path / "unzipped" / prefix)
    whole, tail = importer.load_pickle("res", "t.pkl")
    del importer
    gc.collect()
    assert torch.equal(whole, tensor) and torch.equal(tail, tensor[5:])
    assert tail.data_ptr() == whole.data_ptr() + 10


def test_misaligned_storage_records_load_as_aligned_copies(tmp_path):
    tensor = torch.arange(100, dtype=torch.float64)
    path, unaligned = tmp_path / "p.pt", tmp_path / "unaligned.pt"
    _export(path, {"t.pkl": tensor})
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(unaligned, "w", zipfile.ZIP_STORED) as dst:
        prefix = src.namelist()[0].split("/")[0]
        dst.writestr(f"{prefix}/pad", b"123")  # shifts later records off 8-byte boundaries
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    infos = {i.name: i for i in _core.ArchiveReader(str(unaligned)).record_infos()}
    assert infos[".data/0.storage"].data_offset % 8 != 0
    loaded = PackageImporter(unaligned).load_pickle("res", "t.pkl")
    assert loaded.data_ptr() % 8 == 0
    assert torch.equal(loaded, tensor)


# ---------------------------------------------------------------------------
# fast rebuild path


def _rebuild_cases():
    """(args of _rebuild_tensor_v2, description) over one shared storage."""
    import collections

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated
        floats = torch.arange(24.0).storage()
        complexes = torch.arange(6.0).view(torch.complex64).storage()
    hooks = collections.OrderedDict()
    return [
        ((floats, 0, (24,), (1,), False, hooks), "contiguous"),
        ((floats, 5, (3, 4), (1, 3), False, hooks), "strided view with offset"),
        ((floats, 0, (2, 3), (3, 1), True, hooks), "requires_grad"),
        ((floats, 0, (0,), (1,), False, collections.OrderedDict()), "empty"),
        ((complexes, 1, (2,), (1,), False, hooks, {"conj": True}), "conj metadata"),
        ((complexes, 0, (3,), (1,), False, hooks, {"neg": True}), "neg metadata"),
    ]


def _same_tensor(ours, theirs):
    assert type(ours) is type(theirs)
    assert ours.dtype == theirs.dtype and ours.device == theirs.device
    assert ours.shape == theirs.shape and ours.stride() == theirs.stride()
    assert ours.storage_offset() == theirs.storage_offset()
    assert ours.untyped_storage().data_ptr() == theirs.untyped_storage().data_ptr()
    assert ours.requires_grad == theirs.requires_grad
    assert ours._backward_hooks is theirs._backward_hooks
    assert ours.is_conj() == theirs.is_conj() and ours.is_neg() == theirs.is_neg()
    assert ours._base is None and theirs._base is None
    assert ours.__dict__ == theirs.__dict__


@pytest.mark.parametrize("case", range(len(_rebuild_cases())), ids=[d for _, d in _rebuild_cases()])
def test_fast_tensor_rebuild_matches_torch(case):
    from hermetic._tensors import _fast_rebuilds

    args, _ = _rebuild_cases()[case]
    fast = _fast_rebuilds()[torch._utils._rebuild_tensor_v2]
    _same_tensor(fast(*args), torch._utils._rebuild_tensor_v2(*args))


@pytest.mark.parametrize("requires_grad", [True, False])
def test_fast_parameter_rebuild_matches_torch(requires_grad):
    import collections

    from hermetic._tensors import _fast_rebuilds

    fast = _fast_rebuilds()[torch._utils._rebuild_parameter]
    data, hooks = torch.arange(4.0), collections.OrderedDict()
    ours = fast(data, requires_grad, hooks)
    theirs = torch._utils._rebuild_parameter(data, requires_grad, hooks)
    _same_tensor(ours, theirs)
    assert ours.data_ptr() == data.data_ptr()


@pytest.mark.parametrize(
    "geometry",
    [(0, (64,), (1,)), (0, (8, 8), (8, 1)), (4, (60,), (1,)), (0, (32,), (2,))],
    ids=["whole", "2-d", "offset", "strided"],
)
@pytest.mark.parametrize("requires_grad", [True, False])
def test_rebuild_from_a_loaded_storage_matches_torch(tmp_path, geometry, requires_grad):
    """The loader's rebuild of a fresh storage (which may hand out the tensor
    the storage was made from) equals torch's rebuild of that storage."""
    import collections

    from hermetic._package_unpickler import PackageUnpickler

    path = tmp_path / "p.pt"
    _export(path, {"t.pkl": torch.arange(64.0)})
    unpickler = PackageUnpickler(PackageImporter(path), io.BytesIO(b""))
    loader = unpickler._tensors()
    rebuild = loader.rebuild(torch._utils._rebuild_tensor_v2)
    assert rebuild is not torch._utils._rebuild_tensor_v2
    offset, size, stride = geometry
    typed = loader.load_storage(torch.FloatStorage, 0, "cpu", 64)
    hooks = collections.OrderedDict()
    ours = rebuild(typed, offset, size, stride, requires_grad, hooks)
    theirs = torch._utils._rebuild_tensor_v2(typed, offset, size, stride, requires_grad, hooks)
    _same_tensor(ours, theirs)
    assert torch.equal(ours, theirs)
    again = rebuild(typed, offset, size, stride, requires_grad, hooks)
    assert again is not ours
    _same_tensor(again, theirs)


def test_typed_storages_are_made_as_torch_makes_them():
    from hermetic._tensors import _typed_storage_maker

    untyped = torch.arange(4, dtype=torch.int32).untyped_storage()
    ours = _typed_storage_maker(torch)(untyped, torch.int32)
    theirs = torch.storage.TypedStorage(wrap_storage=untyped, dtype=torch.int32, _internal=True)
    assert type(ours) is type(theirs)
    assert list(vars(ours)) == list(vars(theirs))
    assert vars(ours) == {"dtype": torch.int32, "_untyped_storage": untyped}
    assert ours._untyped_storage is theirs._untyped_storage
    assert ours.tolist() == theirs.tolist() == [0, 1, 2, 3]


def test_fast_rebuild_gives_way_to_modes():
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.overrides import TorchFunctionMode

    from hermetic._tensors import _fast_rebuilds

    torch_functions = {torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter}
    for mode in (TorchFunctionMode(), FakeTensorMode()):
        with mode:
            assert _fast_rebuilds() == {}
    assert set(_fast_rebuilds()) == torch_functions


def test_loads_under_a_torch_function_mode_go_through_it(tmp_path):
    from torch.overrides import TorchFunctionMode

    class Record(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    path = tmp_path / "p.pt"
    _export(path, {"t.pkl": [torch.arange(4.0), torch.nn.Parameter(torch.ones(2))]})
    importer = PackageImporter(path)
    with Record() as mode:
        tensor, param = importer.load_pickle("res", "t.pkl")
    # torch's _rebuild_tensor ran (the fast path calls no torch.empty for a
    # tensor spanning its storage), and the mode saw it.
    assert "empty" in mode.names
    assert torch.equal(tensor, torch.arange(4.0))
    assert type(param) is torch.nn.Parameter and param.requires_grad


def test_loads_match_torch_package(tmp_path):
    import collections

    base = torch.arange(12.0)
    grad = torch.ones(3, requires_grad=True)
    objects = {
        "base": base,
        "view": base[2:10].view(2, 4).t(),
        "grad": grad,
        "param": torch.nn.Parameter(torch.zeros(2)),
        "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
        "conj": torch.arange(4.0).view(torch.complex64).conj(),
    }
    path = tmp_path / "t.pt"
    with torch.package.PackageExporter(str(path)) as exporter:
        exporter.save_pickle("res", "t.pkl", objects)
    ours = PackageImporter(path).load_pickle("res", "t.pkl")
    theirs = torch.package.PackageImporter(str(path)).load_pickle("res", "t.pkl")
    for name in objects:
        a, b = ours[name], theirs[name]
        assert type(a) is type(b), name
        assert (a.dtype, a.shape, a.stride(), a.storage_offset()) == (b.dtype, b.shape, b.stride(), b.storage_offset())
        assert a.requires_grad == b.requires_grad and a.is_conj() == b.is_conj(), name
        assert type(a._backward_hooks) is type(b._backward_hooks) is collections.OrderedDict, name
        _same(a.detach().resolve_conj(), b.detach().resolve_conj())
    assert ours["view"].untyped_storage().data_ptr() == ours["base"].untyped_storage().data_ptr()


class _AskCollector:
    """Unpickles as the value of gc.isenabled() at that moment."""

    def __reduce__(self):
        return (gc.isenabled, ())


@pytest.mark.parametrize("enabled", [True, False])
def test_load_pickle_pauses_the_collector_and_restores_it(tmp_path, enabled):
    path = tmp_path / "gc.pt"
    writer = _core.ArchiveWriter(str(path))
    writer.write_record("res/ask.pkl", pickle.dumps(_AskCollector(), protocol=3))
    writer.write_record("res/broken.pkl", pickle.dumps(_AskCollector(), protocol=3).replace(b"gc", b"qq"))
    writer.write_record(".data/extern_modules", b"gc\n")
    writer.finish()
    importer = PackageImporter(path)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        assert importer.load_pickle("res", "ask.pkl") is False
        assert gc.isenabled() is enabled
        with pytest.raises(ModuleNotFoundError):
            importer.load_pickle("res", "broken.pkl")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


# ---------------------------------------------------------------------------
# torch objects


MODEL_SRC = textwrap.dedent(
    """
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(4, 8)
            self.fc2 = torch.nn.Linear(8, 2)
            self.register_buffer("scale", torch.tensor([2.0, 3.0]))

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x))) * self.scale
    """
)


@pytest.fixture
def netdef(tmp_path, monkeypatch):
    (tmp_path / "h6_netdef.py").write_text(MODEL_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    import h6_netdef

    yield h6_netdef
    sys.modules.pop("h6_netdef", None)


def test_module_from_packaged_code_state_dict_and_optimizer(tmp_path, netdef):
    torch.manual_seed(0)
    model = netdef.Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    path = tmp_path / "m.pt"
    with PackageExporter(path) as exporter:
        exporter.intern("h6_netdef")
        exporter.extern("torch.**")
        exporter.save_pickle("m", "model.pkl", model)
        exporter.save_pickle("m", "sd.pkl", model.state_dict())
        exporter.save_pickle("m", "optim.pkl", optimizer.state_dict())
    del exporter
    importer = PackageImporter(path)
    loaded = importer.load_pickle("m", "model.pkl")
    assert type(loaded).__module__.startswith("<torch_package_")
    x = torch.randn(5, 4)
    assert torch.equal(loaded(x), model(x))
    sd = importer.load_pickle("m", "sd.pkl")
    assert sd.keys() == model.state_dict().keys()
    for name, value in model.state_dict().items():
        assert torch.equal(sd[name], value)
    optim_sd = importer.load_pickle("m", "optim.pkl")
    fresh = torch.optim.Adam(model.parameters(), lr=0.1)
    fresh.load_state_dict(optim_sd)
    for key, state in optimizer.state_dict()["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(fresh.state_dict()["state"][key][name], state[name])


def test_fx_graph_module_round_trips(tmp_path, netdef):
    torch.manual_seed(1)
    traced = torch.fx.symbolic_trace(netdef.Net())
    path = tmp_path / "fx.pt"
    with PackageExporter(path) as exporter:
        exporter.intern("h6_netdef")
        exporter.extern("torch.**")
        exporter.save_pickle("fx", "gm.pkl", traced)
    loaded = PackageImporter(path).load_pickle("fx", "gm.pkl")
    assert isinstance(loaded, torch.fx.GraphModule)
    x = torch.randn(2, 4)
    assert torch.equal(loaded(x), traced(x))
    with zipfile.ZipFile(path) as z:
        assert any("fx-generated" in n for n in z.namelist())


# ---------------------------------------------------------------------------
# interop with torch.package


def _interop_objects():
    return {
        "f32": torch.arange(6.0).reshape(2, 3),
        "view": torch.arange(6.0)[1:4],
        "bf16": torch.ones(4, dtype=torch.bfloat16),
        "f8": torch.ones(4).to(torch.float8_e4m3fn),
        "u16": torch.arange(4).to(torch.uint16),
        "param": torch.nn.Parameter(torch.ones(2)),
    }


def _check_interop(loaded, objects):
    assert loaded.keys() == objects.keys()
    for name, value in objects.items():
        _same(loaded[name], value.detach())
    assert isinstance(loaded["param"], torch.nn.Parameter)


def test_torch_package_loads_what_hermetic_writes(tmp_path):
    objects = _interop_objects()
    path = tmp_path / "h.pt"
    _export(path, {"t.pkl": objects})
    loaded = torch.package.PackageImporter(str(path)).load_pickle("res", "t.pkl")
    _check_interop(loaded, objects)


def test_hermetic_loads_what_torch_package_writes(tmp_path):
    objects = _interop_objects()
    path = tmp_path / "t.pt"
    with torch.package.PackageExporter(str(path)) as exporter:
        exporter.save_pickle("res", "t.pkl", objects)
    importer = PackageImporter(path)
    loaded = importer.load_pickle("res", "t.pkl")
    _check_interop(loaded, objects)
    assert _inside(loaded["f32"].data_ptr(), mapped_ranges(path))


# ---------------------------------------------------------------------------
# bad input


class _Slot:
    """Stands for a storage in a hand-made persistent id."""

    def __init__(self, pid):
        self.pid = pid


class _IdPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Slot) else None


def _crafted(tmp_path, pid, storages):
    """An archive whose res/x.pkl is a bare persistent id `pid`."""
    data = io.BytesIO()
    _IdPickler(data, protocol=3).dump(_Slot(pid))
    path = tmp_path / "bad.pt"
    writer = _core.ArchiveWriter(str(path))
    for name, payload in storages.items():
        writer.write_record(name, payload)
    writer.write_record("res/x.pkl", data.getvalue())
    writer.write_record(".data/extern_modules", b"torch\n")
    writer.finish()
    return PackageImporter(path)


def test_short_storage_record_is_an_error(tmp_path):
    importer = _crafted(tmp_path, ("storage", torch.FloatStorage, 0, "cpu", 4), {".data/0.storage": b"\0" * 12})
    with pytest.raises(CorruptArchiveError, match=r"\.data/0\.storage.*FloatStorage.*12 bytes.*16"):
        importer.load_pickle("res", "x.pkl")


def test_missing_storage_record_is_an_error(tmp_path):
    importer = _crafted(tmp_path, ("storage", torch.LongStorage, 3, "cpu", 1), {})
    with pytest.raises(CorruptArchiveError, match=r"\.data/3\.storage.*LongStorage.*missing"):
        importer.load_pickle("res", "x.pkl")


@pytest.mark.parametrize("storage_type", [torch.storage.TypedStorage, torch.nn.Linear, torch.float32])
def test_non_storage_class_is_an_error(tmp_path, storage_type):
    importer = _crafted(tmp_path, ("storage", storage_type, 0, "cpu", 1), {".data/0.storage": b"\0" * 64})
    with pytest.raises(CorruptArchiveError, match=r"\.data/0\.storage.*no storage dtype"):
        importer.load_pickle("res", "x.pkl")


@pytest.mark.parametrize("key, numel", [(0, -1), (0, 1.5), (0, True), (1.0, 1), (None, 1)])
def test_bad_key_or_count_is_an_error(tmp_path, key, numel):
    importer = _crafted(tmp_path, ("storage", torch.ByteStorage, key, "cpu", numel), {".data/0.storage": b"\0" * 64})
    with pytest.raises(CorruptArchiveError, match=r"ByteStorage"):
        importer.load_pickle("res", "x.pkl")


def test_unknown_storage_class_fails_cleanly(tmp_path):
    data = io.BytesIO()
    _IdPickler(data, protocol=3).dump(_Slot(("storage", torch.FloatStorage, 0, "cpu", 1)))
    forged = data.getvalue().replace(b"FloatStorage", b"FlaotStorage")
    path = tmp_path / "bad.pt"
    writer = _core.ArchiveWriter(str(path))
    writer.write_record(".data/0.storage", b"\0" * 4)
    writer.write_record("res/x.pkl", forged)
    writer.write_record(".data/extern_modules", b"torch\n")
    writer.finish()
    with pytest.raises(AttributeError, match="FlaotStorage"):
        PackageImporter(path).load_pickle("res", "x.pkl")


def test_string_keys_are_accepted(tmp_path):
    payload = torch.arange(3, dtype=torch.int32).numpy().tobytes()
    importer = _crafted(tmp_path, ("storage", torch.IntStorage, "abc", "cpu", 3), {".data/abc.storage": payload})
    storage = importer.load_pickle("res", "x.pkl")
    assert storage.dtype == torch.int32
    assert storage._untyped_storage.nbytes() == 12
