"""Scanning the W1 package: `hermetic scan` and `hermetic.scan(path)` on the
archive of all of sympy's modules (bench_code's W1 export, written by
hermetic), target < 0.2 s.

torch.package has no scanner, so the figures printed next to hermetic's are
what torch.package takes just to open the same package and list its records
(`PackageImporter(path)` and `zip_reader.get_all_records()`, torch imported
before the timer), and the startup of `python -c pass`: the scan of 789
modules reads and tokenizes 16 MB of source and reports ~17,000 findings,
and costs about one interpreter startup.

    PYTHONPATH=python python bench/bench_scan.py [--runs 5]

The CLI is $HERMETIC_CLI, else build/dev/hermetic. Its figure and python's
are the wall time of a whole fresh process (started from this one); the
two Python calls are timed inside fresh children, after touching memory
like every other child (common.py).
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

TARGET_SECONDS = 0.2


def cli_path():
    return os.environ.get("HERMETIC_CLI") or os.path.join(common.REPO, "build", "dev", "hermetic")


def scan_child(params):
    import hermetic

    report = {}

    def run():
        report["findings"] = len(hermetic.scan(params["path"]).findings)

    return {"seconds": common.timed(run), **report}


def torch_list_child(params):
    from torch.package import PackageImporter

    def run():
        PackageImporter(params["path"]).zip_reader.get_all_records()

    return {"seconds": common.timed(run)}


CASES = {"scan": scan_child, "torch_list": torch_list_child}


def _process_seconds(command):
    start = time.perf_counter()
    done = subprocess.run(command, env=common.child_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    # `hermetic scan` exits 1 when a finding is at or above --fail-on.
    if done.returncode not in (0, 1):
        raise common.ChildError(f"{command} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def run(runs, workdir, report):
    """Exports W1 with hermetic, then times the contenders round-robin."""
    import bench_code

    path = os.path.join(workdir, "sympy-scan.pt")
    k = len(bench_code.sympy_modules())
    common.run_child("bench_code.py", "export", {"contender": "hermetic", "k": k, "path": path})
    cli = cli_path()
    samples = {"cli": [], "scan": [], "torch_list": [], "python": []}
    findings = None
    for _ in range(runs):
        samples["cli"].append(_process_seconds([cli, "scan", path]))
        child = common.run_child("bench_scan.py", "scan", {"path": path})
        samples["scan"].append(child["seconds"])
        findings = child["findings"]
        samples["torch_list"].append(
            common.run_child("bench_scan.py", "torch_list", {"path": path})["seconds"])
        samples["python"].append(_process_seconds([sys.executable, "-c", "pass"]))
    stats = {name: common.Stat(values) for name, values in samples.items()}

    def verdict(stat):
        return "yes" if stat.median < TARGET_SECONDS else "**no**"

    rows = [
        ["`hermetic scan` (whole process)", stats["cli"], verdict(stats["cli"]),
         common.ratio(stats["cli"], stats["python"]),
         common.ratio(stats["cli"], stats["torch_list"])],
        ["`hermetic.scan(path)` (the call)", stats["scan"], verdict(stats["scan"]),
         common.ratio(stats["scan"], stats["python"]),
         common.ratio(stats["scan"], stats["torch_list"])],
        ["torch.package: open + list records (the call)", stats["torch_list"], "", "", ""],
        ["`python -c pass` (whole process)", stats["python"], "", "", ""],
    ]
    report(
        "Scan of the W1 package (s)",
        ["what", "seconds", f"< {TARGET_SECONDS} s", "/ python startup", "/ torch open+list"],
        rows,
        [f"{k} sympy modules, {os.path.getsize(path) / 1e6:.1f} MB archive, {findings} "
         "findings. torch.package has no scanner: its figure is only opening the package "
         "and listing its records."],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import tempfile

    def report(title, header, rows, notes):
        print("\n\n".join([f"### {title}", common.table(header, rows), *notes]))

    with tempfile.TemporaryDirectory(prefix="hermetic-bench-scan-") as workdir:
        run(args.runs, workdir, report)


if __name__ == "__main__":
    if not common.child_main(CASES):
        main()
