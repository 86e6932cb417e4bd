"""Family "pickles": malformed and resource-exhausting pickles reach the
unpickler only through the gate (_core.check_pickle), and whatever fails
names the archive and the record.

Each refused pickle is also a fuzz regression input
(fuzz/regressions/pickle_scan/), so the C++ scanner replays it in ctest.
"""

import pathlib
import pickle
import pickletools
import struct
import sys

import pytest

from hermetic import PackageExporter, PackageImporter, _core
from hermetic.errors import (
    CorruptArchiveError,
    CorruptPickleError,
    HermeticError,
    ResourceLimitError,
)

REGRESSIONS = pathlib.Path(__file__).parents[2] / "fuzz" / "regressions" / "pickle_scan"
HUGE = struct.pack("<Q", 1 << 62)


def _package(tmp_path, data, name="hostile.pt", fill=None):
    path = tmp_path / name
    with PackageExporter(str(path)) as exporter:
        exporter.save_binary("res", "x.pkl", data)
        if fill is not None:
            fill(exporter)
    return path


def _load(tmp_path, data):
    path = _package(tmp_path, data)
    return path, PackageImporter(str(path)).load_pickle("res", "x.pkl")


# (regression file, what the gate says): pickles whose unpickling would
# allocate far beyond their size, or that no pickler writes.
REFUSED = [
    ("memo_long_binput_2p28.pkl", "memo index 268435456 beyond the values made so far at byte 3"),
    ("memo_binput_beyond_values.pkl", "memo index 5 beyond the values made so far at byte 3"),
    ("memo_put_text_negative.pkl", "negative memo index at byte 1"),
    ("memo_put_text_huge.pkl",
     "memo index 999999999999999999 beyond the values made so far at byte 1"),
    ("binbytes8_huge.pkl", "truncated argument of opcode 0x8e at byte 2"),
    ("binunicode8_huge.pkl", "truncated argument of opcode 0x8d at byte 2"),
    ("bytearray8_huge.pkl", "truncated argument of opcode 0x96 at byte 2"),
    ("frame_huge.pkl", "frame beyond end at byte 2"),
    ("binbytes_huge.pkl", "truncated argument of opcode 0x42 at byte 2"),
    ("binstring_negative.pkl", "negative length at byte 0"),
    ("long4_huge.pkl", "truncated argument of opcode 0x8b at byte 2"),
    ("protocol_6.pkl", "unsupported protocol 6 at byte 0"),
    ("long_text_100k_digits.pkl", "integer text longer than the limit at byte 0"),
    ("int_text_100k_digits.pkl", "integer text longer than the limit at byte 0"),
    ("marks_nested_70000.pkl", "MARKs nested deeper than the limit at byte 65536"),
    ("ext1_zero.pkl", "extension code not positive at byte 0"),
    ("ext4_negative.pkl", "extension code not positive at byte 0"),
    ("global_not_utf8.pkl", "global name not UTF-8 at byte 0"),
    ("stack_global_surrogate.pkl", "global name not UTF-8 at byte 9"),
    ("get_missing.pkl", "memo index 0 missing at byte 2"),
    ("no_stop.pkl", "data ends without STOP at byte 3"),
]


@pytest.mark.parametrize("regression,what", REFUSED, ids=[r for r, _ in REFUSED])
def test_gate_refuses_before_unpickling(tmp_path, regression, what):
    data = (REGRESSIONS / regression).read_bytes()
    with pytest.raises(CorruptArchiveError) as info:
        _load(tmp_path, data)
    error = info.value
    assert isinstance(error, CorruptPickleError)
    assert isinstance(error, pickle.UnpicklingError)
    assert str(error) == f"archive {tmp_path / 'hostile.pt'}, record res/x.pkl: pickle {what}"


def test_every_regression_input_is_in_the_table():
    assert sorted(p.name for p in REGRESSIONS.iterdir()) == sorted(r for r, _ in REFUSED)


def test_stack_deeper_than_the_limit_is_refused(tmp_path):
    # 2^24 values at once: CPython's stack alone would take 128 MiB more.
    data = b"N" * (1 << 24) + b"N."
    with pytest.raises(CorruptPickleError, match=r"record res/x.pkl: pickle stack deeper than "
                       r"the limit at byte 16777216$"):
        _load(tmp_path, data)


def test_memo_pickle_never_reaches_the_unpickler(tmp_path, monkeypatch):
    # The unpickler would grow its memo to 2^29 slots for these 9 bytes.
    from hermetic import package_importer

    def refuse(*args, **kwargs):
        raise AssertionError("the unpickler saw a pickle the gate must refuse")

    monkeypatch.setattr(package_importer, "PackageUnpickler", refuse)
    with pytest.raises(CorruptPickleError, match="memo index 268435456"):
        _load(tmp_path, b"\x80\x02Nr\x00\x00\x00\x10.")


class _Node:
    def __init__(self, child=None):
        self.child = child
        self.shared = [1, 2]
        self.again = self.shared


def _objects():
    """Builtins only (a package holds nothing else here), with shared and
    nested references so that the memo is used."""
    chain = []
    for _ in range(50):
        chain = [chain]
    shared = {"k": "v"}
    return [
        None, True, -(2**200), 1.5, "héllo\n",
        (1,), (1, 2, 3, 4), {1, 2}, frozenset("ab"), list(range(3000)),
        {i: str(i) for i in range(1500)}, tuple(range(1200)), [shared, shared, (shared,)],
        "x" * 70000, complex(1, 2), range(3), slice(1, 2), chain,
    ]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_gate_accepts_what_picklers_write(tmp_path, protocol):
    # The C and the Python pickler, plain and through pickletools.optimize
    # (which drops unused memo entries and renumbers the rest), also on
    # objects of a class and bytes (globals the package would need).
    for objects in (_objects(), [_Node(_Node()), b"\x00" * 70000, bytearray(b"ba")]):
        for dumps in (pickle.dumps, pickle._dumps):
            data = dumps(objects, protocol=protocol)
            for variant in (data, pickletools.optimize(data)):
                _core.check_pickle(variant)
    objects = _objects()
    data = pickletools.optimize(pickle._dumps(objects, protocol=protocol))
    path = _package(tmp_path, data)
    loaded = PackageImporter(str(path)).load_pickle("res", "x.pkl")
    # Equality, not repr: a set's repr follows its table's history, and a
    # loaded set is built in another order than the one pickled.
    assert loaded == objects
    assert loaded[12][0] is loaded[12][1]


def test_gate_accepts_gaps_of_older_optimizers(tmp_path):
    # Entries 0..2 memoized, only 2 kept: Python 2's optimize left such gaps.
    data = b"\x80\x02]q\x00]q\x01]q\x02h\x02\x86."
    assert pickle.loads(data) == ([], [])
    assert _load(tmp_path, data)[1] == ([], [])


def test_check_pickle_reports_globals_persistent_ids_and_extensions():
    data = (b"\x80\x02cos\nsep\n\x8c\x07storage\x94\x8c\x01k\x86Q"
            b"\x8c\x0bcollections\x8c\x0bOrderedDict\x93NN\x93\x82\x05.")
    scan = _core.check_pickle(data)
    assert scan.protocol == 2
    assert scan.globals == [("os", "sep"), ("collections", "OrderedDict")]
    assert scan.unresolved_globals == 1
    assert scan.persistent_ids == 1
    assert scan.persistent_id_kinds == ["storage"]
    assert scan.unnamed_persistent_ids == 0
    assert scan.extension_codes == [5]


def test_persistent_id_kinds_that_are_not_utf8_come_back_escaped():
    scan = _core.check_pickle(b"\x8c\x01\xff\x85Q.")
    assert scan.persistent_id_kinds == ["\\xff"]


def test_python2_strings_as_stack_global_operands_are_named():
    # The unpickler decodes SHORT_BINSTRING to str, so this names os.system.
    assert _core.check_pickle(b"U\x02osU\x06system\x93.").globals == [("os", "system")]


# Pickles the gate lets through (it checks structure, not types) that the
# unpickler itself refuses: the error is named and chains the original.
UNPICKLER_REFUSES = [
    (b"\x80\x04NN\x93.", pickle.UnpicklingError),  # STACK_GLOBAL of None
    (b"\x8c\x01\xff.", UnicodeDecodeError),
    (b"Ixyz\n.", ValueError),
    (b"\x80\x05\x97.", pickle.UnpicklingError),  # NEXT_BUFFER, no buffers
    (b"cbuiltins\nint\n(K\x01K\x02K\x03tR.", TypeError),
    (b"N(\x88\x88\x88\x88u.", TypeError),  # SETITEMS on None
]


@pytest.mark.parametrize("data,original", UNPICKLER_REFUSES)
def test_unpickler_errors_are_named(tmp_path, data, original):
    _core.check_pickle(data)
    with pytest.raises(CorruptPickleError) as info:
        _load(tmp_path, data)
    assert str(info.value).startswith(
        f"archive {tmp_path / 'hostile.pt'}, record res/x.pkl: cannot unpickle: ")
    assert isinstance(info.value.__cause__, original)


def test_memory_error_of_the_unpickler_is_a_resource_limit_error(tmp_path):
    # bytearray(2**62), called by REDUCE: the allocation fails at once.
    data = b"cbuiltins\nbytearray\n(\x8a\x08" + (1 << 62).to_bytes(8, "little") + b"tR."
    with pytest.raises(ResourceLimitError, match=r"record res/x.pkl: cannot unpickle: "
                       r"MemoryError") as info:
        _load(tmp_path, data)
    assert isinstance(info.value, MemoryError)
    assert isinstance(info.value.__cause__, MemoryError)


@pytest.mark.parametrize("saved_id,what", [
    (b"K\x01", "persistent id must be a non-empty tuple, got 1"),
    (b"\x8c\x05weird\x85", "but got 'weird'"),
    (b"C\x01\xff\x85", "persistent id kind b'\\\\xff' is not ASCII"),
    (b"\x8c\x07storage\x85", "storage persistent id must have 5 fields, got 1"),
    (b"(\x8c\x0ereduce_package]NNt", "reduce_package id must be an int or str, got list"),
    (b"\x8c\x0ereduce_packagecbuiltins\nprint\nK\x05\x87",
     "needs a callable and a tuple, got builtin_function_or_method and int"),
])
def test_unknown_persistent_ids_are_named(tmp_path, saved_id, what):
    with pytest.raises(CorruptPickleError, match="record res/x.pkl: .*" + what):
        _load(tmp_path, b"\x80\x02" + saved_id + b"Q.")


def test_exceptions_of_packaged_code_propagate_unchanged(tmp_path):
    def fill(exporter):
        exporter.save_source_string("mine", "class Boom:\n"
                                    "    def __setstate__(self, state):\n"
                                    "        raise ValueError('from the package')\n")
        exporter.save_source_string("fails", "raise KeyError('at import')\n")

    setstate = b"\x80\x02cmine\nBoom\n)\x81}b."
    path = _package(tmp_path, setstate, fill=fill)
    importer = PackageImporter(str(path))
    with pytest.raises(ValueError, match="from the package") as info:
        importer.load_pickle("res", "x.pkl")
    assert not isinstance(info.value, HermeticError)

    path = _package(tmp_path, b"\x80\x02cfails\nX\n.", name="fails.pt", fill=fill)
    with pytest.raises(KeyError, match="at import") as info:
        PackageImporter(str(path)).load_pickle("res", "x.pkl")
    assert not isinstance(info.value, HermeticError)


def test_gate_runs_on_pickles_saved_by_the_exporter(tmp_path):
    # The end-to-end path: a normal package still loads (and sys is extern).
    path = tmp_path / "ok.pt"
    with PackageExporter(str(path)) as exporter:
        exporter.extern("sys")
        exporter.save_pickle("res", "x.pkl", {"a": [1, 2], "b": sys.version_info[:2]})
    assert PackageImporter(str(path)).load_pickle("res", "x.pkl") == {
        "a": [1, 2], "b": sys.version_info[:2]}
