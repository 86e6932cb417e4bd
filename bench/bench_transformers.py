"""W5: a tiny transformers GPT-2 packaged with the library interned (issue 12).

The model is built from a config (2 layers, 2 heads, 32-wide, vocabulary
100; random weights, seeded; nothing downloaded). Export: exporter created,
the policy lines, save_pickle of the model, archive written to a file, with
transformers *interned* (the README's lines: intern "transformers.**",
extern its dependencies and the standard library, mock the rest) and, for
comparison, *externed* (extern "transformers.**" only). torch and
transformers are imported and the model built before the timer starts.

torch.package exports the interned package but cannot load it
(transformers lists its own folder at import: FileNotFoundError on its
mangled `__file__`), so the load table sets hermetic loading the interned
package (`real_files=["transformers"], expose=["transformers"]`) beside
both contenders loading the externed one. Load: importer created and
load_pickle (which imports transformers, from the package or from
site-packages; torch is imported before the timer); first forward: the
model on 10 tokens under no_grad, checked against the exporter's output.

    PYTHONPATH=python python bench/bench_transformers.py [--runs 3]

Slow: one export child imports transformers (seconds) and torch.package's
interned export takes ~20 s, so the default is 3 runs (run.py uses its own
--runs).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

TARGET = 5.0
# The dependencies transformers imports at run time, externed beside the
# standard library (README "Packaging real libraries").
_EXTERNS = ["torch.**", "numpy.**", "safetensors.**", "huggingface_hub.**", "tokenizers.**",
            "packaging.**", "regex.**", "yaml.**", "tqdm.**", "requests.**", "filelock.**",
            "typing_extensions", "fsspec.**"]


def _model():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64)
    return GPT2LMHeadModel(config).eval()


def _tokens():
    import torch

    return torch.arange(10).unsqueeze(0)


def export_child(params):
    """One export of the model, transformers params["mode"] ("interned" or
    "externed"), with params["contender"]; the first run also saves the
    model's output to params["expected"]."""
    import torch

    model = _model()
    if params.get("expected"):
        with torch.no_grad():
            torch.save(model(_tokens()).logits, params["expected"])
    if params["contender"] == "torch":
        from torch.package import PackageExporter
    else:
        from hermetic import PackageExporter
    stdlib = sorted(sys.stdlib_module_names)

    def run():
        with PackageExporter(params["path"]) as exporter:
            if params["mode"] == "interned":
                exporter.intern("transformers.**")
                exporter.extern(_EXTERNS + stdlib + [m + ".**" for m in stdlib])
                exporter.mock("**", exclude=["transformers.**"])
            else:
                exporter.extern("transformers.**")
            exporter.save_pickle("model", "model.pkl", model)

    return {"seconds": common.timed(run)}


def load_child(params):
    """load_pickle of the model with params["contender"], then its first
    forward; reports both times and whether the output matches."""
    import torch

    if params["contender"] == "torch":
        from torch.package import PackageImporter

        options = {}
    else:
        from hermetic import PackageImporter

        options = ({"real_files": ["transformers"], "expose": ["transformers"]}
                   if params["mode"] == "interned" else {})
    result = {}

    def load():
        result["model"] = PackageImporter(params["path"], **options).load_pickle(
            "model", "model.pkl")

    def forward():
        with torch.no_grad():
            result["logits"] = result["model"](_tokens()).logits

    report = {"seconds": common.timed(load)}
    # No memory touch between load and forward: the forward follows the load
    # as it does in use.
    start = time.perf_counter()
    forward()
    report["forward"] = time.perf_counter() - start
    report["matches"] = bool(torch.allclose(result["logits"], torch.load(params["expected"])))
    # Whether any module of the installed copy was imported (the interned
    # package must not reach for it; `expose` registers the packaged one as
    # `transformers`, with its files in hermetic's cache).
    report["site_transformers"] = any(
        name.partition(".")[0] == "transformers" and
        "site-packages" in str(getattr(module, "__file__", ""))
        for name, module in list(sys.modules.items()))
    return report


def torch_interned_load_child(params):
    """What torch.package's load of the interned package raises."""
    from torch.package import PackageImporter

    try:
        PackageImporter(params["path"]).load_pickle("model", "model.pkl")
    except Exception as error:  # the failure is the result
        return {"error": f"{type(error).__name__}: {error}"[:120]}
    return {"error": None}


CASES = {"export": export_child, "load": load_child,
         "torch_interned_load": torch_interned_load_child}


def run(runs, workdir, report):
    """W5 export and load tables; report(title, header, rows, notes)."""
    import importlib.metadata

    expected = os.path.join(workdir, "gpt2-expected.pt")
    paths = {(c, m): os.path.join(workdir, f"gpt2-{m}-{c}.pt")
             for c in ("hermetic", "torch") for m in ("interned", "externed")}
    common.run_child("bench_transformers.py", "export",
                     {"contender": "hermetic", "mode": "externed", "expected": expected,
                      "path": paths["hermetic", "externed"]})
    export_rows = []
    for mode in ("interned", "externed"):
        stats = dict(zip(("hermetic", "torch"), common.measure(
            "bench_transformers.py", "export",
            [{"contender": c, "mode": mode, "path": paths[c, mode]}
             for c in ("hermetic", "torch")], runs)))
        export_rows.append([f"transformers {mode}", stats["hermetic"], stats["torch"],
                            common.ratio(stats["torch"], stats["hermetic"])])
        print(f"  W5 {mode} export done", file=sys.stderr, flush=True)
    report(
        "W5 transformers GPT-2 export (s)",
        ["package", "hermetic", "torch.package", f"torch/hermetic (target >= {TARGET:g}x)"],
        export_rows,
        [f"transformers {importlib.metadata.version('transformers')}; each contender "
         "exports in its own process, torch and transformers imported and the model "
         "built before the timer."])

    cases = [("hermetic", "interned"), ("hermetic", "externed"), ("torch", "externed")]
    measured = dict(zip(cases, common.measure(
        "bench_transformers.py", "load",
        [{"contender": c, "mode": m, "path": paths[c, m], "expected": expected}
         for c, m in cases], runs, keys=("seconds", "forward"))))
    checks = {case: common.run_child("bench_transformers.py", "load",
                                     {"contender": case[0], "mode": case[1],
                                      "path": paths[case], "expected": expected})
              for case in cases}
    failure = common.run_child("bench_transformers.py", "torch_interned_load",
                               {"path": paths["torch", "interned"]})["error"]
    rows = []
    for case in cases:
        found, check = measured[case], checks[case]
        rows.append([f"{case[0]}, transformers {case[1]}", found["seconds"], found["forward"],
                     "yes" if check["matches"] else "**NO**",
                     "yes" if check["site_transformers"] else "no"])
    rows.append(["torch.package, transformers interned", "fails", "-", "-", "-"])
    hermetic_interned = measured["hermetic", "interned"]["seconds"]
    torch_externed = measured["torch", "externed"]["seconds"]
    report(
        "W5 transformers GPT-2 load and first forward (s)",
        ["package loaded by", "load_pickle", "first forward", "output matches",
         "installed transformers imported"],
        rows,
        [f"torch.package on its interned package: `{failure}`.",
         "hermetic loading the interned package takes "
         f"{hermetic_interned.median / torch_externed.median:.2f}x the time torch.package "
         "takes to load the externed one; on the externed package, torch/hermetic is "
         f"{common.ratio(torch_externed, measured['hermetic', 'externed']['seconds'])}."])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import tempfile

    def report(title, header, rows, notes):
        print("\n\n".join([f"### {title}", common.table(header, rows), *notes]), flush=True)

    print(f"{common.machine()}; {args.runs} fresh processes per figure", flush=True)
    with tempfile.TemporaryDirectory(prefix="hermetic-bench-transformers-") as workdir:
        run(args.runs, workdir, report)


if __name__ == "__main__":
    if not common.child_main(CASES):
        main()
