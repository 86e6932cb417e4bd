"""Parser differentials (issue 9): hermetic against Python's zipfile and
torch's PyTorchFileReader (miniz), case by case.

The rule: an archive that two mainstream readers could read differently
must be refused. For every case each reader's view is computed (records
without the top-level folder -> bytes, or the exception it raised; see
hostile_zip.View). A case passes when hermetic refuses with a HermeticError
naming the archive, or when hermetic accepts and every other reader accepts
and sees exactly the same records and bytes. Cases marked "refuse" are the
layouts issue 9 names (more than one end-record candidate, a comment holding
an end-record signature, bytes no record owns before or between records, a
central directory that does not match the local headers): hermetic must
refuse them even where today's readers happen to agree. Unmutated bases,
written by hermetic, torch.package and zipfile, must be accepted with
identical contents.

What the other readers do, from their sources (zipfile 3.11, miniz 3 as
built into torch 2.13), drives the expectations below:
* both take the *last* end-record signature in the tail with 22 bytes after
  it, whatever its comment length says;
* zipfile ignores the entry count and reads the central directory by size,
  assumes it ends where the end record (or zip64 end record) starts and
  shifts every offset by the difference (prepended data); miniz trusts the
  count and the offsets as written;
* both take method, sizes and CRC from the central directory and skip the
  local header's name and extra by the local lengths; zipfile compares the
  local name with the central one, miniz does not;
* zipfile checks CRC-32, torch's miniz does not (built without reader CRC
  checks); zipfile decodes names without flag bit 11 as cp437, torch as
  UTF-8; zipfile cuts names at NUL in namelist, torch cuts every name at
  NUL and at 511 bytes, and looks records up case-insensitively;
* zipfile reads the zip64 end record at a fixed distance before the
  locator, miniz where the locator points; miniz takes an entry with the
  MS-DOS directory attribute for a directory and returns an unwritten buffer
  for it.

Every case is also read through a seekable file object (the reader's
source mode, records fetched with seek/readinto): it must see exactly what
the buffer reader sees, refusals and their messages included
(file_object_disagrees).

Families: bases (legitimate, accepted), end of central directory and layout
(mutations applied to every base), structure, names, extra fields,
compression (hand-built), every header byte flipped, and two consistency
checks of what hermetic accepts: its CLI (verify, cat) agrees with its
reader, and Info-ZIP's unzip (where installed) reads the same bytes.

hermetic and torch run in a child process (hostile_zip.in_worker), so a
crash is a verdict, not the end of the run; zipfile is pure Python.
"""

import io
import os
import pickle
import shutil
import struct
import subprocess
import unicodedata
import zipfile
import zlib
from pathlib import Path

import pytest

import hostile_zip as hz
from hostile_zip import CENTRAL, EOCD, LOCATOR, ZIP64_END, Entry as E

try:
    import torch
except ImportError:  # zipfile comparisons still run
    torch = None

from hermetic import _core

DATA = Path(__file__).resolve().parent.parent / "data"
P = "archive/"
PICKLE = pickle.dumps({"weights": [1.5, 2.5], "name": "model"}, protocol=3)
SOURCE = b"def forward(x):\n    return x * 2\n"
BLOB = bytes(range(256)) * 3
TEXT = b"hello world, " * 40


def readers(path):
    """The views of zipfile and (if installed) torch of the archive at path."""
    views = {"zipfile": hz.zipfile_view(str(path))}
    if torch is not None:
        views["torch"] = hz.in_worker("torch_view", str(path))
    return views


def check(tmp_path, data, expect="judge", name="case.pt"):
    """Asserts issue 9's rule on `data` (see hostile_zip.judge), reading it
    through hermetic both from a path and from a buffer."""
    path = tmp_path / name
    path.write_bytes(data)
    hermetic = hz.in_worker("hermetic_view", str(path))
    others = readers(path)
    problems = hz.judge(path, hermetic, others, expect)
    buffered = hz.in_worker("hermetic_view", data)
    if buffered.status in ("crash", "hang"):
        problems.append(f"hermetic from a buffer: {buffered.short()}")
    elif buffered.status == "refused" and not buffered.hermetic_error:
        problems.append(f"hermetic from a buffer raised a non-HermeticError: "
                        f"{buffered.short()}")
    elif buffered.status == "refused" and "<buffer>" not in buffered.message:
        problems.append(f"hermetic's error for a buffer does not name it "
                        f"<buffer>: {buffered.message[:300]}")
    elif (buffered.status, buffered.records) != (hermetic.status,
                                                  hermetic.records):
        problems.append(f"hermetic reads the path ({hermetic.short()}) and "
                        f"the buffer ({buffered.short()}) differently")
    problems += file_object_disagrees(data, buffered)
    if problems:
        seen = "\n".join(f"  {k}: {v.short()}" for k, v in
                         {"hermetic": hermetic, **others}.items())
        pytest.fail("\n".join(problems) + "\nwhat each reader saw:\n" + seen)
    return hermetic, others


def file_object_disagrees(data, buffered):
    """The reader over a seekable file object (read through seek/readinto,
    not mapped) must see exactly what the buffer reader sees: the same
    records, or the same refusal with the same message."""
    streamed = hz.in_worker("hermetic_file_view", data)
    same = (streamed.status, streamed.records, streamed.error_type,
            streamed.message.replace("<file>", "<buffer>")) == (
        buffered.status, buffered.records, buffered.error_type,
        buffered.message)
    if same:
        return []
    return [f"hermetic reads the buffer ({buffered.short()}) and a file "
            f"object over it ({streamed.short()}) differently"]


# ---------------------------------------------------------------------------
# Base archives: legitimate, each must be accepted


def builder_entries():
    return [E(P + ".data/version", b"6\n"),
            E(P + "model/model.pkl", PICKLE),
            E(P + "code/mod.py", SOURCE),
            E(P + "data/blob.bin", BLOB),
            E(P + "data/text.txt", TEXT, method=hz.DEFLATED),
            E(P + "empty", b"")]


def base_builder():
    return hz.build(builder_entries()).data


def base_builder_zip64():
    return hz.build(builder_entries(), zip64_end=True).data


def base_builder_descriptors():
    entries = builder_entries()
    for e in entries:
        e.flags |= hz.FLAG_DESCRIPTOR
    return hz.build(entries).data


def base_hermetic_writer():
    sink = io.BytesIO()
    writer = _core.ArchiveWriter(sink)
    writer.write_record("model/model.pkl", PICKLE)
    writer.write_record("code/mod.py", SOURCE)
    writer.write_record("data/blob.bin", BLOB)
    writer.write_record("empty", b"")
    writer.begin_record("data/streamed.bin")
    writer.append(TEXT)
    writer.append(BLOB)
    writer.end_record()
    writer.finish()
    return sink.getvalue()


def base_hermetic_writer_deflated():
    # Deflated (libdeflate) records between stored ones, as compress=True
    # writes them: every reader must inflate the same bytes.
    sink = io.BytesIO()
    writer = _core.ArchiveWriter(sink, deflate_level=_core.DEFAULT_DEFLATE_LEVEL)
    writer.write_record("model/model.pkl", PICKLE * 4, compress=True)
    writer.write_record("data/blob.bin", BLOB)
    writer.write_record("code/mod.py", SOURCE * 8, compress=True)
    writer.write_record("data/text.txt", TEXT, compress=True)
    writer.write_record("data/tiny.txt", b"ab", compress=True)  # stays stored
    writer.write_record("empty", b"", compress=True)
    writer.finish()
    return sink.getvalue()


def base_hermetic_exporter(compress=False):
    from hermetic import PackageExporter
    sink = io.BytesIO()
    with PackageExporter(sink, compress=compress) as exporter:
        exporter.save_source_string("mod", SOURCE.decode())
        exporter.save_pickle("res", "obj.pkl", {"a": [1, 2, 3]})
        exporter.save_text("res", "notes.txt", "some text")
        exporter.save_binary("res", "blob.bin", BLOB)
    return sink.getvalue()


def base_torch_exporter():
    from torch.package import PackageExporter
    sink = io.BytesIO()
    with PackageExporter(sink) as exporter:
        exporter.save_source_string("mod", SOURCE.decode())
        exporter.save_pickle("res", "obj.pkl", {"a": [1, 2, 3]})
        exporter.save_pickle("res", "t.pkl", torch.arange(6.0))
        exporter.save_text("res", "notes.txt", "some text")
    return sink.getvalue()


def _nested_zip():
    """A small zip, as a package stores a torch.save file or another
    package as a binary resource: its end-record signature lands inside a
    record near the end of the outer archive."""
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as zf:
        zf.writestr("weights/data.pkl", PICKLE)
    return sink.getvalue()


def base_hermetic_exporter_nested_zip():
    from hermetic import PackageExporter
    sink = io.BytesIO()
    with PackageExporter(sink) as exporter:
        exporter.save_binary("res", "weights.pt", _nested_zip())
        exporter.save_text("res", "notes.txt", "some text")
    return sink.getvalue()


def base_torch_exporter_nested_zip():
    from torch.package import PackageExporter
    inner = io.BytesIO()
    torch.save({"w": torch.ones(3)}, inner)
    sink = io.BytesIO()
    with PackageExporter(sink) as exporter:
        exporter.save_binary("res", "weights.pt", inner.getvalue())
        exporter.save_text("res", "notes.txt", "some text")
    return sink.getvalue()


def base_torch_save():
    sink = io.BytesIO()
    torch.save({"w": torch.arange(4.0), "n": 3}, sink)
    return sink.getvalue()


def base_torch_jit_save():
    sink = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), sink)
    return sink.getvalue()


def base_builder_crc_is_end_signature():
    # A record whose CRC-32 is 0x06054B50: the central directory (in the
    # last 64 KiB) then holds the bytes of an end-record signature.
    entries = builder_entries()
    data = BLOB + hz.forge_crc(BLOB, hz.EOCD_SIG)
    entries[3] = E(P + "data/blob.bin", data)
    return hz.build(entries).data


def base_zipfile_streamed(force_zip64=False):
    return hz.zipfile_streamed(
        ((P + name, data) for name, data in ((".data/version", b"6\n"), ("code/mod.py", SOURCE),
                                             ("data/blob.bin", BLOB), ("empty", b""))),
        force_zip64)


def _tool_base(*command):
    """An archive that an external zip tool writes of a package folder, run
    in a scratch folder holding `archive/` (skips if the tool is missing)."""
    import tempfile
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name, data in ((".data/version", b"6\n"), ("code/mod.py", SOURCE),
                           ("data/blob.bin", BLOB), ("data/text.txt", TEXT),
                           ("model/model.pkl", PICKLE), ("empty", b"")):
            target = root / "archive" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        subprocess.run([*command, "out.zip", "archive"], cwd=root, check=True,
                       capture_output=True, timeout=120)
        return (root / "out.zip").read_bytes()


def base_torch213_package():
    return (DATA / "torch213_package.pt").read_bytes()


def _zipfile_base(method, force_zip64=False, directories=False):
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", method) as zf:
        if directories:
            zf.writestr(P, b"")
            zf.writestr(P + "data/", b"")
        for name, data in ((".data/version", b"6\n"), ("model/model.pkl",
                           PICKLE), ("code/mod.py", SOURCE),
                           ("data/blob.bin", BLOB), ("data/text.txt", TEXT),
                           ("empty", b"")):
            info = zipfile.ZipInfo(P + name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = method
            with zf.open(info, "w", force_zip64=force_zip64) as out:
                out.write(data)
    return sink.getvalue()


BASES = {
    "builder": base_builder,
    "builder_zip64": base_builder_zip64,
    "builder_descriptors": base_builder_descriptors,
    "hermetic_writer": base_hermetic_writer,
    "hermetic_exporter": base_hermetic_exporter,
    "hermetic_writer_deflated": base_hermetic_writer_deflated,
    "hermetic_exporter_compressed": lambda: base_hermetic_exporter(compress=True),
    "torch_exporter": base_torch_exporter,
    "torch213_package": base_torch213_package,
    "zipfile_stored": lambda: _zipfile_base(zipfile.ZIP_STORED),
    "zipfile_deflated": lambda: _zipfile_base(zipfile.ZIP_DEFLATED),
    "zipfile_zip64": lambda: _zipfile_base(zipfile.ZIP_DEFLATED, True),
    "zipfile_directories": lambda: _zipfile_base(zipfile.ZIP_STORED,
                                                 directories=True),
    "zipfile_streamed": base_zipfile_streamed,
    "zipfile_streamed_zip64": lambda: base_zipfile_streamed(True),
    "torch_save": base_torch_save,
    "torch_jit_save": base_torch_jit_save,
    # Info-ZIP's zip (directory entries, UT/ux extras, Unix attributes) and
    # Java's jar (data descriptors), where installed.
    "infozip_deflated": lambda: _tool_base("zip", "-q", "-r", "-X"),
    "infozip_stored": lambda: _tool_base("zip", "-q", "-r", "-0"),
    "infozip_with_extras": lambda: _tool_base("zip", "-q", "-r"),
    "java_jar": lambda: _tool_base("jar", "cfM"),
}
TORCH_BASES = {"torch_exporter", "torch_save", "torch_jit_save"}

# Legitimate archives holding end-record signature bytes outside any end
# record (in a record's data, or as a CRC in the central directory). Every
# reader, whichever candidate strategy it uses (last signature; last whose
# comment fits), picks the real end record. Not mutated further: the
# mutations above assume a single signature.
SIGNATURE_BYTES_BASES = {
    "hermetic_exporter_nested_zip": base_hermetic_exporter_nested_zip,
    "torch_exporter_nested_zip": base_torch_exporter_nested_zip,
    "builder_crc_is_end_signature": base_builder_crc_is_end_signature,
}
_base_cache = {}


def base(name):
    if name in TORCH_BASES and torch is None:
        pytest.skip("torch is not installed")
    if name not in _base_cache:
        _base_cache[name] = BASES[name]()
    return _base_cache[name]


@pytest.mark.parametrize("name", sorted(BASES))
def test_legitimate_base_is_accepted_with_identical_contents(tmp_path, name):
    hermetic, _ = check(tmp_path, base(name), expect="accept")
    assert len(hermetic.records) >= 3


@pytest.mark.parametrize("name", sorted(SIGNATURE_BYTES_BASES))
def test_end_signature_bytes_inside_records_are_accepted(tmp_path, name):
    if name.startswith("torch") and torch is None:
        pytest.skip("torch is not installed")
    data = SIGNATURE_BYTES_BASES[name]()
    layout = hz.parse(data)
    tail = data[max(0, len(data) - 65557):layout.eocd]
    assert struct.pack("<I", hz.EOCD_SIG) in tail  # the case is what it says
    check(tmp_path, data, expect="accept")


# ---------------------------------------------------------------------------
# Mutations applied to every base. Each takes the base's bytes and returns
# the hostile archive; None means "does not apply to this base".


def _fake_entries():
    return [E(P + ".data/version", b"6\n"),
            E(P + ".data/extern_modules", b""),
            E(P + "harmless.txt", b"nothing to see here")]


def _fake_folder_entries(data):
    # The fake archive must use the base's top-level folder for torch.
    prefix = hz.parse(data).entries[0].name.split(b"/")[0] + b"/"
    return [E(prefix + e.name_bytes()[len(P):], e.data)
            for e in _fake_entries()]


def _eocd_bytes(data):
    layout = hz.parse(data)
    return data[layout.eocd:layout.eocd + hz.EOCD_SIZE]


def _set_eocd(data, field, value):
    layout = hz.parse(data)
    return hz.patch(data, layout.eocd, EOCD, field, value)


def _set_zip64(data, field, value):
    layout = hz.parse(data)
    if layout.zip64_end is None:
        return None
    return hz.patch(data, layout.zip64_end, ZIP64_END, field, value)


def _set_locator(data, field, value):
    layout = hz.parse(data)
    if layout.locator is None:
        return None
    return hz.patch(data, layout.locator, LOCATOR, field, value)


def _count(data):
    return len(hz.parse(data).entries)


def _set_count(data, value, zip64_too=True):
    out = _set_eocd(data, "entries", value)
    out = hz.patch(out, hz.parse(data).eocd, EOCD, "disk_entries", value)
    if zip64_too and hz.parse(data).zip64_end is not None:
        out = hz.patch(out, hz.parse(data).zip64_end, ZIP64_END, "entries",
                       value)
        out = hz.patch(out, hz.parse(data).zip64_end, ZIP64_END,
                       "disk_entries", value)
    return out


def _cd_field(data, field, delta):
    layout = hz.parse(data)
    current = getattr(layout, field)
    out = _set_eocd(data, field, max(current + delta, 0))
    if layout.zip64_end is not None:
        out = hz.patch(out, layout.zip64_end, ZIP64_END, field,
                       max(current + delta, 0))
    return out


def _saturate_end_record(data):
    eocd = hz.parse(data).eocd
    for field, value in (("disk_entries", 0xFFFF), ("entries", 0xFFFF),
                         ("cd_size", 0xFFFFFFFF), ("cd_offset", 0xFFFFFFFF)):
        data = hz.patch(data, eocd, EOCD, field, value)
    return data


def _zip64_extensible(data):
    layout = hz.parse(data)
    if layout.zip64_end is None:
        return None
    out = hz.insert(data, layout.locator, b"\0" * 8, fix_offsets=False)
    return hz.patch(out, layout.zip64_end, ZIP64_END, "record_size", 52)


def _fake_eocd_in_comment(data):
    eocd = bytearray(_eocd_bytes(data))
    struct.pack_into("<H", eocd, 20, 0)
    return hz.set_comment(data, bytes(eocd))


EOCD_MUTATIONS = {
    # Issue 9's attack: the comment holds a whole second archive whose end
    # record's comment length runs past the end of the file.
    "comment_holds_fake_archive_whose_comment_overruns": (
        "refuse", lambda d: hz.eocd_comment_attack(d, _fake_folder_entries(d))),
    "comment_holds_fake_archive_whose_comment_fits": (
        "refuse", lambda d: hz.eocd_comment_attack(
            d, _fake_folder_entries(d), fake_comment_len=0)),
    "comment_holds_copy_of_end_record": ("refuse", _fake_eocd_in_comment),
    "second_end_record_appended_after_the_first": (
        "refuse", lambda d: d + _eocd_bytes(d)),
    "end_record_signature_inside_comment": (
        "refuse", lambda d: hz.set_comment(d, b"see PK\x05\x06 here")),
    "end_record_signature_ends_comment": (
        "refuse", lambda d: hz.set_comment(d, b"tail PK\x05\x06")),
    "zeroed_end_record_inside_comment": (
        "refuse", lambda d: hz.set_comment(
            d, struct.pack("<I", hz.EOCD_SIG) + bytes(18))),
    "plain_comment": ("judge", lambda d: hz.set_comment(d, b"a comment")),
    "trailing_byte_after_end_record": ("judge", lambda d: d + b"\0"),
    "trailing_junk_after_end_record": ("judge", lambda d: d + b"junk" * 25),
    "comment_length_short_of_comment": (
        "judge", lambda d: hz.set_comment(d, b"0123456789", declared=4)),
    "comment_length_past_end_by_1": (
        "judge", lambda d: hz.set_comment(d, b"", declared=1)),
    "comment_length_past_end_by_65535": (
        "judge", lambda d: hz.set_comment(d, b"abc", declared=0xFFFF)),
    "entry_count_0_over_a_full_directory": (
        "refuse", lambda d: _set_count(d, 0)),
    "entry_count_one_short": ("judge", lambda d: _set_count(d, _count(d) - 1)),
    "entry_count_one_over": ("judge", lambda d: _set_count(d, _count(d) + 1)),
    "entry_count_0_in_end_record_only": (
        "refuse", lambda d: _set_count(d, 0, zip64_too=False)
        if hz.parse(d).zip64_end is not None else None),
    "disk_entry_count_differs_from_total": (
        "judge", lambda d: _set_eocd(d, "disk_entries", _count(d) - 1)
        if hz.parse(d).zip64_end is None else
        _set_zip64(d, "disk_entries", _count(d) - 1)),
    "entry_count_saturated_without_zip64": (
        "judge", lambda d: _set_eocd(d, "entries", 0xFFFF)
        if hz.parse(d).zip64_end is None else None),
    "cd_size_one_short": ("judge", lambda d: _cd_field(d, "cd_size", -1)),
    "cd_size_one_over": ("judge", lambda d: _cd_field(d, "cd_size", 1)),
    "cd_size_zero": ("judge", lambda d: _cd_field(d, "cd_size", -10**9)),
    "cd_offset_one_late": ("judge", lambda d: _cd_field(d, "cd_offset", 1)),
    "cd_offset_one_early": ("judge", lambda d: _cd_field(d, "cd_offset", -1)),
    "cd_offset_zero": ("judge", lambda d: _cd_field(d, "cd_offset", -10**9)),
    "end_record_disk_number_1": ("judge", lambda d: _set_eocd(d, "disk", 1)),
    # How archives of more than 65535 records or 4 GiB look: every end-record
    # field saturated, the zip64 end record holding the values.
    "end_record_saturated_deferring_to_zip64": (
        "accept", lambda d: _saturate_end_record(d)
        if hz.parse(d).zip64_end is not None else None),
    # zip64 end record and locator (bases that have them)
    "zip64_locator_offset_one_late": (
        "judge", lambda d: _set_locator(d, "offset",
                                        (hz.parse(d).zip64_end or 0) + 1)),
    "zip64_locator_offset_zero": (
        "judge", lambda d: _set_locator(d, "offset", 0)),
    "zip64_locator_signature_broken": (
        "judge", lambda d: _set_locator(d, "sig", 0x07064B51)),
    "zip64_locator_total_disks_2": (
        "judge", lambda d: _set_locator(d, "disks", 2)),
    "zip64_end_signature_broken": (
        "judge", lambda d: _set_zip64(d, "sig", 0x06064B51)),
    "zip64_end_record_size_lies": (
        "judge", lambda d: _set_zip64(d, "record_size", 100)),
    "zip64_entry_count_disagrees_with_end_record": (
        "refuse", lambda d: hz.patch(
            _set_zip64(d, "entries", _count(d) - 1), hz.parse(d).zip64_end,
            ZIP64_END, "disk_entries", _count(d) - 1)
        if hz.parse(d).zip64_end is not None else None),
    "zip64_cd_size_disagrees_with_end_record": (
        "refuse", lambda d: _set_zip64(d, "cd_size", hz.parse(d).cd_size - 46)),
    # Version-2 zip64 end records may carry extensible data; zipfile assumes
    # none and reads the record at a fixed distance before the locator.
    "zip64_end_record_with_extensible_data": (
        "judge", lambda d: _zip64_extensible(d)),
    "zip64_entry_count_2_to_the_40": (
        "judge", lambda d: hz.patch(_set_zip64(d, "entries", 1 << 40),
                                    hz.parse(d).zip64_end, ZIP64_END,
                                    "disk_entries", 1 << 40)
        if hz.parse(d).zip64_end is not None else None),
    "zip64_cd_size_2_to_the_62": (
        "judge", lambda d: _set_zip64(d, "cd_size", 1 << 62)),
    "zip64_cd_offset_disagrees_with_end_record": (
        "refuse", lambda d: _set_zip64(d, "cd_offset",
                                       hz.parse(d).entries[1].central)),
}


def _insert_before_first_header(data, junk, fix):
    return hz.insert(data, min(p.local for p in hz.parse(data).entries),
                     junk, fix_offsets=fix)


def _after_record(data, index):
    layout = hz.parse(data)
    ordered = sorted(layout.entries, key=lambda p: p.local)
    return hz.record_end(layout, ordered[index])


def _smuggled_record(data):
    # A complete local header and data that no central entry names.
    prefix = hz.parse(data).entries[0].name.split(b"/")[0]
    ghost = hz.build([E(prefix + b"/ghost.py", b"import os\n")])
    layout = hz.parse(ghost.data)
    return ghost.data[:layout.cd_offset]


def _junk_between_cd_and_end(data):
    layout = hz.parse(data)
    at = layout.zip64_end if layout.zip64_end is not None else layout.eocd
    out = hz.insert(data, at, b"JUNKJUNK", fix_offsets=False)
    if layout.zip64_end is not None:
        out = hz.patch(out, layout.locator + 8, LOCATOR, "offset", at + 8)
    return out


LAYOUT_MUTATIONS = {
    "self_extractor_stub_before_first_header_offsets_fixed": (
        "refuse", lambda d: _insert_before_first_header(d, b"MZ" + bytes(62),
                                                        True)),
    "self_extractor_stub_before_first_header_offsets_unfixed": (
        "refuse", lambda d: _insert_before_first_header(d, b"MZ" + bytes(62),
                                                        False)),
    "one_byte_before_first_header": (
        "refuse", lambda d: _insert_before_first_header(d, b"\0", True)),
    "gap_between_first_and_second_record": (
        "refuse", lambda d: hz.insert(d, _after_record(d, 0), b"\0" * 16)),
    "smuggled_local_record_between_records": (
        "refuse", lambda d: hz.insert(d, _after_record(d, 0),
                                      _smuggled_record(d))),
    "junk_between_last_record_and_cd": (
        "refuse", lambda d: hz.insert(d, hz.parse(d).cd_offset, b"JUNK" * 4)),
    "smuggled_local_record_before_cd": (
        "refuse", lambda d: hz.insert(d, hz.parse(d).cd_offset,
                                      _smuggled_record(d))),
    "junk_between_cd_and_end_records": ("judge", _junk_between_cd_and_end),
}


def _generic_cases(mutations):
    return [pytest.param(base_name, mutation, id=f"{mutation}-{base_name}")
            for mutation in mutations for base_name in sorted(BASES)]


def _run_mutation(tmp_path, mutations, base_name, mutation):
    expect, mutate = mutations[mutation]
    data = mutate(base(base_name))
    if data is None:
        pytest.skip(f"{mutation} does not apply to {base_name}")
    check(tmp_path, data, expect)


@pytest.mark.parametrize("base_name,mutation", _generic_cases(EOCD_MUTATIONS))
def test_end_of_central_directory(tmp_path, base_name, mutation):
    _run_mutation(tmp_path, EOCD_MUTATIONS, base_name, mutation)


@pytest.mark.parametrize("base_name,mutation",
                         _generic_cases(LAYOUT_MUTATIONS))
def test_layout(tmp_path, base_name, mutation):
    _run_mutation(tmp_path, LAYOUT_MUTATIONS, base_name, mutation)


# ---------------------------------------------------------------------------
# Hand-built cases: entries lying about themselves


def entries_with(index, **changes):
    """builder_entries() with entry `index` (0 = .data/version, 1 = pickle,
    2 = source, 3 = blob, 4 = deflated text, 5 = empty) changed."""
    entries = builder_entries()
    for key, value in changes.items():
        if key in ("local", "central"):
            getattr(entries[index], key).update(value)
        else:
            setattr(entries[index], key, value)
    return entries


def _two_central_entries_for_one_header(same_name):
    layout = hz.build(builder_entries())
    data = layout.data
    target = layout.entries[2]  # code/mod.py
    central = data[target.central:target.central + hz.CENTRAL_SIZE
                   + len(target.name)]
    if not same_name:
        central = central.replace(b"code/mod.py", b"code/alt.py")
    end = layout.cd_offset + layout.cd_size
    data = data[:end] + central + data[end:]
    eocd = layout.eocd + len(central)
    data = hz.patch(data, eocd, EOCD, "cd_size", layout.cd_size + len(central))
    data = hz.patch(data, eocd, EOCD, "entries", 7)
    return hz.patch(data, eocd, EOCD, "disk_entries", 7)


def _overlapping_records():
    # The pickle's stored bytes hold a complete record of their own; a
    # second central entry points at that inner header.
    inner = hz.build([E(P + "model/inner.pkl", b"inner payload")])
    inner_local = inner.data[:inner.cd_offset]
    entries = builder_entries()
    entries[1] = E(P + "model/model.pkl", inner_local)
    layout = hz.build(entries)
    data = layout.data
    inner_central = inner.data[inner.cd_offset:inner.cd_offset
                               + inner.cd_size]
    inner_central = hz.patch(inner_central, 0, CENTRAL, "offset",
                             layout.entries[1].data)
    end = layout.cd_offset + layout.cd_size
    data = data[:end] + inner_central + data[end:]
    eocd = layout.eocd + len(inner_central)
    data = hz.patch(data, eocd, EOCD, "cd_size",
                    layout.cd_size + len(inner_central))
    data = hz.patch(data, eocd, EOCD, "entries", 7)
    return hz.patch(data, eocd, EOCD, "disk_entries", 7)


def _local_header_inside_previous_data():
    # Record 2's central offset points into record 1's data, which ends
    # with bytes forming a valid header of the same name.
    layout = hz.build(builder_entries())
    fake = hz.build([E(P + "code/mod.py", b"import os; os.system('x')\n")])
    fake_local = fake.data[:fake.cd_offset]
    entries = builder_entries()
    entries[1].data = PICKLE + fake_local
    layout = hz.build(entries)
    data = layout.data
    at = layout.entries[1].data + len(PICKLE)
    return hz.patch(data, layout.entries[2].central, CENTRAL, "offset", at)


def _desc(index, **kw):
    e = builder_entries()[index]
    stored = e.stored_bytes()
    values = {"crc": zlib.crc32(e.data), "csize": len(stored),
              "usize": len(e.data), "signature": True}
    values.update(kw)
    return hz.descriptor(values["crc"], values["csize"], values["usize"],
                         values["signature"])


def _entries_descriptor(index, descriptor_bytes, flags=None):
    entries = builder_entries()
    entries[index].flags |= hz.FLAG_DESCRIPTOR
    if flags is not None:
        entries[index].flags = flags
    entries[index].descriptor = descriptor_bytes
    return entries


def _reordered_cd():
    layout = hz.build(builder_entries())
    data = layout.data
    spans = []
    for i, p in enumerate(layout.entries):
        end = (layout.entries[i + 1].central if i + 1 < len(layout.entries)
               else layout.cd_offset + layout.cd_size)
        spans.append(data[p.central:end])
    cd = b"".join(reversed(spans))
    return (data[:layout.cd_offset] + cd
            + data[layout.cd_offset + layout.cd_size:])


STRUCTURE_CASES = {
    "overlapping_record_inside_another_records_data": (
        "refuse", _overlapping_records),
    "central_offset_points_into_previous_records_data": (
        "refuse", _local_header_inside_previous_data),
    "two_central_entries_one_local_header_same_name": (
        "refuse", lambda: _two_central_entries_for_one_header(True)),
    "two_central_entries_one_local_header_different_names": (
        "refuse", lambda: _two_central_entries_for_one_header(False)),
    # data descriptors: a streaming reader takes sizes and CRC from them,
    # so one that disagrees with the central directory is a mismatch
    "descriptor_crc_lies": ("refuse", lambda: hz.build(_entries_descriptor(
        3, _desc(3, crc=0x12345678))).data),
    "descriptor_sizes_lie": ("refuse", lambda: hz.build(_entries_descriptor(
        3, _desc(3, csize=7, usize=7))).data),
    "descriptor_without_signature": ("judge", lambda: hz.build(
        _entries_descriptor(3, _desc(3, signature=False))).data),
    "descriptor_flag_set_but_no_descriptor": ("judge", lambda: hz.build(
        _entries_descriptor(3, b"")).data),
    "descriptor_written_without_flag": ("refuse", lambda: hz.build(
        _entries_descriptor(3, _desc(3), flags=hz.FLAG_UTF8)).data),
    "descriptor_zip64_sized_for_small_record": ("judge", lambda: hz.build(
        _entries_descriptor(3, hz.descriptor(zlib.crc32(BLOB), len(BLOB),
                                             len(BLOB), zip64=True))).data),
    # local header vs central entry
    "local_name_differs_same_length": ("refuse", lambda: hz.build(entries_with(
        2, local_name=(P + "code/evl.py").encode())).data),
    "local_name_longer": ("refuse", lambda: hz.build(entries_with(
        2, local_name=(P + "code/mod.pyc").encode())).data),
    "local_name_differs_only_by_case": ("refuse", lambda: hz.build(
        entries_with(2, local_name=(P + "code/MOD.py").encode())).data),
    "local_method_deflated_central_stored": ("refuse", lambda: hz.build(
        entries_with(3, local={"method": 8})).data),
    "local_method_stored_central_deflated": ("refuse", lambda: hz.build(
        entries_with(4, local={"method": 0})).data),
    "local_sizes_differ": ("refuse", lambda: hz.build(entries_with(
        3, local={"csize": 10, "usize": 10})).data),
    "local_uncompressed_size_differs_only": ("refuse", lambda: hz.build(
        entries_with(4, local={"usize": 1})).data),
    "local_crc_differs": ("refuse", lambda: hz.build(entries_with(
        3, local={"crc": 0xDEADBEEF})).data),
    "local_descriptor_flag_central_none": ("refuse", lambda: hz.build(
        entries_with(3, local={"flags": hz.FLAG_UTF8 | hz.FLAG_DESCRIPTOR,
                               "crc": 0, "csize": 0, "usize": 0})).data),
    "central_descriptor_flag_local_none": ("refuse", lambda: hz.build(
        entries_with(3, central={"flags": hz.FLAG_UTF8 | hz.FLAG_DESCRIPTOR}
                     )).data),
    "local_utf8_flag_missing_ascii_name": ("refuse", lambda: hz.build(
        entries_with(3, local={"flags": 0})).data),
    "local_utf8_flag_missing_non_ascii_name": ("refuse", lambda: hz.build(
        entries_with(3, name=P + "data/blöb.bin", local={"flags": 0})).data),
    "local_encrypted_flag_only": ("refuse", lambda: hz.build(entries_with(
        3, local={"flags": hz.FLAG_UTF8 | hz.FLAG_ENCRYPTED})).data),
    "central_encrypted_flag_only": ("judge", lambda: hz.build(entries_with(
        3, central={"flags": hz.FLAG_UTF8 | hz.FLAG_ENCRYPTED})).data),
    "encrypted_flag_both": ("judge", lambda: hz.build(entries_with(
        3, flags=hz.FLAG_UTF8 | hz.FLAG_ENCRYPTED)).data),
    "strong_encryption_flag_both": ("judge", lambda: hz.build(entries_with(
        3, flags=hz.FLAG_UTF8 | hz.FLAG_STRONG_ENCRYPTION)).data),
    "compressed_patch_flag_both": ("judge", lambda: hz.build(entries_with(
        3, flags=hz.FLAG_UTF8 | hz.FLAG_PATCHED)).data),
    "masked_local_headers_flag": ("judge", lambda: hz.build(entries_with(
        3, flags=hz.FLAG_UTF8 | hz.FLAG_MASKED_HEADERS)).data),
    "central_version_needed_6_4": ("judge", lambda: hz.build(entries_with(
        3, central={"version": 64})).data),
    # miniz takes an entry with the MS-DOS directory attribute for a
    # directory and "extracts" it without writing: torch returns whatever
    # its fresh buffer held instead of the record's bytes.
    "dos_directory_attribute_on_file": ("judge", lambda: hz.build(
        entries_with(1, central={"eattr": 0x10})).data),
    "dos_directory_attribute_on_version_record": ("judge", lambda: hz.build(
        entries_with(0, central={"eattr": 0x10})).data),
    "unix_directory_mode_on_file": ("judge", lambda: hz.build(entries_with(
        1, central={"made_by": 0x0314, "eattr": 0o040755 << 16})).data),
    "dos_read_only_and_archive_attributes": ("accept", lambda: hz.build(
        entries_with(1, central={"eattr": 0x21})).data),
    "central_disk_number_1": ("judge", lambda: hz.build(entries_with(
        3, central={"disk": 1})).data),
    "local_signature_broken": ("judge", lambda: hz.build(entries_with(
        3, local={"sig": 0x04034B51})).data),
    "central_offset_past_end": ("judge", lambda: hz.build(entries_with(
        3, central={"offset": 0x7FFFFFFF})).data),
    "central_entry_comment": ("judge", lambda: hz.build(entries_with(
        3, comment=b"entry comment")).data),
    "central_comment_length_overruns_cd": ("judge", lambda: hz.build(
        entries_with(5, central={"comment_len": 200})).data),
    "empty_archive": ("judge", lambda: hz.build([]).data),
    "central_order_differs_from_file_order": ("judge", lambda: _reordered_cd()),
    "only_the_version_record": ("judge", lambda: hz.build(
        [E(P + ".data/version", b"6\n")]).data),
}


def _build_names(*names_and_data, flags=hz.FLAG_UTF8):
    entries = [E(P + ".data/version", b"6\n")]
    for item in names_and_data:
        name, data = item[:2]
        entry_flags = item[2] if len(item) > 2 else flags
        entries.append(E(name if isinstance(name, bytes) else name.encode(),
                         data, flags=entry_flags))
    return hz.build(entries).data


NFC = unicodedata.normalize("NFC", "café.txt")
NFD = unicodedata.normalize("NFD", "café.txt")
NAME_CASES = {
    "invalid_utf8_with_utf8_flag": ("judge", lambda: _build_names(
        (P.encode() + b"bad\xff\xfe.txt", b"x"))),
    "overlong_utf8_slash": ("judge", lambda: _build_names(
        (P.encode() + b"a\xc0\xafb.txt", b"x"))),
    "utf8_surrogate": ("judge", lambda: _build_names(
        (P.encode() + b"\xed\xa0\x80.txt", b"x"))),
    "truncated_utf8_sequence": ("judge", lambda: _build_names(
        (P.encode() + b"a\xc3", b"x"))),
    "non_ascii_utf8_without_flag_11": ("judge", lambda: _build_names(
        (P + "café.txt", b"x", 0))),
    "cp437_byte_without_flag_11": ("judge", lambda: _build_names(
        (P.encode() + b"caf\x82.txt", b"x", 0))),
    "ascii_without_flag_11": ("accept", lambda: _build_names(
        (P + "plain.txt", b"x", 0))),
    "nul_in_name": ("judge", lambda: _build_names(
        (P.encode() + b"a\x00b.txt", b"x"))),
    "nul_hides_suffix_of_existing_name": ("judge", lambda: _build_names(
        (P + "model.pkl", PICKLE), (P.encode() + b"model.pkl\x00.txt",
                                    b"evil"))),
    "backslash": ("judge", lambda: _build_names((P + "a\\b.txt", b"x"))),
    "backslash_dotdot": ("judge", lambda: _build_names(
        (P + "..\\..\\evil.py", b"x"))),
    "dotdot_leading": ("judge", lambda: _build_names((P + "../evil.py", b"x"))),
    "dotdot_inside": ("judge", lambda: _build_names((P + "a/../b.py", b"x"))),
    "dot_component": ("judge", lambda: _build_names((P + "./a.py", b"x"))),
    "absolute_after_folder": ("judge", lambda: _build_names(
        (P + "/etc/passwd", b"x"))),
    "absolute_outside_folder": ("judge", lambda: _build_names(
        ("/etc/passwd", b"x"))),
    "first_entry_absolute": ("judge", lambda: hz.build(
        [E("/archive/.data/version", b"6\n"), E(P + "a.py", b"x")]).data),
    "first_entry_without_folder": ("judge", lambda: hz.build(
        [E("version", b"6\n"), E(P + "a.py", b"x")]).data),
    "first_entry_is_directory_of_another_folder": ("judge", lambda: hz.build(
        [E("other/", b""), E(P + ".data/version", b"6\n")]).data),
    "directory_entry_shadows_record": ("judge", lambda: _build_names(
        (P + "model.pkl", PICKLE), (P + "model.pkl/", b""))),
    "entry_outside_the_folder": ("judge", lambda: _build_names(
        ("other/a.py", b"x"))),
    "folder_name_differs_only_by_case": ("judge", lambda: _build_names(
        ("Archive/a.py", b"x"))),
    "folder_name_is_a_prefix_of_another": ("judge", lambda: _build_names(
        ("archive2/a.py", b"x"))),
    "empty_component": ("judge", lambda: _build_names((P + "a//b.py", b"x"))),
    "name_is_the_folder_with_data": ("judge", lambda: _build_names(
        (P, b"data in a folder"))),
    "directory_entry_with_data": ("judge", lambda: _build_names(
        (P + "dir/", b"data"))),
    "directory_entry_without_data": ("judge", lambda: _build_names(
        (P + "dir/", b""), (P + "dir/a.py", b"x"))),
    "duplicate_names_same_bytes": ("judge", lambda: _build_names(
        (P + "a.py", b"x"), (P + "a.py", b"x"))),
    "duplicate_names_different_bytes": ("judge", lambda: _build_names(
        (P + "model.pkl", PICKLE), (P + "model.pkl", b"evil"))),
    "duplicate_of_version_record": ("judge", lambda: _build_names(
        (P + ".data/version", b"3\n"))),
    "names_differ_only_by_case": ("judge", lambda: _build_names(
        (P + "model.pkl", PICKLE), (P + "Model.pkl", b"evil"))),
    "folders_differ_only_by_case": ("judge", lambda: _build_names(
        (P + "data/x.bin", b"one"), (P + "Data/x.bin", b"two"))),
    "names_differ_only_by_unicode_normalisation": ("judge", lambda:
        _build_names((P + NFC, b"nfc"), (P + NFD, b"nfd"))),
    "nfd_name_alone": ("judge", lambda: _build_names((P + NFD, b"nfd"))),
    "names_differ_only_by_non_ascii_case": ("judge", lambda: _build_names(
        (P + "é.txt", b"lower"), (P + "É.txt", b"upper"))),
    "names_differ_by_sharp_s_folding": ("judge", lambda: _build_names(
        (P + "straße.txt", b"one"), (P + "STRASSE.txt", b"two"))),
    "carriage_return_and_del_in_name": ("judge", lambda: _build_names(
        (P + "a\rb\x7f.txt", b"x"))),
    "windows_device_and_colon_names": ("judge", lambda: _build_names(
        (P + "con", b"x"), (P + "a:b.txt", b"y"), (P + "trail.", b"z"))),
    "terminal_escape_in_name": ("judge", lambda: _build_names(
        (P + "\x1b[2J\x1b]0;owned\x07.txt", b"x"))),
    "newline_in_name": ("judge", lambda: _build_names(
        (P + "a\nb.txt", b"x"))),
    "long_name_300": ("judge", lambda: _build_names((P + "n" * 300, b"x"))),
    "long_name_511_with_folder": ("judge", lambda: _build_names(
        (P + "n" * (511 - len(P)), b"x"))),
    "long_name_512_with_folder": ("judge", lambda: _build_names(
        (P + "n" * (512 - len(P)), b"x"))),
    "long_name_5000": ("judge", lambda: _build_names((P + "n" * 5000, b"x"))),
    "long_name_65535": ("judge", lambda: _build_names(
        (P + "n" * (65535 - len(P)), b"x"))),
    "long_names_sharing_511_byte_prefix": ("judge", lambda: _build_names(
        (P + "n" * 600 + "a", b"one"), (P + "n" * 600 + "b", b"two"))),
    "debug_pkl_suffix": ("judge", lambda: _build_names(
        (P + "code/__torch__/m.pkl_debug_pkl", b"debug"))),
}


def _saturated(extra, local_extra=b"", **central):
    values = {"csize": 0xFFFFFFFF, "usize": 0xFFFFFFFF}
    values.update(central)
    return hz.build(entries_with(3, central=values, central_extra=extra,
                                 local_extra=local_extra)).data


N = len(BLOB)
EXTRA_CASES = {
    "zip64_sizes_in_central_extra": ("accept", lambda: _saturated(
        hz.zip64_extra(N, N))),
    "zip64_sizes_and_offset_in_central_extra": ("accept", lambda: hz.build(
        entries_with(3, central={"csize": 0xFFFFFFFF, "usize": 0xFFFFFFFF,
                                 "offset": 0xFFFFFFFF},
                     central_extra=hz.zip64_extra(
                         N, N, hz.build(builder_entries()).entries[3].local))
    ).data),
    "zip64_duplicate_blocks_second_disagrees": ("judge", lambda: _saturated(
        hz.zip64_extra(N, N) + hz.zip64_extra(N - 1, N - 1))),
    "zip64_duplicate_blocks_first_lies": ("judge", lambda: _saturated(
        hz.zip64_extra(N - 1, N - 1) + hz.zip64_extra(N, N))),
    "zip64_block_after_unknown_block": ("judge", lambda: _saturated(
        hz.extra_block(0x5455, b"\x01\0\0\0\0") + hz.zip64_extra(N, N))),
    "zip64_block_overruns_extra_field": ("judge", lambda: _saturated(
        hz.zip64_extra(N, N)[:4].replace(b"\x10\x00", b"\x28\x00")
        + struct.pack("<QQ", N, N))),
    "zip64_block_too_short_for_saturated_fields": ("judge", lambda: _saturated(
        hz.zip64_extra(N))),
    "zip64_sizes_disagree_with_each_other": ("judge", lambda: _saturated(
        hz.zip64_extra(N, N + 1))),
    "zip64_size_huge": ("judge", lambda: _saturated(
        hz.zip64_extra(1 << 62, N))),
    "zip64_block_in_central_when_not_needed_disagrees": (
        "judge", lambda: hz.build(entries_with(
            3, central_extra=hz.zip64_extra(N + 5, N + 5))).data),
    "zip64_block_in_local_disagrees_with_central": ("judge", lambda: hz.build(
        entries_with(3, local_extra=hz.zip64_extra(N + 5, N + 5))).data),
    "local_sizes_saturated_with_zip64_local_extra": ("judge", lambda: hz.build(
        entries_with(3, local={"csize": 0xFFFFFFFF, "usize": 0xFFFFFFFF},
                     local_extra=hz.zip64_extra(N, N))).data),
    # A streaming reader (local headers only) takes sizes from the local
    # zip64 block when the local sizes are saturated.
    "local_zip64_sizes_disagree_with_central": ("refuse", lambda: hz.build(
        entries_with(3, local={"csize": 0xFFFFFFFF, "usize": 0xFFFFFFFF},
                     local_extra=hz.zip64_extra(N - 8, N - 8))).data),
    "local_sizes_saturated_without_zip64_block": ("refuse", lambda: hz.build(
        entries_with(3, local={"csize": 0xFFFFFFFF,
                               "usize": 0xFFFFFFFF})).data),
    "unknown_block_overruns_extra_field": ("judge", lambda: hz.build(
        entries_with(3, central_extra=struct.pack("<HH", 0x5455, 100)
                     + b"\0" * 5)).data),
    "central_extra_trailing_3_bytes": ("judge", lambda: hz.build(
        entries_with(3, central_extra=b"\x01\x02\x03")).data),
    "local_extra_overruns_local_block": ("judge", lambda: hz.build(
        entries_with(3, local_extra=struct.pack("<HH", 0x5455, 60)
                     + b"\0" * 4)).data),
    "local_extra_length_runs_past_file": ("judge", lambda: hz.build(
        entries_with(5, local={"extra_len": 0xFFFF})).data),
    # Info-ZIP's Unicode path block: unzip and 7-Zip name the entry by it,
    # zipfile and miniz by the header name.
    "unicode_path_extra_block_renames_entry": ("refuse", lambda: hz.build(
        entries_with(2, central_extra=hz.extra_block(
            0x7075, b"\x01" + struct.pack("<I", zlib.crc32(
                (P + "code/mod.py").encode())) + (P + "code/evil.py").encode()
        ))).data),
    # What Info-ZIP's zip writes: extended timestamp and Unix uid/gid blocks,
    # in both headers.
    "infozip_timestamp_and_uid_blocks": ("accept", lambda: hz.build(
        entries_with(3, local_extra=hz.extra_block(0x5455, b"\x03" + bytes(8))
                     + hz.extra_block(0x7875, b"\x01\x04" + bytes(4)
                                      + b"\x04" + bytes(4)),
                     central_extra=hz.extra_block(0x5455, b"\x03" + bytes(4))
                     + hz.extra_block(0x7875, b""))).data),
    "torch_alignment_padding_block": ("accept", lambda: hz.build(
        entries_with(3, local_extra=hz.extra_block(0x4246, b"Z" * 13))).data),
}


def _deflated(data, raw=None, crc=None, **central):
    return hz.build(entries_with(
        4, data=data, method=hz.DEFLATED, raw=raw, crc=crc,
        central=central, local=dict(central))).data


def _stored(raw, data=BLOB, crc=None, **sizes):
    return hz.build(entries_with(3, data=data, raw=raw, crc=crc,
                                 central=sizes, local=dict(sizes))).data


DEFLATED_TEXT = hz.deflate(TEXT)


def _zipfile_compressed(method, data):
    """data as zipfile compresses it with `method` (its stored bytes)."""
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", method) as zf:
        zf.writestr("x", data)
    layout = hz.parse(sink.getvalue())
    entry = layout.entries[0]
    return layout.data[entry.data:entry.data + entry.size]
COMPRESSION_CASES = {
    "deflated_size_short_crc_of_prefix": ("judge", lambda: _deflated(
        TEXT, raw=DEFLATED_TEXT, crc=zlib.crc32(TEXT[:100]), usize=100)),
    "deflated_size_short_crc_of_whole": ("judge", lambda: _deflated(
        TEXT, raw=DEFLATED_TEXT, usize=100)),
    "deflated_size_long": ("judge", lambda: _deflated(
        TEXT, usize=len(TEXT) + 100)),
    "deflated_size_zero_stream_has_data": ("judge", lambda: _deflated(
        TEXT, crc=0, usize=0)),
    # zipfile and miniz stop at the end of the deflate stream; a streaming
    # reader (Java's ZipInputStream) expects the next header there and fails:
    # bytes inside the compressed size after the stream's end are owned by
    # no data.
    "deflate_stream_with_trailing_data": ("refuse", lambda: _deflated(
        TEXT, raw=DEFLATED_TEXT + b"trailing bytes")),
    "deflate_stream_followed_by_second_stream": ("refuse", lambda: _deflated(
        TEXT, raw=DEFLATED_TEXT + hz.deflate(b"second stream"))),
    "deflate_stream_truncated": ("judge", lambda: _deflated(
        TEXT, raw=DEFLATED_TEXT[:-5])),
    "deflate_stream_with_zlib_header": ("judge", lambda: _deflated(
        TEXT, raw=zlib.compress(TEXT))),
    "deflate_stream_garbage": ("judge", lambda: _deflated(
        TEXT, raw=b"\xff" * 40)),
    "deflated_empty_record": ("accept", lambda: _deflated(b"")),
    "deflated_empty_record_no_stream": ("judge", lambda: _deflated(
        b"", raw=b"")),
    "deflated_declares_2_gib_from_40_bytes": ("judge", lambda: _deflated(
        TEXT, usize=1 << 31)),
    "deflated_final_block_missing": ("judge", lambda: _deflated(
        TEXT, raw=zlib.compressobj(6, zlib.DEFLATED, -15).compress(TEXT)
        + zlib.compressobj(6, zlib.DEFLATED, -15).flush(zlib.Z_SYNC_FLUSH))),
    "stored_compressed_size_larger": ("judge", lambda: _stored(
        BLOB + b"extra", csize=N + 5)),
    "stored_compressed_size_smaller": ("judge", lambda: _stored(
        BLOB, csize=N - 5)),
    # the 5 bytes past the declared size are owned by no record
    "stored_sizes_both_smaller_crc_of_prefix": ("refuse", lambda: _stored(
        BLOB, crc=zlib.crc32(BLOB[:N - 5]), csize=N - 5, usize=N - 5)),
    "stored_record_marked_deflated": ("judge", lambda: hz.build(entries_with(
        3, method=hz.DEFLATED, raw=BLOB)).data),
    "deflated_record_marked_stored": ("judge", lambda: hz.build(entries_with(
        4, method=hz.STORED, raw=DEFLATED_TEXT,
        central={"usize": len(DEFLATED_TEXT)},
        local={"usize": len(DEFLATED_TEXT)})).data),
    "method_bzip2": ("judge", lambda: hz.build(entries_with(
        4, method=12, raw=_zipfile_compressed(zipfile.ZIP_BZIP2, TEXT))).data),
    "method_lzma": ("judge", lambda: hz.build(entries_with(
        4, method=14, raw=_zipfile_compressed(zipfile.ZIP_LZMA, TEXT))).data),
    "method_shrunk": ("judge", lambda: hz.build(entries_with(
        3, method=1)).data),
    "method_deflate64": ("judge", lambda: hz.build(entries_with(
        4, method=9, raw=DEFLATED_TEXT)).data),
    "method_aes": ("judge", lambda: hz.build(entries_with(
        3, method=99)).data),
    "method_unknown_0xffff": ("judge", lambda: hz.build(entries_with(
        3, method=0xFFFF)).data),
}

HAND_BUILT = {**STRUCTURE_CASES, **NAME_CASES, **EXTRA_CASES,
              **COMPRESSION_CASES}


@pytest.mark.parametrize("case", sorted(STRUCTURE_CASES))
def test_structure(tmp_path, case):
    expect, make = STRUCTURE_CASES[case]
    check(tmp_path, make(), expect)


@pytest.mark.parametrize("case", sorted(NAME_CASES))
def test_names(tmp_path, case):
    expect, make = NAME_CASES[case]
    check(tmp_path, make(), expect)


@pytest.mark.parametrize("case", sorted(EXTRA_CASES))
def test_extra_fields(tmp_path, case):
    expect, make = EXTRA_CASES[case]
    check(tmp_path, make(), expect)


@pytest.mark.parametrize("case", sorted(COMPRESSION_CASES))
def test_compression(tmp_path, case):
    expect, make = COMPRESSION_CASES[case]
    check(tmp_path, make(), expect)


# ---------------------------------------------------------------------------
# The CLI streams records (its own inflate path) where ArchiveReader.read
# copies them: both must reach the same verdict and bytes.

CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")


def _cli_cases():
    cases = [pytest.param("hand", c, id=c) for c in sorted(HAND_BUILT)]
    for mutations in (EOCD_MUTATIONS, LAYOUT_MUTATIONS):
        cases += [pytest.param(b, m, id=f"{m}-{b}") for m in sorted(mutations)
                  for b in ("builder", "torch213_package")]
    return cases


def _write_cli_case(tmp_path, base_name, case):
    """The archive of one _cli_cases() case, written to a file (skips a
    mutation that does not apply to its base)."""
    if base_name == "hand":
        data = HAND_BUILT[case][1]()
    else:
        data = EOCD_MUTATIONS.get(case, LAYOUT_MUTATIONS.get(case))[1](
            base(base_name))
        if data is None:
            pytest.skip(f"{case} does not apply to {base_name}")
    path = tmp_path / "case.pt"
    path.write_bytes(data)
    return path


@pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")
@pytest.mark.parametrize("base_name,case", _cli_cases())
def test_cli_agrees_with_the_reader(tmp_path, base_name, case):
    path = _write_cli_case(tmp_path, base_name, case)
    reader = hz.in_worker("hermetic_view", str(path))
    verify = subprocess.run([CLI, "verify", str(path)], capture_output=True,
                            timeout=60)
    if reader.status != "ok":
        assert verify.returncode not in (0,) and verify.returncode < 128, (
            f"reader: {reader.short()}\nverify exit {verify.returncode}: "
            f"{verify.stdout[:300]!r}")
        assert str(path).encode() in verify.stderr, verify.stderr[:300]
        return
    assert verify.returncode == 0, (verify.returncode, verify.stderr[:300])
    for name, content in reader.records:
        cat = subprocess.run([CLI, "cat", str(path), name],
                             capture_output=True, timeout=60)
        assert (cat.returncode, cat.stdout) == (0, content), (
            f"{name}: cat exit {cat.returncode} {cat.stderr[:300]!r}")


@pytest.mark.parametrize("base_name,case", _cli_cases())
def test_infozip_unzip_agrees_where_hermetic_accepts(tmp_path, base_name, case):
    # A third mainstream reader, where installed: whatever hermetic accepts,
    # Info-ZIP's unzip must read without a warning and with the same bytes.
    path = _write_cli_case(tmp_path, base_name, case)
    records = hz.in_worker("hermetic_in_order", str(path))
    if isinstance(records, hz.View):
        return  # refused: nothing to agree on (judged elsewhere)
    unzip = hz.unzip_view(path)
    if unzip is None:
        pytest.skip("Info-ZIP unzip is not installed")
    assert unzip.status == "ok", f"hermetic accepts, unzip: {unzip.message}"
    names, blob = unzip.records
    assert blob == b"".join(b for _, b in records)
    assert len(names) == len(records)
    if all(n.isascii() and n.isprintable() for n, _ in records):
        prefix = names[0].split("/")[0] + "/" if names else ""
        assert [n[len(prefix):] for n in names] == [n for n, _ in records]


def test_java_streaming_reader_agrees_where_both_accept(tmp_path):
    # Java's ZipInputStream sees only local headers and data descriptors
    # (the "reader that scans local headers" of issue 9). It refuses much
    # that is valid (stored records with descriptors, as torch writes), so
    # only what it does read is compared: wherever hermetic and it both
    # accept, the records and bytes must be the same.
    cases = []
    for param in _cli_cases():
        base_name, case = param.values
        if base_name == "hand":
            data = HAND_BUILT[case][1]()
        else:
            data = EOCD_MUTATIONS.get(case, LAYOUT_MUTATIONS.get(case))[1](
                base(base_name))
        if data is not None:
            cases.append((param.id, data))
    cases += [(f"base-{name}", base(name)) for name in sorted(BASES)
              if torch is not None or name not in TORCH_BASES]
    accepted = []
    for i, (case_id, data) in enumerate(cases):
        path = tmp_path / f"{i}.pt"
        path.write_bytes(data)
        records = hz.in_worker("hermetic_in_order", str(path))
        if not isinstance(records, hz.View):
            accepted.append((case_id, path, records))
    views = hz.java_stream_views([path for _, path, _ in accepted])
    if views is None:
        pytest.skip("java is not installed")
    problems, compared = [], 0
    for (case_id, path, records), view in zip(accepted, views):
        if view.status != "ok":
            continue
        compared += 1
        seen = [(n.split("/", 1)[-1], b) for n, b in view.records
                if not ((n.endswith("/") or "/" not in n) and b == b"")]
        if sorted(seen) != sorted(records):
            problems.append(f"{case_id}: hermetic {sorted(records)[:4]!r:.300}"
                            f" / java {sorted(seen)[:4]!r:.300}")
    assert compared > 20  # the comparison is not vacuous
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------
# Every field lying: each byte outside record data flipped, one at a time.


def _header_offsets(data):
    layout = hz.parse(data)
    owned = set()
    for p in layout.entries:
        owned.update(range(p.data, p.data + p.size))
    return [i for i in range(len(data)) if i not in owned]


FLIP_CASES = [
    pytest.param(name, flip, id=f"{name}-{flip:02x}",
                 marks=() if (name, flip) == ("builder", 0xFF)
                 else pytest.mark.slow)
    for name in ("builder", "builder_zip64", "hermetic_writer",
                 "torch213_package", "zipfile_streamed")
    for flip in (0xFF, 0x01)]


@pytest.mark.parametrize("name,flip", FLIP_CASES)
def test_every_header_byte_flipped(tmp_path, name, flip):
    data = base(name)
    path = tmp_path / "flipped.pt"
    problems = []
    for offset in _header_offsets(data):
        hostile = bytearray(data)
        hostile[offset] ^= flip
        path.write_bytes(hostile)
        hermetic = hz.in_worker("hermetic_view", str(path))
        found = hz.judge(path, hermetic, readers(path))
        found += file_object_disagrees(
            bytes(hostile), hz.in_worker("hermetic_view", bytes(hostile)))
        problems += [f"byte {offset}: {p}" for p in found]
    assert not problems, (f"{len(problems)} problems, e.g.:\n"
                          + "\n".join(problems[:20]))


# ---------------------------------------------------------------------------
# The harness itself: a reader disagreement must be caught.


def test_judge_catches_a_disagreement():
    ok = hz.View("ok", (("a", b"1"),))
    other = hz.View("ok", (("a", b"2"),))
    assert hz.judge("x.pt", ok, {"zipfile": other})
    assert hz.judge("x.pt", ok, {"zipfile": hz.View("refused")})
    assert hz.judge("x.pt", ok, {"zipfile": ok}, expect="refuse")
    assert not hz.judge("x.pt", ok, {"zipfile": ok})
    assert hz.judge("x.pt", hz.View("refused", message="x.pt",
                                    error_type="builtins.ValueError"), {})
    assert not hz.judge("x.pt", hz.View("refused", message="in x.pt",
                                        hermetic_error=True), {})
    assert hz.judge("x.pt", hz.View("refused", message="in x.pt",
                                    hermetic_error=True), {}, expect="accept")


def test_isolated_reports_a_crash_as_a_verdict():
    import os
    view = hz.isolated(os.abort)
    assert view.status == "crash" and view.error_type == "SIGABRT"


def test_worker_reports_a_crash_and_recovers(tmp_path):
    view = hz.in_worker("_abort_for_test")
    assert view.status == "crash" and view.error_type == "SIGABRT"
    path = tmp_path / "ok.pt"
    path.write_bytes(base("builder"))
    assert hz.in_worker("hermetic_view", str(path)).status == "ok"
