"""Load policies (PackageImporter(policy=..., safe=True)) and weights-only
loading (load_weights): what they refuse, with which rule and record, that
nothing of a refused package has run, and that benign packages load as
they do without a policy."""

import os
import pickle

import pytest

import hermetic
from hermetic import _core
from hermetic import LoadPolicy, PackageExporter, PackageImporter, UnsafePackageError
from hermetic.errors import HermeticError


def short_unicode(text):
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def package(path, fill):
    with PackageExporter(str(path)) as exporter:
        fill(exporter)
    return path


def raw_pickle_package(tmp_path, data, name="p.pt", sources=None):
    """A package holding pickle bytes `data` as p/x.pkl, and `sources`
    ({module: source}) interned."""

    def fill(exporter):
        for module, source in (sources or {}).items():
            exporter.save_source_string(module, source)
        exporter.save_binary("p", "x.pkl", data)

    return package(tmp_path / name, fill)


def refusal(path, **kwargs):
    with pytest.raises(UnsafePackageError) as info:
        PackageImporter(str(path), **kwargs)
    return info.value


def test_unsafe_package_error_is_a_hermetic_error_and_an_unpickling_error():
    assert issubclass(UnsafePackageError, HermeticError)
    assert issubclass(UnsafePackageError, pickle.UnpicklingError)


# ----------------------------------------------------------------------
# Benign packages load under the default policy exactly as without it


def test_nn_module_with_its_code_loads_safely(tmp_path, source_tree):
    torch = pytest.importorskip("torch")
    source_tree({"net_pkg/__init__.py": (
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(3, 2)\n"
        "    def forward(self, x):\n"
        "        return torch.relu(self.fc(x))\n")})
    import net_pkg

    model = net_pkg.Net()

    def fill(exporter):
        exporter.intern("net_pkg.**")
        exporter.save_pickle("model", "model.pkl", model)

    path = package(tmp_path / "net.pt", fill)
    x = torch.ones(1, 3)
    loaded = PackageImporter(str(path), safe=True).load_pickle("model", "model.pkl")
    plain = PackageImporter(str(path)).load_pickle("model", "model.pkl")
    assert torch.equal(loaded(x), model(x))
    assert torch.equal(loaded(x), plain(x))


def test_plain_data_and_numpy_load_safely(tmp_path):
    np = pytest.importorskip("numpy")
    import collections
    import datetime

    value = {"a": [1, 2.5, "x", b"y", None, True], "s": {1, 2}, "f": frozenset([3]),
             "o": collections.OrderedDict(k=1), "d": datetime.date(2026, 12, 2),
             "n": np.arange(4), "dt": np.dtype("float32")}
    path = package(tmp_path / "data.pt", lambda e: (e.extern("numpy.**"),
                                                   e.save_pickle("p", "v.pkl", value)))
    loaded = PackageImporter(str(path), safe=True).load_pickle("p", "v.pkl")
    assert loaded.keys() == value.keys()
    assert (loaded["n"] == value["n"]).all()
    assert {k: v for k, v in loaded.items() if k != "n"} == {
        k: v for k, v in value.items() if k != "n"}


def test_torch_213_reference_package_loads_safely():
    torch = pytest.importorskip("torch")
    reference = os.path.join(os.path.dirname(__file__), "..", "data", "torch213_package.pt")
    if not os.path.exists(reference):
        pytest.skip("no reference package")
    safe = PackageImporter(reference, safe=True)
    plain = PackageImporter(reference)
    for record in safe.zip_reader.get_all_records():
        if record.endswith(".pkl"):
            package_name, _, resource = record.rpartition("/")
            package_name = package_name.replace("/", ".")
            a = safe.load_pickle(package_name, resource)
            b = plain.load_pickle(package_name, resource)
            assert type(a).__name__ == type(b).__name__
    del torch


# ----------------------------------------------------------------------
# Pickle globals


def test_os_system_is_refused_at_open_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    data = b"cposix\nsystem\n(" + b"V" + f"touch {marker}".encode() + b"\ntR."
    path = raw_pickle_package(tmp_path, data)
    error = refusal(path, safe=True)
    assert error.rule == "policy.global"
    assert error.record == "p/x.pkl"
    assert error.subject == "global posix.system"
    assert "p.pt" in str(error) and "p/x.pkl" in str(error)
    assert not marker.exists()


def test_a_host_class_off_the_list_is_refused_until_allowed(tmp_path):
    import pathlib

    path = package(tmp_path / "path.pt",
                   lambda e: e.save_pickle("p", "x.pkl", pathlib.PurePosixPath("/a")))
    error = refusal(path, safe=True)
    assert (error.rule, error.subject) == ("policy.global", "global pathlib.PurePosixPath")
    policy = LoadPolicy(allowed_globals=["pathlib.PurePosixPath"])
    loaded = PackageImporter(str(path), policy=policy).load_pickle("p", "x.pkl")
    assert loaded == pathlib.PurePosixPath("/a")
    # A module wildcard admits every plain name of the module.
    assert PackageImporter(str(path), policy=LoadPolicy(allowed_globals="pathlib.*")).load_pickle(
        "p", "x.pkl") == pathlib.PurePosixPath("/a")


@pytest.mark.parametrize("module, name", [
    ("torch.nn.modules.linear", "torch.load"),  # an allowed module, walked past
    ("collections", "OrderedDict.__class__"),
])
def test_dotted_names_do_not_ride_on_an_allowed_module(tmp_path, module, name):
    data = (b"\x80\x04" + short_unicode(module) + short_unicode(name) + b"\x93)R.")
    error = refusal(raw_pickle_package(tmp_path, data), safe=True)
    assert error.rule == "policy.global"
    assert error.subject == f"global {module}.{name}"


def test_a_dotted_name_through_a_packaged_module_to_os_system_is_refused(tmp_path):
    marker = tmp_path / "ran"
    data = (b"\x80\x04" + short_unicode("helpers") + short_unicode("os.system")
            + b"\x93" + short_unicode(f"touch {marker}") + b"\x85R.")
    path = raw_pickle_package(tmp_path, data, sources={"helpers": "import os\n"})
    error = refusal(path, safe=True)
    assert error.rule == "policy.global"
    assert "a callable that runs commands" in str(error)
    assert not marker.exists()


def test_a_packaged_reexport_of_a_host_function_is_refused_when_resolved(tmp_path):
    # The source scan has nothing to say about getcwd; the pickle names it
    # through the packaged module, which is allowed statically. Resolving
    # it shows what it is.
    data = b"\x80\x04" + short_unicode("helpers") + short_unicode("here") + b"\x93)R."
    path = raw_pickle_package(
        tmp_path, data, sources={"helpers": "from os import getcwd as here\n"})
    importer = PackageImporter(str(path), safe=True)
    with pytest.raises(UnsafePackageError) as info:
        importer.load_pickle("p", "x.pkl")
    assert info.value.rule == "policy.global.reexport"
    assert "posix.getcwd" in str(info.value)


def test_a_class_the_package_defines_passes_the_resolved_check(tmp_path):
    data = (b"\x80\x04" + short_unicode("helpers") + short_unicode("Point") + b"\x93"
            + b"K\x01K\x02\x86R.")
    path = raw_pickle_package(tmp_path, data, sources={"helpers": (
        "import collections\n"
        "Point = collections.namedtuple('Point', 'x y')\n")})
    loaded = PackageImporter(str(path), safe=True).load_pickle("p", "x.pkl")
    assert tuple(loaded) == (1, 2)


@pytest.mark.parametrize("data, rule", [
    # STACK_GLOBAL over a list: the scan cannot name the module.
    (b"\x80\x04]" + short_unicode("system") + b"\x93.", "policy.global.unresolved"),
    # EXT1: whatever global the host registered under code 5.
    (b"\x80\x02\x82\x05)R.", "policy.global.extension_code"),
    # A persistent id of a kind PackageExporter never writes.
    (b"\x80\x02" + short_unicode("evil") + b"\x85Q.", "policy.persistent_id"),
])
def test_globals_and_ids_the_scan_cannot_name_are_refused(tmp_path, data, rule):
    assert refusal(raw_pickle_package(tmp_path, data), safe=True).rule == rule


def test_load_pickle_checks_the_bytes_it_unpickles(tmp_path):
    # A record that is not *.pkl escapes the open-time pass over pickles;
    # loading it still goes through the same check.
    def fill(exporter):
        exporter.save_binary("p", "x.bin", b"cposix\nsystem\n(Vtrue\ntR.")

    importer = PackageImporter(str(package(tmp_path / "hidden.pt", fill)),
                               policy=LoadPolicy(refuse=None))
    with pytest.raises(UnsafePackageError) as info:
        importer.load_pickle("p", "x.bin")
    assert (info.value.rule, info.value.record) == ("policy.global", "p/x.bin")


# ----------------------------------------------------------------------
# Externs and the scan's findings


def test_an_extern_off_the_host_allow_list_is_refused(tmp_path, source_tree):
    source_tree({"uses_socket.py": "import socket\nNAME = 'x'\n"})

    def fill(exporter):
        exporter.extern("socket")
        exporter.intern("uses_socket")
        exporter.save_pickle("p", "x.pkl", {"a": 1})
        exporter.save_module("uses_socket")

    path = package(tmp_path / "sock.pt", fill)
    error = refusal(path, safe=True)
    assert (error.rule, error.record, error.subject) == (
        "policy.extern", ".data/extern_modules", "external module socket")
    importer = PackageImporter(str(path), policy=LoadPolicy(allowed_externs=["socket"]))
    assert importer.import_module("uses_socket").NAME == "x"


def test_standard_library_and_torch_externs_are_allowed(tmp_path, source_tree):
    source_tree({"std_user.py": "import json, os.path, collections\nX = json.dumps([1])\n"})

    def fill(exporter):
        exporter.extern(["json", "os", "os.path", "collections"])
        exporter.save_module("std_user")

    importer = PackageImporter(str(package(tmp_path / "std.pt", fill)), safe=True)
    assert importer.import_module("std_user").X == "[1]"


def test_risky_packaged_source_is_refused_with_its_line(tmp_path):
    marker = tmp_path / "ran"

    def fill(exporter):
        exporter.extern("os")
        exporter.save_source_string("risky", f"import os\n\nos.system('touch {marker}')\n")

    path = package(tmp_path / "risky.pt", fill)
    error = refusal(path, safe=True)
    assert error.rule == "source.os.system"
    assert error.record == "risky.py"
    assert "record risky.py (position 3)" in str(error)
    # Accepting the rule lets the package open; importing it would run it.
    PackageImporter(str(path), policy=LoadPolicy(accept=["source.os.*"]))
    # refuse=None ignores the scan (the allow-lists still apply).
    PackageImporter(str(path), policy=LoadPolicy(refuse=None))
    assert not marker.exists()


def test_bytecode_without_source_is_refused(tmp_path):
    path = str(tmp_path / "bc.pt")
    writer = _core.ArchiveWriter(path)
    writer.write_record(".data/extern_modules", b"\n")
    writer.write_record(".data/bytecode/orphan.cpython-311.pyc", b"\0" * 32)
    writer.finish()
    assert refusal(path, safe=True).rule == "bytecode.orphan"


# ----------------------------------------------------------------------
# Arguments


def test_policy_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown severity"):
        LoadPolicy(refuse="severe")
    with pytest.raises(TypeError, match="not both"):
        PackageImporter(b"", policy=LoadPolicy(), safe=True)
    with pytest.raises(TypeError, match="LoadPolicy"):
        PackageImporter(b"", policy={"refuse": "high"})


# ----------------------------------------------------------------------
# Weights only


def test_load_weights_returns_a_state_dict_equal_to_the_saved_one(tmp_path):
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    state = module.state_dict()
    path = package(tmp_path / "sd.pt", lambda e: e.save_pickle("m", "sd.pkl", state))
    loaded = hermetic.load_weights(str(path), "m", "sd.pkl")
    assert list(loaded) == list(state)
    for key in state:
        assert torch.equal(loaded[key], state[key])
    assert loaded._metadata == state._metadata


def test_load_weights_reads_a_torch_package_state_dict(torch_export):
    torch = pytest.importorskip("torch")
    state = torch.nn.Linear(2, 2).state_dict()
    path = torch_export(lambda e: e.save_pickle("m", "sd.pkl", state))
    loaded = hermetic.load_weights(str(path), "m", "sd.pkl")
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_load_weights_refuses_packaged_classes_without_importing_them(tmp_path):
    marker = tmp_path / "imported"
    data = b"\x80\x04" + short_unicode("model_code") + short_unicode("Net") + b"\x93)R."
    path = raw_pickle_package(tmp_path, data, sources={
        "model_code": f"open({str(marker)!r}, 'w').close()\nclass Net: pass\n"})
    with pytest.raises(UnsafePackageError) as info:
        hermetic.load_weights(str(path), "p", "x.pkl")
    assert (info.value.rule, info.value.subject) == ("weights.global", "global model_code.Net")
    assert not marker.exists()


def test_load_weights_never_imports_the_package_it_reads_from(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "imported"
    state = torch.nn.Linear(2, 2).state_dict()

    def fill(exporter):
        exporter.save_source_string("model", f"open({str(marker)!r}, 'w').close()\n",
                                    is_package=True)
        exporter.save_pickle("model", "sd.pkl", state)

    path = package(tmp_path / "pkg.pt", fill)
    loaded = hermetic.load_weights(str(path), "model", "sd.pkl")
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert not marker.exists()


def test_load_weights_takes_its_globals_from_the_host_not_the_archive(tmp_path):
    # The archive carries its own "collections"; a state_dict naming
    # collections.OrderedDict must get the host's class and run none of it.
    marker = tmp_path / "imported"
    data = pickle.dumps(__import__("collections").OrderedDict(a=1), protocol=3)
    path = raw_pickle_package(tmp_path, data, sources={
        "collections": f"open({str(marker)!r}, 'w').close()\nOrderedDict = dict\n"})
    loaded = hermetic.load_weights(str(path), "p", "x.pkl")
    assert type(loaded) is __import__("collections").OrderedDict
    assert not marker.exists()


@pytest.mark.parametrize("data, rule", [
    (b"\x80\x02" + short_unicode("reduce_package") + b"cposix\nsystem\n)\x87Q.",
     "weights.global"),
    (b"\x80\x02" + short_unicode("reduce_package") + short_unicode("x") + b"\x86Q.",
     "weights.persistent_id"),
    (b"\x80\x04]" + short_unicode("x") + b"\x93.", "weights.global"),
    (b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n)R.", "weights.global"),
])
def test_load_weights_refuses_code_and_other_persistent_ids(tmp_path, data, rule):
    path = raw_pickle_package(tmp_path, data)
    with pytest.raises(UnsafePackageError) as info:
        hermetic.load_weights(str(path), "p", "x.pkl")
    assert info.value.rule == rule
    assert info.value.record == "p/x.pkl"


def test_load_weights_codecs_encode_is_latin1_only(tmp_path):
    good = pickle.dumps(b"\xff\x00", protocol=2)  # protocol 2 bytes: _codecs.encode
    assert hermetic.load_weights(str(raw_pickle_package(tmp_path, good)), "p", "x.pkl") == (
        b"\xff\x00")
    bad = b"\x80\x02c_codecs\nencode\n" + short_unicode("x") + short_unicode("rot13") + b"\x86R."
    with pytest.raises(UnsafePackageError, match="rot13"):
        hermetic.load_weights(str(raw_pickle_package(tmp_path, bad, name="bad.pt")), "p",
                              "x.pkl")


@pytest.mark.parametrize("form", ["path", "folder", "bytes", "file"])
def test_every_way_of_opening_is_checked(tmp_path, form):
    import zipfile

    path = raw_pickle_package(tmp_path, b"cposix\nsystem\n(Vtrue\ntR.")
    if form == "folder":
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp_path / "unzipped")
        source = str(tmp_path / "unzipped" / "p")
    elif form == "bytes":
        source = path.read_bytes()
    elif form == "file":
        source = open(path, "rb")
    else:
        source = str(path)
    with pytest.raises(UnsafePackageError) as info:
        PackageImporter(source, safe=True)
    assert (info.value.rule, info.value.record) == ("policy.global", "p/x.pkl")
    if form == "file":
        source.close()
