"""Saving and loading a ScriptModule: hermetic vs torch.package.

A scripted stack of 16 Linear(1024, 1024) layers (64 MiB of float32),
pickled alone, saved to a path and loaded back, each format in fresh
processes (median of --runs, default 5, run round-robin). hermetic writes
the module's storages itself and gives torch's loader its mapped views, so
a load reads only the TorchScript code records.

    PYTHONPATH=python python bench/bench_torchscript.py [--runs N]
"""

import argparse
import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

FORMATS = ("hermetic", "torch.package")


def _package(name):
    import torch.package

    import hermetic

    torch.package.package_exporter._gate_torchscript_serialization = False
    hermetic.package_exporter._gate_torchscript_serialization = False
    return hermetic if name == "hermetic" else torch.package


def child_case(params):
    import torch

    warnings.simplefilter("ignore")
    pkg = _package(params["format"])
    torch.manual_seed(0)
    model = torch.jit.script(
        torch.nn.Sequential(*[torch.nn.Linear(1024, 1024) for _ in range(16)]))
    path = params["path"]
    if os.path.exists(path):
        os.remove(path)
    os.sync()

    def save():
        with pkg.PackageExporter(path) as exporter:
            exporter.save_pickle("model", "model.pkl", model)

    loaded = []
    save_seconds = common.timed(save)
    load_seconds = common.timed(
        lambda: loaded.append(pkg.PackageImporter(path).load_pickle("model", "model.pkl")))
    x = torch.ones(1, 1024)
    assert torch.equal(loaded[0](x), model(x))
    return {"save": save_seconds, "load": load_seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        params = [{"format": name, "path": os.path.join(folder, f"{i}.pt")}
                  for i, name in enumerate(FORMATS)]
        stats = common.measure(os.path.basename(__file__), "case", params, args.runs,
                               keys=("save", "load"))
    ours, theirs = stats
    print(common.machine())
    print(common.table(
        ["format", "save (s)", "load (s)"],
        [[name, found["save"], found["load"]] for name, found in zip(FORMATS, stats)]))
    print(f"torch.package / hermetic: save {common.ratio(theirs['save'], ours['save'])}, "
          f"load {common.ratio(theirs['load'], ours['load'])}")


if __name__ == "__main__":
    if not common.child_main({"case": child_case}):
        main()
