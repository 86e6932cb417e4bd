"""W3: pickling many small objects of a packaged class, and loading them.

n instances of a class from a module the package interns, each in a small
dict, in lists of 100 under one dict. Export: exporter created, save_pickle,
archive written to a file. Load: importer created, load_pickle (which
imports the class's module from the package). The floor is plain
pickle.dumps / pickle.loads (protocol 3, as the exporters use) of the same
objects, with the class's module already imported. torch is imported before
timing in torch.package children.

    PYTHONPATH=python python bench/bench_pickles.py [--n N]   # one round
"""

import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CONTENDERS = ("hermetic", "torch", "pickle")
_MODULE = "bench_w3_types"
_SOURCE = """\
class Point:
    def __init__(self, x, y, label):
        self.x = x
        self.y = y
        self.label = label
"""


def _import_types(workdir):
    folder = os.path.join(workdir, "w3src")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{_MODULE}.py")
    if not os.path.exists(path):
        with open(path, "w") as file:
            file.write(_SOURCE)
    sys.path.insert(0, folder)
    return __import__(_MODULE)


def _objects(types_module, n):
    point = types_module.Point
    items = [{"id": i, "point": point(i, i * 0.5, f"p{i}")} for i in range(n)]
    return {"groups": [items[i : i + 100] for i in range(0, n, 100)]}


def _count(objects):
    return sum(len(group) for group in objects["groups"])


def _classes(contender):
    if contender == "torch":
        from torch.package import PackageExporter, PackageImporter
    else:
        from hermetic import PackageExporter, PackageImporter
    return PackageExporter, PackageImporter


def export_child(params):
    contender, path = params["contender"], params["path"]
    objects = _objects(_import_types(params["dir"]), params["n"])
    if contender == "pickle":
        result = {}

        def run():
            result["data"] = pickle.dumps(objects, protocol=3)

        seconds = common.timed(run)
        with open(path, "wb") as file:
            file.write(result["data"])
        return {"seconds": seconds}
    exporter_class, _ = _classes(contender)

    def run():
        with exporter_class(path) as exporter:
            exporter.intern(_MODULE)
            exporter.save_pickle("w3", "objects.pkl", objects)

    return {"seconds": common.timed(run)}


def load_child(params):
    contender, path = params["contender"], params["path"]
    result = {}
    if contender == "pickle":
        _import_types(params["dir"])
        with open(path, "rb") as file:
            data = file.read()

        def run():
            result["objects"] = pickle.loads(data)

    else:
        _, importer_class = _classes(contender)

        def run():
            result["objects"] = importer_class(path).load_pickle("w3", "objects.pkl")

    seconds = common.timed(run)
    assert _count(result["objects"]) == params["n"]
    return {"seconds": seconds}


CASES = {"export": export_child, "load": load_child}


def run(sizes, runs, workdir, report):
    """W3 over object counts `sizes`; report(title, header, rows, notes)."""
    rows = {"export": [], "load": []}
    for n in sizes:
        for op in ("export", "load"):
            params = [
                {
                    "contender": contender,
                    "n": n,
                    "dir": workdir,
                    "path": os.path.join(workdir, f"w3-{n}-{contender}.bin"),
                }
                for contender in CONTENDERS
            ]
            stats = dict(
                zip(CONTENDERS, common.measure("bench_pickles.py", op, params, runs))
            )
            rows[op].append(
                [
                    f"{n:,}",
                    stats["hermetic"],
                    stats["torch"],
                    stats["pickle"],
                    common.ratio(stats["torch"], stats["hermetic"]),
                    common.ratio(stats["hermetic"], stats["pickle"]),
                ]
            )
        print(f"  W3 {n} objects done", file=sys.stderr, flush=True)
    for op, floor in (("export", "pickle.dumps"), ("load", "pickle.loads")):
        report(
            f"W3 object pickles, {op} (s)",
            [
                "objects",
                "hermetic",
                "torch.package",
                floor,
                "torch/hermetic (target >= 5x)",
                f"hermetic/{floor} (target <= 1.5x)",
            ],
            rows[op],
            [],
        )


if __name__ == "__main__":
    if not common.child_main(CASES):
        import argparse
        import tempfile

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--n", type=int, default=100_000)
        args = parser.parse_args()
        with tempfile.TemporaryDirectory() as workdir:
            for op in CASES:
                for contender in CONTENDERS:
                    params = {
                        "contender": contender,
                        "n": args.n,
                        "dir": workdir,
                        "path": os.path.join(workdir, f"{contender}.bin"),
                    }
                    print(op, contender, common.run_child("bench_pickles.py", op, params))
