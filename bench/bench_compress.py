"""Compressed archives: size, export and load time of hermetic stored
(compress=False), hermetic deflated (compress=True and other levels) and
torch.package, on two code-heavy packages.

* W1 sympy: all of sympy interned (bench_code's export: intern "sympy.**",
  extern "mpmath.**" and everything else, save_module of every module);
  loading = a fresh importer imports every module (bench_code's W2).
* GPT-2: a tiny GPT-2 (2 layers, 32 wide) with transformers interned, the
  policy of tests/python/test_real_libraries.py; loading = a fresh
  PackageImporter(real_files=["transformers"], expose=["transformers"])
  and load_pickle of the model, then one forward pass. torch.package cannot
  load this package (transformers lists its own folder at import, which a
  torch.package module has not), so only its size and export are compared.

hermetic loads with a warm bytecode cache (a folder an untimed load of the
same archive filled; stored and deflated archives hold the same sources, so
they share the entries): compiling is then off the clock and reading the
source records, the part compression changes, weighs the most. Every figure
is timed in a fresh process (bench/common.py), contenders round-robin.

    PYTHONPATH=python python bench/bench_compress.py [--runs R] [--only w1|gpt2]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# (name, exporter, compress): the archives compared.
ARCHIVES = [
    ("hermetic stored", "hermetic", False),
    ("hermetic deflate 1", "hermetic", 1),
    ("hermetic deflate 6 (compress=True)", "hermetic", True),
    ("hermetic deflate 12", "hermetic", 12),
    ("torch.package", "torch", None),
]
# (archive, importer) pairs whose load is timed.
HERMETIC_LOADS = [
    ("hermetic stored", "hermetic"),
    ("hermetic deflate 1", "hermetic"),
    ("hermetic deflate 6 (compress=True)", "hermetic"),
]
TORCH_LOADS = [
    ("torch.package", "torch"),
    ("hermetic stored", "torch"),
    ("hermetic deflate 6 (compress=True)", "torch"),
]
LOADS = {"w1": HERMETIC_LOADS + TORCH_LOADS, "gpt2": HERMETIC_LOADS}

GPT2_EXTERNS = ["torch.**", "numpy.**", "safetensors.**", "huggingface_hub.**",
                "tokenizers.**", "packaging.**", "regex.**", "yaml.**", "tqdm.**",
                "requests.**", "filelock.**", "typing_extensions", "fsspec.**"]


def _exporter_class(contender):
    if contender == "torch":
        from torch.package import PackageExporter
    else:
        from hermetic import PackageExporter
    return PackageExporter


def _open_exporter(params):
    cls = _exporter_class(params["contender"])
    if params["contender"] == "torch":
        return cls(params["path"])
    return cls(params["path"], compress=params["compress"])


def w1_export_child(params):
    import bench_code

    modules = bench_code.sympy_modules()
    bench_code._import_environment_copies()
    sys.setrecursionlimit(20000)  # torch's scanner, see bench_code
    _exporter_class(params["contender"])

    def run():
        with _open_exporter(params) as exporter:
            bench_code.save_w1(exporter, modules)

    return {"seconds": common.timed(run)}


def w1_load_child(params):
    import bench_code

    return bench_code.import_child({"importer": params["importer"], "path": params["path"],
                                    "k": len(bench_code.sympy_modules()),
                                    **({"cache": "warm", "cache_dir": params["cache_dir"]}
                                       if params["importer"] == "hermetic" else {})})


def _gpt2():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64)
    return GPT2LMHeadModel(config).eval()


def gpt2_export_child(params):
    model = _gpt2()
    stdlib = sorted(sys.stdlib_module_names)
    _exporter_class(params["contender"])

    def run():
        with _open_exporter(params) as exporter:
            exporter.intern("transformers.**")
            exporter.extern(GPT2_EXTERNS + stdlib + [m + ".**" for m in stdlib])
            exporter.mock("**", exclude=["transformers.**"])
            exporter.save_pickle("model", "model.pkl", model)

    return {"seconds": common.timed(run)}


def gpt2_load_child(params):
    import torch

    # The real files of transformers, written by the untimed first load
    # (stored and deflated archives hold the same bytes: one folder).
    os.environ["HERMETIC_CACHE_DIR"] = params["cache_dir"]
    os.environ["HERMETIC_FILES_DIR"] = params["cache_dir"] + "-files"
    from hermetic import PackageImporter

    def run():
        importer = PackageImporter(params["path"], real_files=["transformers"],
                                   expose=["transformers"])
        model = importer.load_pickle("model", "model.pkl")
        with torch.no_grad():
            model(torch.arange(10).unsqueeze(0))

    return {"seconds": common.timed(run)}


CASES = {
    "w1_export": w1_export_child,
    "w1_load": w1_load_child,
    "gpt2_export": gpt2_export_child,
    "gpt2_load": gpt2_load_child,
}


def _workload(name, runs, workdir):
    """(rows of the size/export table, rows of the load table) of one
    workload."""
    paths = {archive: os.path.join(workdir, f"{name}-{i}.pt")
             for i, (archive, _, _) in enumerate(ARCHIVES)}
    exports = common.measure(
        "bench_compress.py", f"{name}_export",
        [{"contender": contender, "compress": compress, "path": paths[archive]}
         for archive, contender, compress in ARCHIVES],
        runs)
    export = {archive: stat for (archive, _, _), stat in zip(ARCHIVES, exports)}
    sizes = {archive: os.path.getsize(path) for archive, path in paths.items()}
    stored, torch_size = sizes["hermetic stored"], sizes["torch.package"]
    size_rows = [
        [archive, f"{sizes[archive] / 1e6:.1f}", f"{sizes[archive] / stored:.2f}",
         f"{sizes[archive] / torch_size:.2f}", export[archive],
         common.ratio(export[archive], export["hermetic stored"])]
        for archive, _, _ in ARCHIVES
    ]
    params = []
    for archive, importer in LOADS[name]:
        case = {"importer": importer, "path": paths[archive],
                "cache_dir": os.path.join(workdir, f"{name}-cache")}
        if importer == "hermetic":
            common.run_child("bench_compress.py", f"{name}_load", case)  # fills the cache
        params.append(case)
    loads = common.measure("bench_compress.py", f"{name}_load", params, runs)
    load = dict(zip(LOADS[name], loads))
    stored_load = load["hermetic stored", "hermetic"]
    load_rows = [
        [archive, importer, stat, common.ratio(stat, stored_load)]
        for (archive, importer), stat in load.items()
    ]
    return size_rows, load_rows


def run(runs, workdir, report, only=None):
    titles = {"w1": "W1 sympy (all modules interned)",
              "gpt2": "tiny GPT-2, transformers interned"}
    for name, title in titles.items():
        if only not in (None, name):
            continue
        size_rows, load_rows = _workload(name, runs, workdir)
        report(f"Compression, {title}: size and export",
               ["archive", "MB", "/ stored", "/ torch.package", "export (s)",
                "export / stored"],
               size_rows,
               ["Sizes of one export (the same bytes every time: exports are "
                "deterministic). Only sources, texts and pickles are deflated; tensor "
                "storages stay stored and 64-byte aligned."])
        report(f"Compression, {title}: load",
               ["archive", "importer", "load (s)", "/ hermetic on stored (target <= 1.10x)"],
               load_rows,
               ["hermetic with a warm bytecode cache."])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure")
    parser.add_argument("--only", choices=("w1", "gpt2"), default=None)
    args = parser.parse_args()

    def report(title, header, rows, notes):
        print("\n" + "\n\n".join([f"### {title}", common.table(header, rows), *notes]),
              flush=True)

    print(common.machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="hermetic-bench-compress-") as workdir:
        run(args.runs, workdir, report, args.only)


if __name__ == "__main__":
    if not common.child_main(CASES):
        main()
