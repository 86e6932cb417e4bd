"""TorchScript in packages: ScriptModules pickled by hermetic go through
torch's own serializer into the archive, sharing storages with the pickles as
torch.package lays them out, and load through torch's own reader; archives
of either writer load in either importer."""

import io
import os
import zipfile

import pytest

torch = pytest.importorskip("torch")
import torch.package  # noqa: E402
from torch import nn  # noqa: E402

import hermetic  # noqa: E402
from hermetic import LoadPolicy, UnsafePackageError  # noqa: E402
from process_maps import mapped_ranges  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning",
    "ignore:TypedStorage is deprecated:UserWarning")

IMPLEMENTATIONS = {"torch": torch.package, "hermetic": hermetic}
# (writer, reader): both directions of interop, and hermetic alone.
DIRECTIONS = [("hermetic", "torch"), ("torch", "hermetic"), ("hermetic", "hermetic")]


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.register_buffer("scale", torch.tensor([2.0, 3.0]))

    def forward(self, x):
        return self.linear(x) * self.scale


class Top(nn.Module):
    def __init__(self, sub):
        super().__init__()
        self.sub = sub

    def forward(self, x):
        return self.sub(x)


# Two classes of one qualified name with different code: the serializer must
# keep both apart in one archive (torch mangles the second's TorchScript name).
class Sub(nn.Module):
    def forward(self, x):
        return x + 1


FirstSub = Sub


class Sub(nn.Module):  # noqa: F811 (redefined on purpose)
    def forward(self, x):
        return x * 10


SecondSub = Sub


@torch.jit.script
class Offset:
    def __init__(self, value: float):
        self.value = value


class WithObject(nn.Module):
    """A script module holding a script object (a TorchScript class)."""

    def __init__(self):
        super().__init__()
        self.offset = Offset(5.0)

    def forward(self, x):
        return x + self.offset.value
X = torch.arange(6, dtype=torch.float32).reshape(2, 3)


@pytest.fixture(autouse=True)
def ungated(monkeypatch):
    """torch.package (and so hermetic) pickles ScriptModules only with this
    gate lifted."""
    monkeypatch.setattr(torch.package.package_exporter, "_gate_torchscript_serialization", False)
    monkeypatch.setattr(hermetic.package_exporter, "_gate_torchscript_serialization", False)


def scripted(seed=0):
    torch.manual_seed(seed)
    return torch.jit.script(Scaled())


def export(impl, path, pickles, importer=None):
    """Writes each (package, resource) -> object of `pickles` with `impl`."""
    pkg = IMPLEMENTATIONS[impl]
    with pkg.PackageExporter(str(path), importer=importer or pkg.sys_importer) as exporter:
        for (package, resource), obj in pickles.items():
            exporter.save_pickle(package, resource, obj)
    return path


def records(path):
    """Record names without the top-level folder, in archive order."""
    with zipfile.ZipFile(path) as archive:
        return [name.partition("/")[2] for name in archive.namelist()]


def storages(path):
    return sorted(name for name in records(path)
                  if name.startswith(".data/") and name.endswith(".storage"))


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_script_module_alone(tmp_path, writer, reader):
    module = scripted()
    path = export(writer, tmp_path / "alone.pt", {("model", "m.pkl"): module})
    loaded = IMPLEMENTATIONS[reader].PackageImporter(str(path)).load_pickle("model", "m.pkl")
    assert isinstance(loaded, torch.jit.RecursiveScriptModule)
    assert torch.equal(loaded(X), module(X))
    assert loaded.code == module.code
    names = records(path)
    assert ".data/ts_code/0/data.pkl" in names
    assert ".data/ts_code/0/constants.pkl" in names
    assert any(name.startswith(".data/ts_code/code/__torch__/") for name in names)
    # weight, bias and scale: one storage record each.
    assert len(storages(path)) == 3


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_script_object_inside_a_script_module(tmp_path, writer, reader):
    module = torch.jit.script(WithObject())
    path = export(writer, tmp_path / "object.pt", {("model", "m.pkl"): module})
    loaded = IMPLEMENTATIONS[reader].PackageImporter(str(path)).load_pickle("model", "m.pkl")
    assert torch.equal(loaded(X), X + 5)
    assert loaded.offset.value == 5.0


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_script_module_inside_an_eager_module(tmp_path, writer, reader):
    module = scripted()
    eager = nn.Sequential(nn.ReLU(), module)
    path = export(writer, tmp_path / "inside.pt", {("model", "m.pkl"): eager})
    loaded = IMPLEMENTATIONS[reader].PackageImporter(str(path)).load_pickle("model", "m.pkl")
    assert type(loaded) is nn.Sequential
    assert isinstance(loaded[1], torch.jit.RecursiveScriptModule)
    assert torch.equal(loaded(X), eager(X))


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_script_modules_in_containers(tmp_path, writer, reader):
    first, second = scripted(0), scripted(1)
    obj = {"list": [first, second], "tuple": (second,), "nested": {"m": [first]}}
    path = export(writer, tmp_path / "containers.pt", {("model", "m.pkl"): obj})
    loaded = IMPLEMENTATIONS[reader].PackageImporter(str(path)).load_pickle("model", "m.pkl")
    assert torch.equal(loaded["list"][0](X), first(X))
    assert torch.equal(loaded["list"][1](X), second(X))
    assert not torch.equal(loaded["list"][0](X), loaded["list"][1](X))
    # One object per ScriptModule within a pickle, however often it appears.
    assert loaded["tuple"][0] is loaded["list"][1]
    assert loaded["nested"]["m"][0] is loaded["list"][0]
    assert ".data/ts_code/1/data.pkl" in records(path)
    assert ".data/ts_code/2/data.pkl" not in records(path)


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_script_module_shared_between_objects(tmp_path, writer, reader):
    module = scripted()
    holders = [nn.Sequential(module), nn.Sequential(nn.ReLU(), module)]
    path = export(writer, tmp_path / "shared.pt", {("model", "m.pkl"): holders})
    loaded = IMPLEMENTATIONS[reader].PackageImporter(str(path)).load_pickle("model", "m.pkl")
    assert loaded[0][0] is loaded[1][1]
    # Serialized once.
    assert [n for n in records(path) if n.endswith("/data.pkl")] == [".data/ts_code/0/data.pkl"]


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_script_module_repeated(tmp_path, writer, reader):
    module = scripted()
    pickles = {("model", f"m{i}.pkl"): module for i in range(3)}
    path = export(writer, tmp_path / "repeated.pt", pickles)
    importer = IMPLEMENTATIONS[reader].PackageImporter(str(path))
    loaded = [importer.load_pickle("model", f"m{i}.pkl") for i in range(3)]
    for one in loaded:
        assert torch.equal(one(X), module(X))
    # As in torch.package: each load_pickle makes its own module.
    assert loaded[0] is not loaded[1]
    # The exporter reduces an object once: one TorchScript entry.
    assert [n for n in records(path) if n.endswith("/data.pkl")] == [".data/ts_code/0/data.pkl"]


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_submodules_redefined(tmp_path, writer, reader):
    first = torch.jit.script(Top(FirstSub()))
    second = torch.jit.script(Top(SecondSub()))
    path = export(writer, tmp_path / "redefined.pt",
                  {("model", "first.pkl"): first, ("model", "second.pkl"): second})
    importer = IMPLEMENTATIONS[reader].PackageImporter(str(path))
    assert torch.equal(importer.load_pickle("model", "first.pkl")(X), X + 1)
    assert torch.equal(importer.load_pickle("model", "second.pkl")(X), X * 10)


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_tensors_shared_with_eager_modules(tmp_path, writer, reader):
    module = scripted()
    eager = nn.Linear(3, 2)
    eager.weight = module.linear.weight
    tensor = torch.ones(4)
    obj = {"eager": eager, "script": module, "tensor": tensor}
    path = export(writer, tmp_path / "tensors.pt",
                  {("model", "m.pkl"): obj, ("model", "script.pkl"): module})
    # weight (shared), eager bias, script bias, scale, tensor: five records.
    assert len(storages(path)) == 5
    importer = IMPLEMENTATIONS[reader].PackageImporter(str(path))
    loaded = importer.load_pickle("model", "m.pkl")
    assert loaded["script"].linear.weight.data_ptr() == loaded["eager"].weight.data_ptr()
    assert torch.equal(loaded["eager"].weight, eager.weight)
    assert torch.equal(loaded["tensor"], tensor)
    assert torch.equal(loaded["script"](X), module(X))
    # Script module first: the eager one takes the storage torch loaded.
    path = export(writer, tmp_path / "script_first.pt",
                  {("model", "m.pkl"): [module, eager]})
    first, second = IMPLEMENTATIONS[reader].PackageImporter(str(path)).load_pickle("model", "m.pkl")
    assert first.linear.weight.data_ptr() == second.weight.data_ptr()


def test_storage_records_laid_out_as_torch_package(tmp_path):
    module = scripted()
    eager = nn.Linear(3, 2)
    eager.weight = module.linear.weight
    obj = {"eager": eager, "script": module, "tensor": torch.ones(4)}
    ours = export("hermetic", tmp_path / "ours.pt", {("model", "m.pkl"): obj})
    theirs = export("torch", tmp_path / "theirs.pt", {("model", "m.pkl"): obj})
    assert sorted(records(ours)) == sorted(records(theirs))
    # Storages are written as they are met, in torch's order.
    in_order = [n for n in records(theirs) if n.endswith(".storage")]
    assert [n for n in records(ours) if n.endswith(".storage")] == in_order
    # Same keys for the same storages: the pickles are byte for byte torch's.
    for name in ("model/m.pkl", ".data/ts_code/0/data.pkl", ".data/ts_code/0/constants.pkl",
                 ".data/0.storage", ".data/2.storage", ".data/4.storage"):
        with zipfile.ZipFile(ours) as a, zipfile.ZipFile(theirs) as b:
            assert a.read(f"ours/{name}") == b.read(f"theirs/{name}"), name


@pytest.mark.parametrize("writer,reader", DIRECTIONS)
def test_repackaged_from_another_package(tmp_path, writer, reader):
    # writer's package, loaded and repackaged by reader, loaded by writer.
    module = scripted()
    first = export(writer, tmp_path / "first.pt", {("model", "m.pkl"): [module, torch.ones(2)]})
    pkg = IMPLEMENTATIONS[reader]
    importer = pkg.PackageImporter(str(first))
    loaded, tensor = importer.load_pickle("model", "m.pkl")
    second = export(reader, tmp_path / "second.pt", {("again", "m.pkl"): [tensor, loaded]},
                    importer=(importer, pkg.sys_importer))
    again = IMPLEMENTATIONS[writer].PackageImporter(str(second)).load_pickle("again", "m.pkl")
    assert torch.equal(again[0], tensor)
    assert torch.equal(again[1](X), module(X))
    assert again[1].code == module.code


@pytest.mark.parametrize("writer", ["hermetic", "torch"])
def test_hermetic_loads_from_buffers(tmp_path, writer):
    module = scripted()
    path = export(writer, tmp_path / "buffer.pt", {("model", "m.pkl"): [module, module.scale]})
    data = path.read_bytes()
    with open(path, "rb") as file:
        for source in (data, bytearray(data), memoryview(data), io.BytesIO(data), file):
            loaded, scale = hermetic.PackageImporter(source).load_pickle("model", "m.pkl")
            assert torch.equal(loaded(X), module(X))
            assert loaded.scale.data_ptr() == scale.data_ptr()


@pytest.mark.parametrize("writer", ["hermetic", "torch"])
def test_unzipped_folder_raises_torch_package_error(tmp_path, writer):
    path = export(writer, tmp_path / "folder.pt", {("model", "m.pkl"): scripted()})
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "out")
    folder = str(tmp_path / "out" / "folder")
    errors = []
    for impl in ("torch", "hermetic"):
        with pytest.raises(RuntimeError) as raised:
            IMPLEMENTATIONS[impl].PackageImporter(folder).load_pickle("model", "m.pkl")
        errors.append(str(raised.value))
    assert errors[0] == errors[1]
    assert "directory" in errors[1]


def test_gate_closed_refuses_as_torch_package(tmp_path, monkeypatch):
    module = scripted()
    monkeypatch.setattr(hermetic.package_exporter, "_gate_torchscript_serialization", True)
    monkeypatch.setattr(torch.package.package_exporter, "_gate_torchscript_serialization", True)
    for impl in ("torch", "hermetic"):
        with pytest.raises(Exception, match="_gate_torchscript_serialization") as raised:
            export(impl, tmp_path / f"{impl}.pt", {("model", "m.pkl"): module})
        assert type(raised.value) is Exception
    # An aborted export leaves nothing behind.
    assert not (tmp_path / "hermetic.pt").exists()
    # Lifting torch.package's gate is enough, for code that sets only that.
    monkeypatch.setattr(torch.package.package_exporter, "_gate_torchscript_serialization", False)
    path = export("hermetic", tmp_path / "torch_gate.pt", {("model", "m.pkl"): module})
    assert torch.equal(hermetic.PackageImporter(str(path)).load_pickle("model", "m.pkl")(X),
                       module(X))


def test_temporary_archive_is_removed(tmp_path):
    with hermetic.PackageExporter(str(tmp_path / "t.pt")) as exporter:
        exporter.save_pickle("model", "m.pkl", scripted())
        folder = exporter._hermetic_torchscript._folder.name
        assert os.path.isdir(folder)
    assert not os.path.exists(folder)
    with pytest.raises(KeyError):
        with hermetic.PackageExporter(str(tmp_path / "aborted.pt")) as exporter:
            exporter.save_pickle("model", "m.pkl", scripted())
            folder = exporter._hermetic_torchscript._folder.name
            raise KeyError("stop")
    assert not os.path.exists(folder)
    assert not (tmp_path / "aborted.pt").exists()


@pytest.mark.parametrize("writer", ["hermetic", "torch"])
def test_load_policy_treats_torchscript_as_code(tmp_path, writer):
    module = scripted()
    path = export(writer, tmp_path / "policy.pt", {("model", "m.pkl"): module})
    with pytest.raises(UnsafePackageError) as refused:
        hermetic.PackageImporter(str(path), safe=True)
    assert refused.value.rule == "policy.torchscript"
    assert refused.value.record.startswith(".data/ts_code/")
    importer = hermetic.PackageImporter(str(path), policy=LoadPolicy(torchscript=True))
    assert torch.equal(importer.load_pickle("model", "m.pkl")(X), module(X))
    # Admitting TorchScript admits its loader, not the rest of torch.jit.
    with pytest.raises(UnsafePackageError, match="torch.jit._script.interface"):
        importer._policy.check_global("model/m.pkl", "torch.jit._script", "interface")


def test_loader_global_without_torchscript_is_still_dangerous(tmp_path):
    # A pickle naming the loader in an archive without TorchScript records.
    path = tmp_path / "fake.pt"
    with hermetic.PackageExporter(str(path)) as exporter:
        exporter.save_pickle("model", "m.pkl", torch.jit._script.unpackage_script_module)
    with pytest.raises(UnsafePackageError) as refused:
        hermetic.PackageImporter(str(path), safe=True)
    assert refused.value.rule == "policy.global"


@pytest.mark.parametrize("writer", ["hermetic", "torch"])
def test_scan_and_inspection_read_torchscript_archives(tmp_path, writer):
    path = export(writer, tmp_path / "scan.pt", {("model", "m.pkl"): [scripted(), torch.ones(2)]})
    findings = hermetic.scan(str(path)).findings
    assert any(f.record.startswith(".data/ts_code/") for f in findings)
    assert any(f.rule.endswith("unpackage_script_module") for f in findings)
    with hermetic.open(str(path)) as view:
        assert view.modules == []
        assert [t.storage for t in view.tensors("model/m.pkl")] == [".data/3.storage"]
        # TorchScript's own pickle is read too: the module's three tensors.
        assert len(view.tensors(".data/ts_code/0/data.pkl")) == 3


@pytest.mark.parametrize("writer", ["hermetic", "torch"])
def test_tensors_are_views_of_the_archive_mapping(tmp_path, writer):
    # The pickle's storages and the script module's are views of hermetic's
    # mapping of the archive: torch's reader reads only the code records.
    tensor = torch.arange(4096, dtype=torch.float32)
    path = export(writer, tmp_path / "zero_copy.pt",
                  {("model", "m.pkl"): {"script": scripted(), "tensor": tensor}})
    loaded = hermetic.PackageImporter(str(path)).load_pickle("model", "m.pkl")
    assert torch.equal(loaded["tensor"], tensor)
    assert torch.equal(loaded["script"](X), scripted()(X))
    ranges = mapped_ranges(path)
    for view in (loaded["tensor"], loaded["script"].linear.weight, loaded["script"].scale):
        assert any(start <= view.data_ptr() < end for start, end in ranges)
    # Copy-on-write: a write reaches neither the file nor another load.
    with torch.no_grad():
        loaded["script"].scale.fill_(-1)
    again = hermetic.PackageImporter(str(path)).load_pickle("model", "m.pkl")
    assert torch.equal(again["script"].scale, scripted().scale)


@pytest.mark.parametrize("reader", ["hermetic", "torch"])
def test_exporter_to_a_buffer_and_map_location(reader):
    module = scripted()
    buffer = io.BytesIO()
    with hermetic.PackageExporter(buffer) as exporter:
        exporter.save_pickle("model", "m.pkl", [module, module.scale])
    buffer.seek(0)
    loaded, scale = IMPLEMENTATIONS[reader].PackageImporter(buffer).load_pickle(
        "model", "m.pkl", map_location="cpu")
    assert torch.equal(loaded(X), module(X))
    assert loaded.scale.data_ptr() == scale.data_ptr()


def test_manifest_covers_torchscript_records(tmp_path):
    module = scripted()
    path = tmp_path / "manifest.pt"
    with hermetic.PackageExporter(str(path), manifest=True) as exporter:
        exporter.save_pickle("model", "m.pkl", module)
    loaded = hermetic.PackageImporter(str(path), verify=True).load_pickle("model", "m.pkl")
    assert torch.equal(loaded(X), module(X))
    # The same bytes with one byte of TorchScript code changed (same size,
    # CRC fixed up as a tamperer would): refused at open, before torch reads it.
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    tampered = tmp_path / "tampered.pt"
    with zipfile.ZipFile(tampered, "w") as out:
        for info, data in entries:
            if "/.data/ts_code/code/" in info.filename and info.filename.endswith(".py"):
                assert b"forward" in data
                data = data.replace(b"forward", b"fOrward", 1)
            out.writestr(info.filename, data)
    with pytest.raises(hermetic.errors.IntegrityError, match="ts_code"):
        hermetic.PackageImporter(str(tampered), verify=True)
