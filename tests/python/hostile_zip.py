"""Build, parse and mutate zip archives byte by byte, and see them through
several readers: hermetic, Python's zipfile, torch's PyTorchFileReader, and
where installed Info-ZIP's unzip and Java's ZipInputStream.

The builder writes every field with struct, so a test can make any field lie.
It needs nothing beyond the standard library; hermetic and torch are
imported only by the views that use them.

Field tables name each fixed-size field of the zip structures as
(offset, struct code), so mutations read like the spec:
patch(data, layout.eocd, EOCD, "entries", 0).

Sections: structures; builder and mutators (with the two differential
attacks, eocd_comment_attack and zip64_locator_attack); what each reader
sees (View, the *_view functions, the Worker that runs hermetic and torch in
a child process, judge() with issue 9's rule); the most telling archives
(`python3 hostile_zip.py DIR` writes them, e.g. as fuzz regression inputs).
"""

import atexit
import dataclasses
import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import zipfile
import zlib

# ---------------------------------------------------------------------------
# Structures

LOCAL_SIG = 0x04034B50
CENTRAL_SIG = 0x02014B50
EOCD_SIG = 0x06054B50
ZIP64_END_SIG = 0x06064B50
LOCATOR_SIG = 0x07064B50
DESCRIPTOR_SIG = 0x08074B50

LOCAL = {"sig": (0, "I"), "version": (4, "H"), "flags": (6, "H"),
         "method": (8, "H"), "time": (10, "H"), "date": (12, "H"),
         "crc": (14, "I"), "csize": (18, "I"), "usize": (22, "I"),
         "name_len": (26, "H"), "extra_len": (28, "H")}
LOCAL_SIZE = 30
CENTRAL = {"sig": (0, "I"), "made_by": (4, "H"), "version": (6, "H"),
           "flags": (8, "H"), "method": (10, "H"), "time": (12, "H"),
           "date": (14, "H"), "crc": (16, "I"), "csize": (20, "I"),
           "usize": (24, "I"), "name_len": (28, "H"), "extra_len": (30, "H"),
           "comment_len": (32, "H"), "disk": (34, "H"), "iattr": (36, "H"),
           "eattr": (38, "I"), "offset": (42, "I")}
CENTRAL_SIZE = 46
EOCD = {"sig": (0, "I"), "disk": (4, "H"), "cd_disk": (6, "H"),
        "disk_entries": (8, "H"), "entries": (10, "H"), "cd_size": (12, "I"),
        "cd_offset": (16, "I"), "comment_len": (20, "H")}
EOCD_SIZE = 22
ZIP64_END = {"sig": (0, "I"), "record_size": (4, "Q"), "made_by": (12, "H"),
             "version": (14, "H"), "disk": (16, "I"), "cd_disk": (20, "I"),
             "disk_entries": (24, "Q"), "entries": (32, "Q"),
             "cd_size": (40, "Q"), "cd_offset": (48, "Q")}
ZIP64_END_SIZE = 56
LOCATOR = {"sig": (0, "I"), "disk": (4, "I"), "offset": (8, "Q"),
           "disks": (16, "I")}
LOCATOR_SIZE = 20

FLAG_ENCRYPTED = 0x0001
FLAG_DESCRIPTOR = 0x0008
FLAG_PATCHED = 0x0020
FLAG_STRONG_ENCRYPTION = 0x0040
FLAG_UTF8 = 0x0800
FLAG_MASKED_HEADERS = 0x2000
STORED = 0
DEFLATED = 8


def pack_struct(table, size, values):
    out = bytearray(size)
    for field, (offset, code) in table.items():
        struct.pack_into("<" + code, out, offset, values.get(field, 0))
    return bytes(out)


def get(data, base, table, field):
    offset, code = table[field]
    return struct.unpack_from("<" + code, data, base + offset)[0]


def patch(data, base, table, field, value):
    """data with `field` of the structure at `base` set to value (bytes)."""
    out = bytearray(data)
    offset, code = table[field]
    struct.pack_into("<" + code, out, base + offset, value)
    return bytes(out)


def deflate(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def extra_block(block_id, payload):
    return struct.pack("<HH", block_id, len(payload)) + payload


def extra_blocks(extra):
    """{block id: payload} of a well-formed extra field."""
    blocks = {}
    while len(extra) >= 4:
        block_id, length = struct.unpack_from("<HH", extra)
        blocks[block_id] = extra[4:4 + length]
        extra = extra[4 + length:]
    return blocks


def zip64_extra(*values):
    return extra_block(0x0001, b"".join(struct.pack("<Q", v) for v in values))


def forge_crc(data, target):
    """4 bytes that, appended to data, make its CRC-32 `target` (CRC-32 is
    affine over GF(2), so 32 unknown bits solve a 32x32 system)."""
    base = zlib.crc32(data + bytes(4))
    columns = [zlib.crc32(data + (1 << i).to_bytes(4, "little")) ^ base
               for i in range(32)]
    # Gaussian elimination: rows are (column value, chosen-bits mask).
    rows = [(c, 1 << i) for i, c in enumerate(columns)]
    want, basis = target ^ base, []
    for bit in range(31, -1, -1):
        pivot = next((r for r in rows if r[0] >> bit & 1), None)
        if pivot is None:
            continue
        rows.remove(pivot)
        rows = [(v ^ pivot[0], m ^ pivot[1]) if v >> bit & 1 else (v, m)
                for v, m in rows]
        basis = [(v ^ pivot[0], m ^ pivot[1]) if v >> bit & 1 else (v, m)
                 for v, m in basis]
        basis.append(pivot)
    # Reduced echelon form: each pivot row alone holds its leading bit.
    mask = 0
    for v, m in sorted(basis, key=lambda r: -r[0]):
        if want ^ v < want:  # v's leading bit is set in want
            want ^= v
            mask ^= m
    if want:
        raise ValueError("no 4-byte suffix reaches that CRC")
    return mask.to_bytes(4, "little")


# ---------------------------------------------------------------------------
# Builder


@dataclasses.dataclass
class Entry:
    """One record. `name` is the full name (prefix included); str names are
    UTF-8 encoded. `raw` replaces the stored bytes (default: data, deflated
    for method 8). `local` / `central` override header fields by name."""

    name: object
    data: bytes = b""
    method: int = STORED
    raw: bytes = None
    crc: int = None
    flags: int = FLAG_UTF8
    descriptor: bytes = None  # bytes written after the data, as they are
    local_name: bytes = None
    local_extra: bytes = b""
    central_extra: bytes = b""
    comment: bytes = b""
    local: dict = dataclasses.field(default_factory=dict)
    central: dict = dataclasses.field(default_factory=dict)

    def name_bytes(self):
        return self.name.encode() if isinstance(self.name, str) else self.name

    def stored_bytes(self):
        if self.raw is not None:
            return self.raw
        return deflate(self.data) if self.method == DEFLATED else self.data


@dataclasses.dataclass
class Placed:
    """Where one entry landed: offsets of its local header, data and central
    entry."""

    name: bytes
    local: int
    data: int
    size: int  # bytes stored
    central: int = 0


@dataclasses.dataclass
class Layout:
    data: bytes
    entries: list
    cd_offset: int
    cd_size: int
    eocd: int
    zip64_end: int = None
    locator: int = None


def descriptor(crc, csize, usize, signature=True, zip64=False):
    code = "<IQQ" if zip64 else "<III"
    body = struct.pack(code, crc, csize, usize)
    return (struct.pack("<I", DESCRIPTOR_SIG) if signature else b"") + body


def build(entries, *, before=b"", gaps=None, before_cd=b"", zip64_end=False,
          comment=b"", eocd=None, zip64=None, offsets_count_before=True):
    """A zip of `entries`. `before` is written before the first local header
    (stored offsets include it unless offsets_count_before is false, as when
    a zip is appended to a stub with cat), gaps[i] after record i, before_cd
    between the last record and the central directory. `eocd` / `zip64`
    override end-record fields; zip64_end writes a zip64 end record and
    locator as hermetic and torch do."""
    out = bytearray(before)
    base = 0 if offsets_count_before else len(before)
    gaps = gaps or {}
    placed = []
    for i, e in enumerate(entries):
        name = e.name_bytes()
        stored = e.stored_bytes()
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        deferred = bool(e.flags & FLAG_DESCRIPTOR)
        local_name = name if e.local_name is None else e.local_name
        fields = {"sig": LOCAL_SIG, "version": 20, "flags": e.flags,
                  "method": e.method, "crc": 0 if deferred else crc,
                  "csize": 0 if deferred else len(stored),
                  "usize": 0 if deferred else len(e.data),
                  "name_len": len(local_name), "extra_len": len(e.local_extra)}
        fields.update(e.local)
        offset = len(out) - base
        out += pack_struct(LOCAL, LOCAL_SIZE, fields)
        out += local_name + e.local_extra
        data_offset = len(out)
        out += stored
        if e.descriptor is not None:
            out += e.descriptor
        elif deferred:
            out += descriptor(crc, len(stored), len(e.data))
        out += gaps.get(i, b"")
        placed.append(Placed(name, offset, data_offset, len(stored)))
    out += before_cd
    cd_offset = len(out) - base
    for e, p in zip(entries, placed):
        stored = e.stored_bytes()
        fields = {"sig": CENTRAL_SIG, "made_by": 20, "version": 20,
                  "flags": e.flags, "method": e.method,
                  "crc": zlib.crc32(e.data) if e.crc is None else e.crc,
                  "csize": len(stored), "usize": len(e.data),
                  "name_len": len(p.name), "extra_len": len(e.central_extra),
                  "comment_len": len(e.comment), "offset": p.local}
        fields.update(e.central)
        p.central = len(out)
        out += pack_struct(CENTRAL, CENTRAL_SIZE, fields)
        out += p.name + e.central_extra + e.comment
    cd_size = len(out) - base - cd_offset
    layout = Layout(b"", placed, cd_offset, cd_size, 0)
    if zip64_end:
        layout.zip64_end = len(out)
        fields = {"sig": ZIP64_END_SIG, "record_size": 44, "made_by": 0x031E,
                  "version": 0x2D, "disk_entries": len(entries),
                  "entries": len(entries), "cd_size": cd_size,
                  "cd_offset": cd_offset}
        fields.update(zip64 or {})
        out += pack_struct(ZIP64_END, ZIP64_END_SIZE, fields)
        layout.locator = len(out)
        out += pack_struct(LOCATOR, LOCATOR_SIZE,
                           {"sig": LOCATOR_SIG,
                            "offset": layout.zip64_end - base, "disks": 1})
    layout.eocd = len(out)
    fields = {"sig": EOCD_SIG, "disk_entries": len(entries),
              "entries": len(entries), "cd_size": cd_size,
              "cd_offset": cd_offset, "comment_len": len(comment)}
    fields.update(eocd or {})
    out += pack_struct(EOCD, EOCD_SIZE, fields) + comment
    layout.data = bytes(out)
    return layout


def zipfile_streamed(files, force_zip64=False):
    """What Python's zipfile writes of `files` ((full name, bytes) pairs,
    deflated) to an unseekable stream: flag bit 3, zero local sizes and
    signed data descriptors (zip64: 24-byte descriptors, local zip64
    extras)."""
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.chunks = []

        def writable(self):
            return True

        def write(self, b):
            self.chunks.append(bytes(b))
            return len(b)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            with zf.open(name, "w", force_zip64=force_zip64) as out:
                out.write(data)
    return b"".join(sink.chunks)


def parse(data):
    """The layout of a well-formed archive (hermetic's, torch's, zipfile's):
    the last end record whose comment fits, the zip64 records if a locator
    precedes it, and every central entry with its local header."""
    for eocd in range(len(data) - EOCD_SIZE, -1, -1):
        if (get(data, eocd, EOCD, "sig") == EOCD_SIG and eocd + EOCD_SIZE
                + get(data, eocd, EOCD, "comment_len") <= len(data)):
            break
    else:
        raise ValueError("no end record")
    count = get(data, eocd, EOCD, "entries")
    cd_size = get(data, eocd, EOCD, "cd_size")
    cd_offset = get(data, eocd, EOCD, "cd_offset")
    zip64_end = locator = None
    if eocd >= LOCATOR_SIZE and get(data, eocd - LOCATOR_SIZE, LOCATOR,
                                    "sig") == LOCATOR_SIG:
        locator = eocd - LOCATOR_SIZE
        zip64_end = get(data, locator, LOCATOR, "offset")
        count = get(data, zip64_end, ZIP64_END, "entries")
        cd_size = get(data, zip64_end, ZIP64_END, "cd_size")
        cd_offset = get(data, zip64_end, ZIP64_END, "cd_offset")
    entries = []
    pos = cd_offset
    for _ in range(count):
        name_len = get(data, pos, CENTRAL, "name_len")
        var = (name_len + get(data, pos, CENTRAL, "extra_len")
               + get(data, pos, CENTRAL, "comment_len"))
        name = data[pos + CENTRAL_SIZE:pos + CENTRAL_SIZE + name_len]
        local = get(data, pos, CENTRAL, "offset")
        data_offset = (local + LOCAL_SIZE + get(data, local, LOCAL, "name_len")
                       + get(data, local, LOCAL, "extra_len"))
        entries.append(Placed(name, local, data_offset,
                              get(data, pos, CENTRAL, "csize"), pos))
        pos += CENTRAL_SIZE + var
    return Layout(data, entries, cd_offset, cd_size, eocd, zip64_end, locator)


def record_end(layout, placed):
    """Offset just past an entry's data and its data descriptor, if any."""
    end = placed.data + placed.size
    flags = get(layout.data, placed.central, CENTRAL, "flags")
    if flags & FLAG_DESCRIPTOR:
        extra_at = (placed.central + CENTRAL_SIZE
                    + get(layout.data, placed.central, CENTRAL, "name_len"))
        extra = layout.data[extra_at:extra_at + get(
            layout.data, placed.central, CENTRAL, "extra_len")]
        zip64 = 0x0001 in extra_blocks(extra)
        sig = struct.unpack_from("<I", layout.data, end)[0]
        end += (4 if sig == DESCRIPTOR_SIG else 0) + (20 if zip64 else 12)
    return end


def shift_offsets(data, by, start=0):
    """data with every stored offset at or past `start` moved by `by`:
    central entries' header offsets, the CD offset in the (zip64) end record
    and the locator. For inserting bytes at `start`."""
    layout = parse(data)
    out = data
    for p in layout.entries:
        if p.local >= start:
            out = patch(out, p.central, CENTRAL, "offset", p.local + by)
    out = patch(out, layout.eocd, EOCD, "cd_offset", layout.cd_offset + by)
    if layout.zip64_end is not None:
        out = patch(out, layout.zip64_end, ZIP64_END, "cd_offset",
                    layout.cd_offset + by)
        out = patch(out, layout.locator, LOCATOR, "offset",
                    layout.zip64_end + by)
    return out


def insert(data, at, junk, fix_offsets=True):
    """`junk` inserted at offset `at`, offsets after it fixed up."""
    if fix_offsets:
        data = shift_offsets(data, len(junk), start=at)
    return data[:at] + junk + data[at:]


def set_comment(data, comment, declared=None):
    """The archive with its end-record comment replaced; `declared` lies
    about the comment length."""
    layout = parse(data)
    body = data[:layout.eocd + EOCD_SIZE]
    length = len(comment) if declared is None else declared
    return patch(body, layout.eocd, EOCD, "comment_len", length) + comment


def eocd_comment_attack(real, fake_entries, fake_comment_len=0xFFFF):
    """The differential of issue 9: `real` gets an end-record comment holding
    a whole second archive (local headers, central directory, end record) of
    `fake_entries`, whose own comment length runs past the end of the file.
    Readers that take the last end-record signature (zipfile, miniz) see the
    fake archive; a reader that skips signatures whose comment does not fit
    sees `real`. Both directories are internally valid."""
    real = set_comment(real, b"")
    start = len(real)
    fake = build(fake_entries, eocd={"comment_len": fake_comment_len},
                 before=b"\0" * start).data[start:]
    return set_comment(real, fake)


def zip64_locator_attack(fake_pickle=None):
    """Two zip64 end records: zipfile reads the one just before the locator
    (it assumes no extensible data and ignores the locator's offset), miniz
    the one the locator points to, hidden with a second central directory in
    the data of the last record. The end record is saturated, so both defer
    to "their" zip64 end record. The hidden directory tiles the file too:
    its entry for notes.txt claims the data descriptor and the carrier's
    local header as data (notes.txt defers its local sizes to a descriptor,
    so a reader comparing local and central sizes sees nothing), and its
    model/model.pkl lies inside the carrier's data."""
    fake_pickle = MALICIOUS_PICKLE if fake_pickle is None else fake_pickle
    notes = b"release notes"
    hidden_local = (pack_struct(LOCAL, LOCAL_SIZE, {
        "sig": LOCAL_SIG, "version": 20, "flags": FLAG_UTF8,
        "crc": zlib.crc32(fake_pickle), "csize": len(fake_pickle),
        "usize": len(fake_pickle),
        "name_len": len(b"archive/model/model.pkl")})
        + b"archive/model/model.pkl" + fake_pickle)

    def archive(carrier):
        return build([Entry("archive/.data/version", b"6\n"),
                      Entry("archive/.data/extern_modules", b"builtins\n"),
                      Entry("archive/notes.txt", notes,
                            flags=FLAG_UTF8 | FLAG_DESCRIPTOR),
                      # deferred sizes: its header does not depend on
                      # the carrier's content
                      Entry("archive/data/blob.bin", carrier,
                            flags=FLAG_UTF8 | FLAG_DESCRIPTOR)],
                     zip64_end=True,
                     eocd={"disk_entries": 0xFFFF, "entries": 0xFFFF,
                           "cd_size": 0xFFFFFFFF, "cd_offset": 0xFFFFFFFF})

    # The hidden directory's size does not depend on offsets: lay out once
    # with a placeholder of the final length, then fill it in.
    hidden_cd_len = 4 * CENTRAL_SIZE + sum(len(n) for n in (
        b"archive/.data/version", b"archive/.data/extern_modules",
        b"archive/notes.txt", b"archive/model/model.pkl"))
    length = len(hidden_local) + hidden_cd_len + ZIP64_END_SIZE
    layout = archive(bytes(length))
    version, externs, notes_at, carrier_at = layout.entries
    data = layout.data
    start = carrier_at.data
    notes_span = data[notes_at.data:start]  # notes + the carrier's header
    central = b""
    for name, at, payload, flags in (
            (b"archive/.data/version", version.local, b"6\n", 0),
            (b"archive/.data/extern_modules", externs.local, b"builtins\n", 0),
            (b"archive/notes.txt", notes_at.local, notes_span,
             FLAG_DESCRIPTOR),
            (b"archive/model/model.pkl", start, fake_pickle, 0)):
        central += pack_struct(CENTRAL, CENTRAL_SIZE, {
            "sig": CENTRAL_SIG, "made_by": 20, "version": 20,
            "flags": FLAG_UTF8 | flags, "crc": zlib.crc32(payload),
            "csize": len(payload), "usize": len(payload),
            "name_len": len(name), "offset": at}) + name
    assert len(central) == hidden_cd_len
    hidden_end = pack_struct(ZIP64_END, ZIP64_END_SIZE, {
        "sig": ZIP64_END_SIG, "record_size": 44, "made_by": 0x031E,
        "version": 0x2D, "disk_entries": 4, "entries": 4,
        "cd_size": len(central), "cd_offset": start + len(hidden_local)})
    carrier = hidden_local + central + hidden_end
    layout = archive(carrier)
    assert layout.data[notes_at.data:start] == notes_span
    return patch(layout.data, layout.locator, LOCATOR, "offset",
                 start + len(hidden_local) + len(central))


# ---------------------------------------------------------------------------
# What each reader sees

@dataclasses.dataclass(frozen=True)
class View:
    """A reader's verdict: status "ok" with sorted (name, bytes) records
    (names without the top-level folder), "refused" with the exception, or
    "crash" / "hang" when the reader killed or stalled its process."""

    status: str
    records: tuple = ()
    error_type: str = ""
    message: str = ""
    hermetic_error: bool = False

    def short(self):
        if self.status == "ok":
            return "ok " + repr([(n, b[:24]) for n, b in self.records])[:400]
        return f"{self.status} {self.error_type}: {self.message[:300]}"


def _refused(exc):
    try:
        from hermetic.errors import HermeticError
        is_hermetic = isinstance(exc, HermeticError)
    except ImportError:
        is_hermetic = False
    return View("refused", error_type=f"{type(exc).__module__}."
                f"{type(exc).__qualname__}", message=str(exc),
                hermetic_error=is_hermetic)


def _without_folder(name, prefix):
    if name.startswith(prefix + "/"):
        return name[len(prefix) + 1:]
    return "\0outside the top-level folder:" + name


def _drop_directories(records):
    # Directory entries of generic zip tools (name ending in '/', no data;
    # the top-level folder itself is "") are not records for hermetic;
    # readers that list them are normalised.
    return tuple(sorted((n, b) for n, b in records
                        if not ((n == "" or n.endswith("/")) and b == b"")))


def zipfile_view(path):
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            prefix = infos[0].filename.split("/")[0] if infos else ""
            records = [(_without_folder(i.filename, prefix), zf.read(i))
                       for i in infos]
    except Exception as exc:  # every failure is this reader's refusal
        return _refused(exc)
    return View("ok", _drop_directories(records))


def torch_view(path):
    import torch
    try:
        reader = torch._C.PyTorchFileReader(str(path))
        records = [(n, reader.get_record(n)) for n in reader.get_all_records()]
    except Exception as exc:
        return _refused(exc)
    return View("ok", _drop_directories(records))


def hermetic_view(source):
    """`source`: a path or bytes, as ArchiveReader takes them."""
    from hermetic import _core
    try:
        reader = _core.ArchiveReader(source)
        records = [(n, reader.read(n)) for n in reader.records()]
    except BaseException as exc:
        return _refused(exc)
    # Zero-copy views of stored records must hold what read() returned.
    try:
        mapped = reader.map_records("")
        stored = {i.name for i in reader.record_infos() if i.method == STORED}
        for name, data in records:
            if name in stored and not (bytes(reader.view(name)) == data
                                       == bytes(mapped.view(name))):
                return View("refused", error_type="view-mismatch",
                            message=f"a view of {name} differs from read()")
    except BaseException as exc:
        return View("refused", error_type="view-failed",
                    message=f"read() accepted what a view refused: {exc!r}")
    return View("ok", tuple(sorted(records)))


def hermetic_file_view(data):
    """hermetic_view of `data` read through a seekable file object (the
    reader's source mode: seek/readinto as records are needed)."""
    return hermetic_view(io.BytesIO(data))


def hermetic_in_order(path):
    """(name, bytes) of every record in central-directory order, or the
    View of a refusal."""
    from hermetic import _core
    try:
        reader = _core.ArchiveReader(path)
        return [(n, reader.read(n)) for n in reader.records()]
    except BaseException as exc:
        return _refused(exc)


def unzip_view(path):
    """What Info-ZIP's unzip sees (full names from zipinfo -1, directories
    dropped; all record bytes concatenated in directory order by unzip -p),
    or None when it is not installed. Any warning (exit status != 0) counts
    as a refusal."""
    import shutil
    if shutil.which("unzip") is None or shutil.which("zipinfo") is None:
        return None
    env = dict(os.environ, LC_ALL="C.UTF-8")
    names = subprocess.run(["zipinfo", "-1", str(path)], capture_output=True,
                           env=env, timeout=60)
    data = subprocess.run(["unzip", "-p", str(path)], capture_output=True,
                          env=env, timeout=60)
    if names.returncode or data.returncode:
        return View("refused", error_type="unzip",
                    message=(names.stderr + data.stderr + data.stdout[-200:])
                    .decode(errors="replace")[:600])
    listed = [n for n in names.stdout.decode("utf-8", "surrogateescape")
              .split("\n") if n and not n.endswith("/")]
    return View("ok", (tuple(listed), data.stdout))


# A streaming reader: Java's ZipInputStream reads local headers front to
# back and never looks at the central directory.
_JAVA_STREAM_READER = r"""
import java.io.*;
import java.util.HexFormat;
import java.util.zip.*;

public class ZipStream {
  public static void main(String[] args) {
    HexFormat hex = HexFormat.of();
    for (String path : args) {
      StringBuilder out = new StringBuilder();
      try (ZipInputStream in = new ZipInputStream(
               new BufferedInputStream(new FileInputStream(path)))) {
        for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
          out.append("E ").append(hex.formatHex(e.getName().getBytes("UTF-8")))
             .append(' ').append(hex.formatHex(in.readAllBytes())).append('\n');
        }
        System.out.print(out);
        System.out.println("OK");
      } catch (Exception ex) {
        System.out.println("ERR " + ex.toString().replace('\n', ' '));
      }
    }
  }
}
"""


def java_stream_views(paths, timeout=300):
    """[View] of Java's ZipInputStream for each path (one JVM for all), or
    None when java is not installed. Names keep the top-level folder."""
    import shutil
    import tempfile
    java = shutil.which("java")
    if java is None or not paths:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        source = os.path.join(scratch, "ZipStream.java")
        with open(source, "w") as out:
            out.write(_JAVA_STREAM_READER)
        run = subprocess.run([java, source, *map(str, paths)],
                             capture_output=True, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(run.stderr.decode(errors="replace")[-2000:])
    views, records = [], []
    for line in run.stdout.decode().splitlines():
        if line.startswith("E "):
            _, name, data = (line.split(" ") + [""])[:3]
            records.append((bytes.fromhex(name).decode(), bytes.fromhex(data)))
        elif line == "OK":
            views.append(View("ok", tuple(records)))
            records = []
        elif line.startswith("ERR "):
            views.append(View("refused", error_type="java", message=line[4:]))
            records = []
    assert len(views) == len(paths), run.stdout[-500:]
    return views


def isolated(fn, *args, timeout=60):
    """fn(*args) in a forked child, so that a crash or hang of a reader is a
    verdict rather than the end of the test run. Returns what fn returned,
    or View("crash") / View("hang")."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            payload = pickle.dumps(fn(*args))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as inp:
        while True:
            ready, _, _ = select.select([inp], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return View("hang", message=f"no answer in {timeout} s")
            chunk = os.read(inp.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        return View("crash", error_type=sig, message=f"killed by {sig}")
    if not chunks:
        return View("crash", message=f"child exited {os.WEXITSTATUS(status)}")
    return pickle.loads(b"".join(chunks))


class Worker:
    """Runs this module's reader functions in a long-lived child process, so
    that a crash or hang of a reader is a verdict (View "crash" / "hang")
    rather than the end of the test run. The child is restarted after a
    crash. Cheaper than a fork per call once torch is loaded (a fork then
    copies a large address space)."""

    def __init__(self):
        self._proc = None

    def _start(self):
        env = dict(os.environ,
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        here = os.path.dirname(os.path.abspath(__file__))
        self._proc = subprocess.Popen(
            [sys.executable, "-c",
             f"import sys; sys.path.insert(0, {here!r}); "
             "import hostile_zip; hostile_zip._serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def close(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def _read(self, n, timeout):
        out = b""
        fd = self._proc.stdout.fileno()
        while len(out) < n:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    def call(self, function, *args, timeout=60):
        """function(*args) in the child; `function` is a name in this
        module."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        request = pickle.dumps((function, args))
        try:
            self._proc.stdin.write(struct.pack("<Q", len(request)) + request)
            self._proc.stdin.flush()
            size = struct.unpack("<Q", self._read(8, timeout))[0]
            return pickle.loads(self._read(size, timeout))
        except TimeoutError:
            self.close()
            return View("hang", message=f"no answer in {timeout} s")
        except (EOFError, BrokenPipeError):
            code = self._proc.wait()
            self._proc = None
            if code < 0:
                name = signal.Signals(-code).name
                return View("crash", error_type=name,
                            message=f"killed by {name}")
            return View("crash", message=f"reader process exited {code}")


def _serve():
    # The protocol owns the real stdout; whatever a library prints goes to
    # stderr instead.
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while True:
        header = requests.read(8)
        if len(header) < 8:
            return
        function, args = pickle.loads(
            requests.read(struct.unpack("<Q", header)[0]))
        reply = pickle.dumps(globals()[function](*args))
        channel.write(struct.pack("<Q", len(reply)) + reply)
        channel.flush()


_worker = Worker()
atexit.register(_worker.close)


def in_worker(function, *args, timeout=60):
    """function(*args) (a name in this module) in the shared Worker."""
    return _worker.call(function, *args, timeout=timeout)


def judge(path, hermetic, others, expect="judge"):
    """Problems with hermetic's verdict on the archive at `path`, [] if none.

    expect "accept": a legitimate archive, hermetic must read it and see what
    every other reader sees. "refuse": hermetic must refuse, whatever the
    others do. "judge" (issue 9's rule): hermetic refuses, or every reader
    accepts and sees exactly what hermetic sees."""
    problems = []
    if hermetic.status in ("crash", "hang"):
        return [f"hermetic {hermetic.short()}"]
    if hermetic.status == "refused":
        if not hermetic.hermetic_error:
            problems.append(f"hermetic raised a non-HermeticError: "
                            f"{hermetic.short()}")
        elif str(path) not in hermetic.message:
            problems.append(f"hermetic's error does not name the archive "
                            f"{path}: {hermetic.message[:300]}")
        if expect == "accept":
            problems.append(f"hermetic refuses a legitimate archive: "
                            f"{hermetic.short()}")
        return problems
    if expect == "refuse":
        problems.append(f"hermetic accepts what it must refuse: "
                        f"{hermetic.short()}")
    for reader, view in others.items():
        if view.status != "ok":
            problems.append(f"hermetic accepts, {reader} refuses: "
                            f"{view.short()}")
        elif view.records != hermetic.records:
            problems.append(f"hermetic and {reader} disagree: hermetic "
                            f"{hermetic.short()} / {reader} {view.short()}")
    return problems


def _abort_for_test():
    os.abort()


def _hermetic_prefixes(data, lengths, folder):
    verdicts = {}
    for length in lengths:
        if folder is None:
            verdicts[length] = hermetic_view(data[:length])
            continue
        path = os.path.join(folder, f"prefix-{length}.pt")
        with open(path, "wb") as out:
            out.write(data[:length])
        verdicts[length] = hermetic_view(path)
        os.unlink(path)
    return verdicts


def prefix_verdicts(data, lengths, folder=None, chunk=256):
    """{length: hermetic's View of data[:length]}, read from files in
    `folder` or (None) from buffers. Runs in the worker in chunks; a chunk
    whose reader crashed is retried length by length to name the culprit."""
    lengths = list(lengths)
    verdicts = {}
    for i in range(0, len(lengths), chunk):
        part = lengths[i:i + chunk]
        got = in_worker("_hermetic_prefixes", data, part, folder)
        if isinstance(got, View):  # crash or hang somewhere in the chunk
            for length in part:
                one = in_worker("_hermetic_prefixes", data, [length], folder)
                verdicts[length] = one if isinstance(one, View) else one[length]
        else:
            verdicts.update(got)
    return verdicts


# ---------------------------------------------------------------------------
# The most telling hostile archives, for tests and as fuzz regression inputs
# (`python3 hostile_zip.py DIR` writes them).


class _Exec:
    def __reduce__(self):
        return (exec, ("import builtins; "
                       "builtins._hermetic_eocd_attack = 'executed'",))


HARMLESS_PICKLE = pickle.dumps({"ok": True}, protocol=2)
MALICIOUS_PICKLE = pickle.dumps(_Exec(), protocol=2)


def _eocd_comment_attack():
    real = build([Entry("attack/.data/version", b"6\n"),
                  Entry("attack/.data/extern_modules", b"builtins\n"),
                  Entry("attack/res/obj.pkl", MALICIOUS_PICKLE)],
                 zip64_end=True).data
    return eocd_comment_attack(real, [
        Entry("attack/.data/version", b"6\n"),
        Entry("attack/.data/extern_modules", b"\n"),
        Entry("attack/res/obj.pkl", HARMLESS_PICKLE)])


def _telling_entries():
    return [Entry("archive/.data/version", b"6\n"),
            Entry("archive/.data/extern_modules", b"\n"),
            Entry("archive/res/obj.pkl", HARMLESS_PICKLE),
            Entry("archive/mod.py", b"A = 1\n"),
            Entry("archive/res/notes.txt", b"notes"),
            Entry("archive/res/blob.bin", bytes(range(64)))]


def _entry_count_zero():
    # 6 central entries, an end record that says 0: zipfile lists 6,
    # torch's reader says the archive holds no files.
    return build(_telling_entries(), eocd={"entries": 0,
                                           "disk_entries": 0}).data


def _smuggled_record_in_gap():
    # A complete local record (header and data) that no central entry
    # names, between two records: every reader ignores it, a scanner of
    # local headers (and `unzip -F`-style recovery) finds it.
    ghost = build([Entry("archive/ghost.py", b"import os\n")])
    return build(_telling_entries(),
                 gaps={1: ghost.data[:ghost.cd_offset]}).data


TELLING = {
    "eocd_comment_attack": _eocd_comment_attack,
    "zip64_locator_attack": lambda: zip64_locator_attack(),
    "entry_count_zero": _entry_count_zero,
    "smuggled_record_in_gap": _smuggled_record_in_gap,
}


def telling_archives():
    return {name: make() for name, make in TELLING.items()}



if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(target, exist_ok=True)
    for case, archive in telling_archives().items():
        with open(os.path.join(target, case + ".zip"), "wb") as out:
            out.write(archive)
        print(os.path.join(target, case + ".zip"), len(archive), "bytes")
