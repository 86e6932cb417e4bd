"""Many workers serving one model: memory and time of N processes that each
load the same ~1 GiB state_dict and read every tensor.

Formats: hermetic's package (tensors are views of a copy-on-write mapping
of the archive), torch.package's, torch.save's file loaded with
torch.load(mmap=True, weights_only=True), and safetensors' load_file. Each
row starts N workers at once (load per worker); a worker loads, sums every
tensor, optionally adds 1 in place to one layer (`write`: copy-on-write must
stay per page), reports, and waits while the parent reads every worker's
/proc/PID/smaps_rollup. The `fork` rows are the other serving pattern: one
process loads, then forks N-1 workers that read (and write) the same
tensors. Printed per row: total PSS and total USS (Private_Clean +
Private_Dirty) of the N processes in MiB, the same less that of N
processes that only imported the libraries (`baseline`, started the same
way), the slowest
worker's load and use time (for `fork` rows: the loading process's, forks
included), and the wall time until all N were ready (interpreter and
torch start-up included).

    PYTHONPATH=python python bench/bench_workers.py [--gib G] [--workers 1,4,8]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

FORMATS = ("hermetic", "torch.package", "torch.load(mmap)", "safetensors")
_TENSORS = 200
_GIB = 1 << 30


def _state_dict(torch, gib):
    numel = int(gib * _GIB) // (4 * _TENSORS)
    return {f"layer{i}.weight": torch.full((numel,), float(i) + 0.5)
            for i in range(_TENSORS)}


def _files(folder):
    return {"hermetic": os.path.join(folder, "hermetic.pt"),
            "torch.package": os.path.join(folder, "torch_package.pt"),
            "torch.load(mmap)": os.path.join(folder, "torch_save.pt"),
            "safetensors": os.path.join(folder, "model.safetensors")}


def _save_all(folder, gib):
    import safetensors.torch
    import torch
    import torch.package

    from hermetic import PackageExporter

    sd = _state_dict(torch, gib)
    paths = _files(folder)
    with PackageExporter(paths["hermetic"]) as exporter:
        exporter.save_pickle("model", "sd.pkl", sd)
    with torch.package.PackageExporter(paths["torch.package"]) as exporter:
        exporter.save_pickle("model", "sd.pkl", sd)
    torch.save(sd, paths["torch.load(mmap)"])
    safetensors.torch.save_file(sd, paths["safetensors"])


def _load(fmt, path):
    import torch

    if fmt == "hermetic":
        from hermetic import PackageImporter

        return PackageImporter(path).load_pickle("model", "sd.pkl")
    if fmt == "torch.package":
        import torch.package

        return torch.package.PackageImporter(path).load_pickle("model", "sd.pkl")
    if fmt == "torch.load(mmap)":
        return torch.load(path, mmap=True, weights_only=True)
    import safetensors.torch

    return safetensors.torch.load_file(path)


def _use(sd, write):
    total = 0.0
    for tensor in sd.values():
        total += float(tensor.sum())
    if write and sd:
        next(iter(sd.values())).add_(1.0)
    return total


def _worker(fmt, path, write, forks):
    """Loads (nothing for baseline), uses the tensors, forks `forks` more
    users of the same tensors, prints {"seconds", "pids"} and waits for
    stdin to close."""
    import safetensors.torch  # noqa: F401  (every worker imports the same)
    import torch

    import hermetic  # noqa: F401

    # A process that forks must not have started OpenMP's threads (a forked
    # child would wait on them forever); one thread for every row alike.
    torch.set_num_threads(1)
    start = time.perf_counter()
    pids = [os.getpid()]
    sd = {} if fmt == "baseline" else _load(fmt, path)
    _use(sd, write)
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    for _ in range(forks):
        pid = os.fork()
        if pid == 0:
            os.close(hold_w)
            os.close(ready_r)
            _use(sd, write)
            os.write(ready_w, b".")
            os.read(hold_r, 1)  # EOF when the worker exits
            os._exit(0)
        pids.append(pid)
    os.close(ready_w)
    for _ in range(forks):
        os.read(ready_r, 1)
    print(json.dumps({"seconds": time.perf_counter() - start, "pids": pids}),
          flush=True)
    sys.stdin.read()


def _memory(pid):
    """(PSS, USS) bytes of a process, from smaps_rollup."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]


def _row(fmt, path, workers, write, fork):
    """(total PSS, total USS, wall seconds, slowest worker's load and use
    seconds) of `workers` processes."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", fmt, path,
               str(int(write))]
    started = time.perf_counter()
    if fork:
        procs = [subprocess.Popen(command + [str(workers - 1)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=common.child_env())]
    else:
        procs = [subprocess.Popen(command + ["0"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=common.child_env())
                 for _ in range(workers)]
    try:
        reports = [json.loads(proc.stdout.readline()) for proc in procs]
        wall = time.perf_counter() - started
        pss = uss = 0
        for report in reports:
            for pid in report["pids"]:
                one_pss, one_uss = _memory(pid)
                pss += one_pss
                uss += one_uss
    finally:
        for proc in procs:
            proc.stdin.close()
        for proc in procs:
            proc.wait()
    if any(proc.returncode for proc in procs):
        raise common.ChildError(f"a {fmt} worker failed")
    return pss, uss, wall, max(report["seconds"] for report in reports)


def _mib(nbytes):
    return f"{nbytes / (1 << 20):.0f}"


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        fmt, path, write, forks = sys.argv[2:6]
        _worker(fmt, path, write == "1", int(forks))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--workers", default="1,4,8")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    print(f"# {common.machine()}; state_dict {args.gib:g} GiB in {_TENSORS} float32 tensors")
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        _save_all(folder, args.gib)
        paths = _files(folder)
        rows = []
        for workers in counts:
            for pattern in ("load per worker", "fork after load"):
                fork = pattern == "fork after load"
                if fork and workers == 1:
                    continue
                base_pss, base_uss, _, _ = _row("baseline", "", workers, False, fork)
                rows.append([f"baseline (imports only), {pattern}", workers, "",
                             _mib(base_pss), _mib(base_uss), "", "", "", ""])
                print(" | ".join(str(cell) for cell in rows[-1]), flush=True)
                for write in (False, True):
                    for fmt in FORMATS:
                        pss, uss, wall, use = _row(fmt, paths[fmt], workers, write, fork)
                        rows.append([f"{fmt}, {pattern}", workers,
                                     "write 1 layer" if write else "read",
                                     _mib(pss), _mib(uss), _mib(pss - base_pss),
                                     _mib(uss - base_uss), f"{use:.2f}", f"{wall:.2f}"])
                        print(" | ".join(str(cell) for cell in rows[-1]), flush=True)
    print()
    print(common.table(["format, pattern", "N", "use", "PSS MiB", "USS MiB",
                        "PSS - baseline", "USS - baseline", "load+use s", "wall s"],
                       rows))


if __name__ == "__main__":
    main()
