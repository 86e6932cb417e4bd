"""save_pickle of many small objects: hermetic vs torch.package vs pickle.

Pickles a list of N small objects (instances of a plain class, and tuples)
into a package in memory. Printed per case: seconds (best of --repeat) for
hermetic's PackageExporter.save_pickle, torch.package's (when torch is
installed), and plain pickle.dumps (the floor), then the two ratios the
targets name: torch / hermetic (target >= 5) and hermetic / pickle.dumps
(target <= 1.5).

    PYTHONPATH=python python bench/bench_export.py [--n N] [--repeat R]
"""

import argparse
import io
import pickle
import sys
import time



class Small:
    def __init__(self, i):
        self.i = i
        self.name = str(i)


def _best(run, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _save_with(exporter_class, obj):
    def run():
        with exporter_class(io.BytesIO()) as exporter:
            exporter.extern("__main__")
            exporter.save_pickle("res", "objs.pkl", obj)

    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from hermetic import PackageExporter

    try:
        from torch.package import PackageExporter as TorchExporter
    except ImportError:
        TorchExporter = None

    cases = {
        "objects": [Small(i) for i in range(args.n)],
        "tuples": [(i, str(i)) for i in range(args.n)],
    }
    for name, obj in cases.items():
        plain = _best(lambda: pickle.dumps(obj, 3), args.repeat)
        ours = _best(_save_with(PackageExporter, obj), args.repeat)
        line = f"{name} x{args.n}: hermetic {ours:.3f}s  pickle.dumps {plain:.3f}s"
        if TorchExporter is not None:
            theirs = _best(_save_with(TorchExporter, obj), 1)
            line += f"  torch.package {theirs:.3f}s  torch/hermetic {theirs / ours:.1f}x"
        line += f"  hermetic/pickle {ours / plain:.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
