"""W1 and W2: packaging sympy's code, and importing it from the package.

W1 (code export): a package interning the first k of sympy's modules
(intern "sympy.**", extern "mpmath.**" and everything else), save_module of
each, written to a file. W2 (code import): a fresh importer imports every
one of those k modules from the archive; hermetic and torch.package both
read both archives. Neither archive carries bytecode (hermetic writes it
only when asked, and never runs it untrusted): hermetic compiles the
sources into its local bytecode cache. Its "cold" figure starts each
process with an empty cache folder (compile and store every module), its
"warm" one with a folder filled by an earlier, untimed import of the same
archive.

The environment's sympy is imported before the timed call in every child, so
that neither contender is charged for importing the modules it exports or
the extern modules packaged code uses; torch is imported before timing too
when a torch.package class is used. Run through run.py, or by hand:

    PYTHONPATH=python python bench/bench_code.py [--k K]   # one quick round
"""

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import time
import warnings
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# Not importable as plain modules in this environment: need pyglet, are
# example scripts that run computations on import (and have a '-' in their
# folder name), or only raise ImportError by design.
_SKIPPED = ("sympy.galgebra", "sympy.conftest", "sympy.this", "sympy.plotting.pygletplot")
_SKIPPED_FOLDERS = ("tests", "benchmarks", "__pycache__", "test-examples")


def sympy_modules():
    """sympy's module names in a fixed order (a sorted walk of its folder)."""
    spec = importlib.util.find_spec("sympy")
    root = os.path.dirname(spec.origin)
    names = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if name not in _SKIPPED_FOLDERS)
        package = os.path.relpath(folder, os.path.dirname(root)).replace(os.sep, ".")
        for file in sorted(files):
            if file.endswith(".py"):
                names.append(package if file == "__init__.py" else f"{package}.{file[:-3]}")
    return [
        name
        for name in names
        if not any(name == skip or name.startswith(skip + ".") for skip in _SKIPPED)
    ]


def _import_environment_copies():
    """Imports all of the environment's sympy, so that children of every
    size start with the same modules (and the externs sympy uses, among
    them torch: sympy.printing.pytorch imports it) already loaded."""
    warnings.simplefilter("ignore")
    for name in sympy_modules():
        importlib.import_module(name)


class _MirrorToSysModules(weakref.WeakValueDictionary):
    """A registry of packaged modules (both importers keep one, keyed by
    mangled name and filled before a module's code runs) that also enters
    each module into sys.modules.

    sympy's @public decorator looks a class's module up in sys.modules,
    which neither torch.package nor hermetic fill, so the packaged sympy
    could not be imported at all. Both contenders get this same registry.
    """

    def __setitem__(self, mangled_name, module):
        super().__setitem__(mangled_name, module)
        sys.modules[mangled_name] = module


def save_w1(exporter, modules):
    """W1's policy and saves, for every benchmark that exports W1."""
    exporter.intern("sympy.**")
    exporter.extern("mpmath.**")
    exporter.extern("**")
    for name in modules:
        exporter.save_module(name)


def export_child(params):
    """W1: one export of the first k modules with params["contender"]."""
    modules = sympy_modules()[: params["k"]]
    _import_environment_copies()
    # torch's dependency scanner recurses on the AST and overflows the
    # default limit on sympy.polys.numberfields.resolvent_lookup.
    sys.setrecursionlimit(20000)
    if params["contender"] == "torch":
        from torch.package import PackageExporter
    else:
        from hermetic import PackageExporter


    def run():
        with PackageExporter(params["path"]) as exporter:
            save_w1(exporter, modules)

    return {"seconds": common.timed(run)}


def import_child(params):
    """W2: a fresh importer of params["importer"] imports all k modules;
    hermetic with params["cache"]: "cold" (a new empty cache folder in
    params["cache_dir"]) or "warm" (the cache folder params["cache_dir"])."""
    modules = sympy_modules()[: params["k"]]
    _import_environment_copies()
    cache = params.get("cache")
    if cache == "cold":
        import tempfile

        os.makedirs(params["cache_dir"], exist_ok=True)
        os.environ["HERMETIC_CACHE_DIR"] = tempfile.mkdtemp(dir=params["cache_dir"])
    elif cache == "warm":
        os.environ["HERMETIC_CACHE_DIR"] = params["cache_dir"]
    if params["importer"] == "torch":
        from torch.package import PackageImporter, package_importer
    else:
        from hermetic import PackageImporter, package_importer
    package_importer._package_imported_modules = _MirrorToSysModules()

    def run():
        importer = PackageImporter(params["path"])
        for name in modules:
            importer.import_module(name)

    report = {"seconds": common.timed(run)}
    if cache is not None:
        # The cache writes new entries from a thread, which interpreter exit
        # waits for: the part of that left when the imports are done.
        from hermetic import _bytecode_cache

        start = time.perf_counter()
        _bytecode_cache.flush()
        report["write_wait"] = time.perf_counter() - start
    return report


_CODE_ONLY_MODULE = """\
import collections
import json


def histogram(words):
    return json.dumps(collections.Counter(words), sort_keys=True)
"""


def no_torch_child(params):
    """Exports and loads a code-only package with hermetic; reports whether
    torch got imported."""
    folder = os.path.join(params["dir"], "code_only_src")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "bench_code_only.py"), "w") as file:
        file.write(_CODE_ONLY_MODULE)
    sys.path.insert(0, folder)
    from hermetic import PackageExporter, PackageImporter

    path = os.path.join(params["dir"], "code_only.pt")
    with PackageExporter(path) as exporter:
        exporter.intern("bench_code_only")
        exporter.save_module("bench_code_only")
    module = PackageImporter(path).import_module("bench_code_only")
    assert module.histogram(["a", "b", "a"]) == '{"a": 2, "b": 1}'
    return {"torch_free": "torch" not in sys.modules}


def import_torch_child(params):
    """What a code-only hermetic package saves by not importing torch."""
    return {"seconds": common.timed(lambda: importlib.import_module("torch"))}


CASES = {
    "export": export_child,
    "import": import_child,
    "no_torch": no_torch_child,
    "import_torch": import_torch_child,
}


def run(sizes, runs, workdir, report):
    """Runs W1 then W2 over `sizes` (module counts); report(title, header,
    rows, notes) receives the tables."""
    total = len(sympy_modules())
    w1_rows, w2_rows = [], []
    for k in common.fraction_sizes(total, sizes):
        paths = {c: os.path.join(workdir, f"sympy-{k}-{c}.pt") for c in ("hermetic", "torch")}
        w1 = dict(
            zip(
                paths,
                common.measure(
                    "bench_code.py",
                    "export",
                    [{"contender": c, "k": k, "path": path} for c, path in paths.items()],
                    runs,
                ),
            )
        )
        w1_rows.append(
            [k, w1["hermetic"], w1["torch"], common.ratio(w1["torch"], w1["hermetic"])]
        )
        # (archive writer, importer, hermetic's cache state)
        cases = [
            ("hermetic", "hermetic", "warm"),
            ("hermetic", "hermetic", "cold"),
            ("torch", "hermetic", "warm"),
            ("torch", "torch", None),
            ("hermetic", "torch", None),
        ]
        params = []
        for writer, importer, cache in cases:
            case = {"importer": importer, "k": k, "path": paths[writer]}
            if cache is not None:
                folder = os.path.join(workdir, f"cache-{k}-{writer}-{cache}")
                case.update(cache=cache, cache_dir=folder)
            if cache == "warm":
                common.run_child("bench_code.py", "import", case)  # fills the cache, untimed
            params.append(case)
        measured = common.measure("bench_code.py", "import", params, runs,
                                  keys=("seconds", "write_wait"))
        w2 = {case: found["seconds"] for case, found in zip(cases, measured)}
        warm, cold = w2["hermetic", "hermetic", "warm"], w2["hermetic", "hermetic", "cold"]
        cold_wait = dict(zip(cases, measured))["hermetic", "hermetic", "cold"]["write_wait"]
        torch_own = w2["torch", "torch", None]
        w2_rows.append(
            [
                k,
                warm,
                cold,
                cold_wait,
                w2["torch", "hermetic", "warm"],
                torch_own,
                w2["hermetic", "torch", None],
                common.ratio(torch_own, warm),
                common.ratio(torch_own, cold),
                common.ratio(torch_own, w2["torch", "hermetic", "warm"]),
            ]
        )
        print(f"  W1/W2 {k} modules done", file=sys.stderr, flush=True)
    notes = [f"sympy {importlib.metadata.version('sympy')}, {total} modules in the full set."]
    report(
        "W1 code export (s)",
        ["modules", "hermetic", "torch.package", "torch/hermetic (target >= 30x)"],
        w1_rows,
        notes,
    )
    report(
        "W2 code import (s)",
        [
            "modules",
            "hermetic on hermetic archive, warm cache",
            "hermetic on hermetic archive, cold cache",
            "cold: cache writes still queued at the end (exit waits)",
            "hermetic on torch archive, warm cache",
            "torch on torch archive",
            "torch on hermetic archive",
            "torch/hermetic, own archives, warm (target >= 2.5x)",
            "torch/hermetic, own archives, cold (target >= 1x)",
            "torch/hermetic, torch archive, warm",
        ],
        w2_rows,
        [
            "No archive carries bytecode. hermetic compiles packaged source into its local "
            "bytecode cache: cold = an empty cache folder in every process, warm = a folder "
            "an untimed import of the same archive filled. Cold imports hand new entries to "
            "the cache's writer process (after the first 32, written in place); the fourth column is how long waiting for the ones "
            "still queued when the imports end takes (interpreter exit does that wait)."
        ],
    )


def check_no_torch(workdir, runs):
    """(whether a code-only package was exported and loaded without torch
    being imported, Stat of `import torch` in a fresh process)."""
    report = common.run_child("bench_code.py", "no_torch", {"dir": workdir})
    (torch_import,) = common.measure("bench_code.py", "import_torch", [{}], runs)
    return report["torch_free"], torch_import


if __name__ == "__main__":
    if not common.child_main(CASES):
        import argparse
        import tempfile

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--k", type=int, default=None, help="module count (default: all)")
        args = parser.parse_args()
        k = args.k or len(sympy_modules())
        with tempfile.TemporaryDirectory() as workdir:
            for contender in ("hermetic", "torch"):
                path = os.path.join(workdir, f"{contender}.pt")
                params = {"contender": contender, "k": k, "path": path}
                print("export", contender, common.run_child("bench_code.py", "export", params))
                cache_dir = os.path.join(workdir, f"cache-{contender}")
                # The first warm run fills the folder (cold runs use new
                # folders below it).
                for importer, cache in (("hermetic", "cold"), ("hermetic", "warm"),
                                        ("hermetic", "warm"), ("torch", None)):
                    params = {"importer": importer, "k": k, "path": path}
                    if cache is not None:
                        params.update(cache=cache, cache_dir=cache_dir)
                    print(f"import {importer} <- {contender} {cache or ''}",
                          common.run_child("bench_code.py", "import", params))
