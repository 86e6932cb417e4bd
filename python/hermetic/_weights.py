"""Weights-only loading: tensors and plain containers out of a package's
pickle, with no packaged code run and nothing imported from the package
(PackageImporter.load_weights, hermetic.load_weights).

The pickle's globals must all be in WEIGHTS_GLOBALS, checked on its bytes
before unpickling (the C++ gate's scan) and again as each is resolved, from
the host's own modules, never from the archive (which may hold a module
named collections or torch). Persistent ids must be tensor storages, which
are mapped zero-copy as load_pickle maps them.

Compared with torch.load(weights_only=True) of torch 2.13 this admits a
subset: not torch's legacy tensor classes (torch.FloatTensor, ...),
torch._tensor._rebuild_from_type_v2 (tensor subclasses), the quantized,
sparse, nested and meta rebuilds, torch.serialization._get_layout or the
quantization schemes; and it refuses tensors that carry backward hooks. It
adds the pickle gate (bounded lengths, memo and nesting) before unpickling.
"""

from __future__ import annotations

import importlib
import sys

from ._package_unpickler import PackageUnpickler, python2_name
from .errors import UnsafePackageError

# Exact "module.name" globals; no patterns.
_PLAIN = (
    "collections.OrderedDict",
    "collections.Counter",
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytearray",
    "builtins.complex",
    "_codecs.encode",
)
_TORCH = (
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.nn.parameter.Parameter",
    "torch.Size",
    "torch.device",
    "torch.UntypedStorage",
    *(f"torch.{kind}Storage" for kind in (
        "Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte",
        "Bool", "ComplexDouble", "ComplexFloat", "QInt8", "QUInt8", "QInt32",
        "QUInt4x2", "QUInt2x4")),
    *(f"torch.{dtype}" for dtype in (
        "float64", "float32", "float16", "bfloat16", "complex128", "complex64",
        "int64", "int32", "int16", "int8", "uint8", "bool", "uint16", "uint32",
        "uint64", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")),
)
WEIGHTS_GLOBALS = frozenset(_PLAIN + _TORCH)


def _no_hooks(function, hooks_at):
    # Backward hooks are callables the tensor would run later; a state_dict
    # has none.
    def rebuild(*args):
        if len(args) > hooks_at and args[hooks_at]:
            raise UnsafePackageError(
                "a tensor with backward hooks refused by load_weights (rule weights.hooks)",
                subject="backward hooks", rule="weights.hooks")
        return function(*args)

    return rebuild


def _latin1_encode(text, encoding="latin1"):
    # What protocol 2 pickles of bytes call; no other codec.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise UnsafePackageError(
            f"_codecs.encode with {type(text).__name__} and {encoding!r} refused by "
            "load_weights (rule weights.global)", subject="_codecs.encode", rule="weights.global")
    return text.encode("latin1")


class WeightsUnpickler(PackageUnpickler):
    """A PackageUnpickler whose globals are WEIGHTS_GLOBALS only, resolved
    from the host, and whose persistent ids are storages only."""

    def _refuse(self, subject, rule, why):
        archive = self._importer.zip_reader.archive.name
        return UnsafePackageError(
            f"archive {archive}, record {self._record}: {subject} refused by load_weights "
            f"(rule {rule}): {why}; nothing of the package has run",
            record=self._record, subject=subject, rule=rule)

    def check(self, scan):
        """Refuses, before unpickling, what the gate's scan of the bytes shows."""
        if scan.unresolved_globals or scan.extension_codes:
            raise self._refuse("a computed global", "weights.global",
                               "globals must be named plainly")
        for module, name in scan.globals:
            if scan.protocol < 3:
                module, name = python2_name(module, name)
            if f"{module}.{name}" not in WEIGHTS_GLOBALS:
                raise self._refuse(f"global {module}.{name}", "weights.global",
                                   "not a tensor, storage or plain container constructor")
        if scan.unnamed_persistent_ids or any(k != "storage" for k in scan.persistent_id_kinds):
            raise self._refuse("a persistent id", "weights.persistent_id",
                               "only tensor storages may be persistent ids")

    def find_class(self, module, name):
        if self._map_python2_names:
            module, name = python2_name(module, name)
        full = f"{module}.{name}"
        if full not in WEIGHTS_GLOBALS:
            raise self._refuse(f"global {full}", "weights.global",
                               "not a tensor, storage or plain container constructor")
        if module == "_codecs":
            return _latin1_encode
        if module.partition(".")[0] == "torch" and "torch" not in sys.modules:
            try:
                import torch  # noqa: F401
            except ImportError:
                raise ModuleNotFoundError(
                    f"record {self._record} holds tensors: loading them needs torch",
                    name="torch") from None
        obj = getattr(importlib.import_module(module), name)
        if full == "torch._utils._rebuild_tensor_v2":
            return _no_hooks(self._tensors().rebuild(obj), 5)
        if module == "torch._utils":
            return _no_hooks(self._tensors().rebuild(obj), 2)
        return obj

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] == "storage"):
            raise self._refuse("a persistent id", "weights.persistent_id",
                               "only tensor storages may be persistent ids")
        return super().persistent_load(saved_id)
