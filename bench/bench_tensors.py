"""Saving and loading state_dicts: hermetic vs torch.package vs torch.save.

hermetic's archive is also loaded under the default load policy
(`PackageImporter(path, safe=True)`: the open-time checks and the scan run
before loading) and weights-only (`hermetic.load_weights`), each timed
like a plain load.

Two state_dicts: ~1 GiB in 200 float32 tensors, and 10,000 tiny tensors.
Every figure is the median of --runs fresh processes (default 5). Before
each timed call a child touches --touch-gib of memory (default 2), so the
call does not start in a warmed-up allocator or CPU cache. A save starts
with the previous file removed and no dirty data pending (os.sync), so no
format pays for another's writeback. Archives are read from the page cache
(each is written just before), for all formats alike.

Printed per case and format: save (s), load (s), first use (load plus
summing one tensor, s), RSS growth at the peak of load and after it (MiB,
and % of tensor bytes), then the ratios the targets name.

    PYTHONPATH=python python bench/bench_tensors.py [--runs N] [--scale F]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    # name: (tensor count, elements per tensor)
    "1GiB-200": (200, 1024 * 1280),
    "10k-small": (10_000, 16),
}
FORMATS = ("hermetic", "torch.package", "torch.save")
# Other ways to load hermetic's archive.
HERMETIC_LOADS = ("hermetic safe", "hermetic weights")


def _state_dict(torch, count, numel):
    # Distinct bytes per tensor, so no page is shared or all zero.
    return {f"layer{i}.weight": torch.full((numel,), float(i) + 0.5) for i in range(count)}


def _touch(gib):
    block = bytearray(int(gib * (1 << 30)))
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    del block


def _rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss():
    # Linux >= 4.0: "5" resets VmHWM to the current RSS.
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _peak_rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _save(fmt, path, sd):
    import torch

    if fmt == "hermetic":
        from hermetic import PackageExporter

        with PackageExporter(path) as exporter:
            exporter.save_pickle("model", "sd.pkl", sd)
    elif fmt == "torch.package":
        with torch.package.PackageExporter(path) as exporter:
            exporter.save_pickle("model", "sd.pkl", sd)
    else:
        torch.save(sd, path)


def _load(fmt, path):
    import torch

    if fmt == "hermetic":
        from hermetic import PackageImporter

        return PackageImporter(path).load_pickle("model", "sd.pkl")
    if fmt == "hermetic safe":
        from hermetic import PackageImporter

        return PackageImporter(path, safe=True).load_pickle("model", "sd.pkl")
    if fmt == "hermetic weights":
        from hermetic import load_weights

        return load_weights(path, "model", "sd.pkl")
    if fmt == "torch.package":
        return torch.package.PackageImporter(path).load_pickle("model", "sd.pkl")
    return torch.load(path, mmap=True, weights_only=True)


def child(args):
    import torch

    count, numel = CASES[args.case]
    numel = max(1, int(numel * args.scale))
    if args.op == "save":
        import hermetic  # noqa: F401
        import torch.package  # noqa: F401

        sd = _state_dict(torch, count, numel)
        # No format pays for the previous run's file: its pages are freed
        # and dirty data written back before the clock starts.
        if os.path.exists(args.path):
            os.remove(args.path)
        os.sync()
        _touch(args.touch_gib)
        start = time.perf_counter()
        _save(args.format, args.path, sd)
        print(json.dumps({"save": time.perf_counter() - start}))
        return
    # Import time is not load time (hermetic's tensor glue is imported on
    # first use; with PYTHONDONTWRITEBYTECODE it would be compiled then).
    import hermetic._tensors  # noqa: F401
    import torch.package  # noqa: F401

    _touch(args.touch_gib)
    _reset_peak_rss()
    rss_before = _rss_bytes()
    start = time.perf_counter()
    sd = _load(args.format, args.path)
    loaded = time.perf_counter()
    peak = _peak_rss_bytes() - rss_before
    after = _rss_bytes() - rss_before
    # First use: touch every page of one tensor in the middle of the dict.
    probe = sd[f"layer{count // 2}.weight"]
    probe.sum().item()
    first_use = time.perf_counter()
    if probe[-1].item() != count // 2 + 0.5:
        raise SystemExit(f"wrong data: {probe[-1].item()}")
    print(json.dumps({
        "load": loaded - start,
        "first_use": first_use - start,
        "rss_peak": peak,
        "rss_after": after,
        "tensor_bytes": count * numel * 4,
    }))


def _run_child(case, fmt, op, path, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--case", case, "--format", fmt, "--op", op,
           "--path", path, "--scale", str(args.scale), "--touch-gib", str(args.touch_gib)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies tensor sizes (quick checks)")
    parser.add_argument("--touch-gib", type=float, default=2.0)
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--dir", default=None, help="where archives go (default: a temp dir)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--op", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import torch

    print(f"torch {torch.__version__}, python {sys.version.split()[0]}, "
          f"median of {args.runs} fresh processes, {args.touch_gib} GiB touched before each timed call")
    workdir = tempfile.mkdtemp(prefix="bench_tensors_", dir=args.dir)
    try:
        for case in args.cases:
            figures = {fmt: {} for fmt in FORMATS + HERMETIC_LOADS}
            paths = {fmt: os.path.join(workdir, f"{case}-{fmt}.pt") for fmt in FORMATS}
            paths.update({fmt: paths["hermetic"] for fmt in HERMETIC_LOADS})
            # Formats interleave within each round, so drift in machine load
            # spreads over all of them.
            for op in ("save", "load"):
                for _ in range(args.runs):
                    for fmt in FORMATS + (HERMETIC_LOADS if op == "load" else ()):
                        for key, value in _run_child(case, fmt, op, paths[fmt], args).items():
                            figures[fmt].setdefault(key, []).append(value)
            _report(case, figures)
            for fmt in FORMATS:
                os.remove(paths[fmt])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# The zero-copy memory target applies to tensor data of this size or more.
_LARGE_TENSOR_BYTES = 100 << 20


def _report(case, figures):
    med = {fmt: {k: statistics.median(v) for k, v in f.items()} for fmt, f in figures.items()}
    tensor_bytes = med["hermetic"]["tensor_bytes"]
    print(f"\n{case}: {tensor_bytes / (1 << 20):.1f} MiB of tensor data")
    print(f"  {'format':<18}{'save s':>9}{'load s':>11}{'first use s':>13}{'peak RSS MiB':>14}{'RSS after MiB':>15}")
    for fmt, m in med.items():
        save = f"{m['save']:>9.3f}" if "save" in m else f"{'':>9}"
        print(f"  {fmt:<18}{save}{m['load']:>11.5f}{m['first_use']:>13.5f}"
              f"{m['rss_peak'] / (1 << 20):>14.1f}{m['rss_after'] / (1 << 20):>15.1f}")
    h, tp, ts = med["hermetic"], med["torch.package"], med["torch.save"]
    print(f"  save: torch.package / hermetic = {tp['save'] / h['save']:.2f}x (target >= 1.5x)")
    print(f"  load: torch.package / hermetic = {tp['load'] / h['load']:.1f}x; "
          f"torch.load(mmap) / hermetic = {ts['load'] / h['load']:.2f}x")
    print(f"  first use: torch.package / hermetic = {tp['first_use'] / h['first_use']:.1f}x; "
          f"torch.load(mmap) / hermetic = {ts['first_use'] / h['first_use']:.2f}x")
    safe, weights = med["hermetic safe"], med["hermetic weights"]
    print(f"  safe load / plain load = {safe['load'] / h['load']:.2f}x (target <= 1.2x); "
          f"load_weights / plain load = {weights['load'] / h['load']:.2f}x; "
          f"torch.package / safe load = {tp['load'] / safe['load']:.1f}x")
    growth = (f"  hermetic RSS growth: peak {100 * h['rss_peak'] / tensor_bytes:.2f}%, "
              f"after load {100 * h['rss_after'] / tensor_bytes:.2f}% of tensor bytes")
    if tensor_bytes >= _LARGE_TENSOR_BYTES:
        growth += " (target < 5%)"
    else:
        # Tiny tensors: the growth is the Python objects (tensors, the
        # unpickled containers), not tensor data; compare with torch.package.
        growth += f"; torch.package peak {100 * tp['rss_peak'] / tensor_bytes:.2f}%"
    print(growth)


if __name__ == "__main__":
    main()
