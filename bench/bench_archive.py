"""Archive benchmark: hermetic's zip writer/reader against torch's
PyTorchFileWriter/PyTorchFileReader in the same run.

Prints figures; it is not a test. Usage:
    PYTHONPATH=python python bench/bench_archive.py [--gib 1] [--records 256]

Each timed call is preceded by touching ~2 GiB of fresh memory, because this
VM hands idle memory back to the host and the first pass over it would
otherwise be charged to whichever contender runs first. Figures are the
median of --repeat runs with the min-max range.
"""

import argparse
import ctypes
import ctypes.util
import os
import statistics
import tempfile
import time
import zlib

from hermetic import _core


def touch_memory(nbytes):
    buf = bytearray(nbytes)
    pages = len(range(0, nbytes, 4096))
    buf[::4096] = b"\x01" * pages
    del buf


def timed(fn, repeat, warm_bytes, setup=None):
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        if warm_bytes:
            touch_memory(warm_bytes)
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def fmt(samples, unit="s", scale=1.0):
    med = statistics.median(samples) * scale
    return (f"{med:9.4f} {unit} (min {min(samples) * scale:.4f}, "
            f"max {max(samples) * scale:.4f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--records", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warm-gib", type=float, default=2.0)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()

    import torch  # the baseline; imported late so --help works without it

    total = int(args.gib * (1 << 30))
    per = total // args.records
    payload = os.urandom(per)
    names = [f".data/{i}.storage" for i in range(args.records)]
    warm = int(args.warm_gib * (1 << 30))
    workdir = tempfile.mkdtemp(prefix="bench_archive_", dir=args.dir)
    ours_path = os.path.join(workdir, "ours.pt")
    torch_path = os.path.join(workdir, "theirs.pt")
    gb = per * args.records / 1e9

    def remove(path):
        return lambda: os.path.exists(path) and os.remove(path)

    def write_ours():
        w = _core.ArchiveWriter(ours_path)
        for n in names:
            w.write_record(n, payload)
        w.finish()

    def write_torch():
        w = torch._C.PyTorchFileWriter(torch_path)
        w.set_min_version(6)
        for n in names:
            w.write_record(n, payload, per)
        w.write_end_of_file()

    def read_ours():
        r = _core.ArchiveReader(ours_path)
        for n in names:
            r.read(n)

    def view_ours():
        r = _core.ArchiveReader(ours_path)
        for n in names:
            r.view(n)

    def read_torch():
        r = torch._C.PyTorchFileReader(torch_path)
        for n in names:
            r.get_record(n)

    print(f"{args.records} records x {per / (1 << 20):.1f} MiB = {gb:.3f} GB, "
          f"median of {args.repeat}, files in {workdir}")
    w_ours = timed(write_ours, args.repeat, warm, remove(ours_path))
    w_torch = timed(write_torch, args.repeat, warm, remove(torch_path))
    print(f"write  hermetic: {fmt(w_ours)}  {gb / statistics.median(w_ours):6.2f} GB/s")
    print(f"write  torch:    {fmt(w_torch)}  {gb / statistics.median(w_torch):6.2f} GB/s")
    print(f"write  speed-up: {statistics.median(w_torch) / statistics.median(w_ours):.2f}x")

    r_ours = timed(read_ours, args.repeat, warm)
    r_torch = timed(read_torch, args.repeat, warm)
    v_ours = timed(view_ours, args.repeat, warm)
    print(f"read   hermetic: {fmt(r_ours)}  {gb / statistics.median(r_ours):6.2f} GB/s (copies)")
    print(f"read   torch:    {fmt(r_torch)}  {gb / statistics.median(r_torch):6.2f} GB/s (copies)")
    print(f"read   speed-up: {statistics.median(r_torch) / statistics.median(r_ours):.2f}x")
    print(f"view   hermetic: {fmt(v_ours)}  (zero-copy views of every record)")

    list_ours = timed(lambda: _core.ArchiveReader(ours_path).records(), 50, 0)
    list_torch = timed(
        lambda: torch._C.PyTorchFileReader(torch_path).get_all_records(), 50, 0)
    print(f"open+list hermetic: {fmt(list_ours, 'ms', 1e3)}")
    print(f"open+list torch:    {fmt(list_torch, 'ms', 1e3)}")

    verify = timed(lambda: _core.ArchiveReader(ours_path).verify(),
                   args.repeat, warm)
    print(f"verify (open+CRC all) hermetic: {fmt(verify)}  "
          f"{gb / statistics.median(verify):6.2f} GB/s")

    # The CRC kernels alone, on data already in memory.
    lib = ctypes.CDLL(ctypes.util.find_library("deflate") or "libdeflate.so.0")
    lib.libdeflate_crc32.restype = ctypes.c_uint32
    lib.libdeflate_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p,
                                     ctypes.c_size_t]
    blob = payload * 16
    crc_ld = timed(lambda: lib.libdeflate_crc32(0, blob, len(blob)), 5, 0)
    crc_z = timed(lambda: zlib.crc32(blob), 5, 0)
    assert lib.libdeflate_crc32(0, blob, len(blob)) == zlib.crc32(blob)
    print(f"crc32 kernel libdeflate: {len(blob) / statistics.median(crc_ld) / 1e9:6.2f} GB/s, "
          f"zlib: {len(blob) / statistics.median(crc_z) / 1e9:6.2f} GB/s")

    for p in (ours_path, torch_path):
        os.remove(p)
    os.rmdir(workdir)


if __name__ == "__main__":
    main()
