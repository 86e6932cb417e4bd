"""Remote packages: one small record and one tensor from a package served
over HTTP on 127.0.0.1, hermetic vs torch.package.

hermetic opens the URL (`PackageImporter("http://...")`, through fsspec and
aiohttp) and reads only what it needs with Range requests: the end of the
central directory, the directory and local headers at open, then the
record, or the tensor's storage in one request. torch.package needs a
seekable local file, so it downloads the whole package first, then loads
from the downloaded file (the download is part of its time).

The package (--gib, default 1) holds a small text record and --layers
float32 tensors, each in its own pickle. Children import torch (and
hermetic with fsspec's HTTP client, or torch.package) before the timer. The server is
tests/python/range_server.py, run in this process; every figure is a
fresh process (common.run_child), median (min-max) of --runs, and the bytes
the server sent for it.

    PYTHONPATH=python python bench/bench_remote.py [--gib 1] [--runs 5]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

sys.path.insert(0, os.path.join(common.REPO, "tests", "python"))
from range_server import RangeServer  # noqa: E402

CONFIG = "hidden=4096\nlayers=32\n"
# The layer a tensor case loads (any would do: each has its own storage).
LAYER = 7
FORMATS = ("hermetic", "torch.package")
CASES = ("small record", "one tensor")


def _build(fmt, path, gib, layers):
    import torch

    numel = int(gib * (1 << 30)) // layers // 4
    if fmt == "hermetic":
        from hermetic import PackageExporter
    else:
        from torch.package import PackageExporter
    with PackageExporter(path) as exporter:
        exporter.save_text("model", "config.txt", CONFIG)
        for i in range(layers):
            # Distinct bytes per layer, so no page is shared or all zero.
            exporter.save_pickle("model", f"layer{i}.pkl", torch.full((numel,), i + 0.5))


def _download(url, path):
    with urllib.request.urlopen(url) as response, open(path, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def load(params):
    """One case in a fresh process: params = {format, case, url, scratch}."""
    fmt, case, url = params["format"], params["case"], params["url"]
    result = {}
    # As everywhere in bench/: what each contender works with is imported
    # before the timer starts (torch for both, fsspec's HTTP client for
    # hermetic), so the figure is the transfer and the load.
    import torch  # noqa: F401

    if fmt == "hermetic":
        import fsspec.implementations.http  # noqa: F401

        import hermetic  # noqa: F401
    else:
        import torch.package  # noqa: F401

    def run():
        if fmt == "hermetic":
            from hermetic import PackageImporter

            importer = PackageImporter(url)
        else:
            from torch.package import PackageImporter

            _download(url, params["scratch"])
            importer = PackageImporter(params["scratch"])
        if case == "small record":
            result["ok"] = importer.load_text("model", "config.txt") == CONFIG
        else:
            tensor = importer.load_pickle("model", f"layer{LAYER}.pkl")
            result["ok"] = float(tensor[0]) == LAYER + 0.5

    seconds = common.timed(run)
    if not result["ok"]:
        raise SystemExit(f"{fmt} {case}: wrong content")
    if fmt != "hermetic":
        os.remove(params["scratch"])
    return {"seconds": seconds}


def measure(server, urls, scratch, runs):
    """{(format, case): (Stat of seconds, median bytes, median requests)},
    contenders round-robin within each run."""
    samples = {(fmt, case): ([], [], []) for fmt in FORMATS for case in CASES}
    for _ in range(runs):
        for (fmt, case), (seconds, sent, requests) in samples.items():
            server.reset()
            report = common.run_child("bench_remote.py", "load", {
                "format": fmt, "case": case, "url": urls[fmt], "scratch": scratch})
            seconds.append(report["seconds"])
            sent.append(server.sent)
            requests.append(server.requests)
    return {key: (common.Stat(s), common.Stat(b).median, common.Stat(r).median)
            for key, (s, b, r) in samples.items()}


def _mib(nbytes):
    return f"{nbytes / (1 << 20):.3f}" if nbytes < (1 << 20) else f"{nbytes / (1 << 20):.1f}"


def report(figures, sizes):
    rows = []
    for case in CASES:
        for fmt in FORMATS:
            stat, sent, requests = figures[(fmt, case)]
            rows.append([case, fmt, _mib(sent), f"{requests:.0f}", str(stat)])
        (h, hb, _), (t, tb, _) = figures[("hermetic", case)], figures[("torch.package", case)]
        rows.append([case, "torch.package / hermetic", f"{tb / hb:.0f}x",
                     "", common.ratio(t, h)])
    header = ["case", "reader", "MiB transferred", "requests", "seconds"]
    notes = [
        f"Package: {_mib(sizes['hermetic'])} MiB (hermetic's), "
        f"{_mib(sizes['torch.package'])} MiB (torch.package's), served by "
        "tests/python/range_server.py on 127.0.0.1. hermetic reads the URL "
        "through fsspec with Range requests; torch.package downloads the "
        "file, then loads it. Target: one small record < 1 MiB transferred."
    ]
    return common.table(header, rows), notes


def main():
    if common.child_main({"load": load}):
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="package size")
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where packages go (default: a temp dir)")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench_remote_", dir=args.dir)
    try:
        paths = {fmt: os.path.join(workdir, f"{fmt}.pt") for fmt in FORMATS}
        for fmt, path in paths.items():
            _build(fmt, path, args.gib, args.layers)
        sizes = {fmt: os.path.getsize(path) for fmt, path in paths.items()}
        with RangeServer() as server:
            urls = {}
            for fmt, path in paths.items():
                server.files[os.path.basename(path)] = path
                urls[fmt] = server.url(os.path.basename(path))
            started = time.perf_counter()
            figures = measure(server, urls, os.path.join(workdir, "download.pt"), args.runs)
        table, notes = report(figures, sizes)
        print(f"### Remote packages ({args.gib:g} GiB over HTTP on 127.0.0.1)\n")
        print(table)
        print("\n" + "\n".join(notes))
        print(f"\n({time.perf_counter() - started:.0f} s, {args.runs} fresh processes per figure)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
