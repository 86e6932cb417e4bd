"""The benchmark suite: hermetic against torch.package in one run.

    python bench/run.py [--quick] [--sizes N] [--runs R] [--skip-others]

W1 code export and W2 code import (sympy), the scan of the W1 package, W3
object pickles, a check that a code-only package never imports torch, W5
(a tiny transformers GPT-2 interned, if transformers is installed), then
the archive, tensor (W4), compression and remote-package benchmarks. Every figure is the median (min-max) of R >= 5 fresh-process
runs. Tables go to stdout and, unless --no-readme, into bench/README.md.
"""

import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SYMPY_VERSION = "1.14.0"
_README = os.path.join(common.BENCH_DIR, "README.md")
_BEGIN = "<!-- results:begin -->"
_END = "<!-- results:end -->"


def _ensure_sympy():
    try:
        version = importlib.metadata.version("sympy")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version == SYMPY_VERSION:
        return
    print(f"installing sympy=={SYMPY_VERSION} (found {version})", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", f"sympy=={SYMPY_VERSION}"], check=True
    )


def _other_benchmarks(quick):
    """(script, arguments) of the benchmarks owned elsewhere, if present."""
    others = [
        ("bench_archive.py", ["--gib", "0.25"] if quick else []),
        ("bench_tensors.py", ["--scale", "0.25"] if quick else []),
        ("bench_compress.py", ["--only", "w1"] if quick else []),
        ("bench_remote.py", ["--gib", "0.25"] if quick else []),
    ]
    return [
        (script, arguments)
        for script, arguments in others
        if os.path.exists(os.path.join(common.BENCH_DIR, script))
    ]


def _run_other(script, arguments):
    command = [sys.executable, os.path.join(common.BENCH_DIR, script), *arguments]
    print(f"\n$ {' '.join(['python', 'bench/' + script, *arguments])}", flush=True)
    done = subprocess.run(command, env=common.child_env(), capture_output=True, text=True)
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return f"{script} failed with exit code {done.returncode}"
    return done.stdout


def _write_readme(text):
    with open(_README) as file:
        readme = file.read()
    begin, end = readme.index(_BEGIN) + len(_BEGIN), readme.index(_END)
    with open(_README, "w") as file:
        file.write(readme[:begin] + "\n" + text + "\n" + readme[end:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="W1/W2 on all of sympy only, W3 at 1e4, 1e5, 1e6 objects, "
                        "smaller archive and tensor runs")
    parser.add_argument("--sizes", type=int, default=None,
                        help="sizes per scaling series (default 10; --quick: 1 and 3)")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure")
    parser.add_argument("--only", choices=("code", "scan", "pickles", "transformers"),
                        default=None)
    parser.add_argument("--skip-others", action="store_true",
                        help="skip bench_archive.py, bench_tensors.py, bench_compress.py and bench_remote.py")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be >= 5: figures are medians of at least 5 runs")
    code_sizes = args.sizes or (1 if args.quick else 10)
    pickle_sizes = args.sizes or (3 if args.quick else 10)

    _ensure_sympy()
    import bench_code
    import bench_pickles
    import bench_scan

    started = datetime.datetime.now(datetime.timezone.utc)
    sections = [
        f"Run {started:%Y-%m-%d %H:%M} UTC on {common.machine()}, torch "
        f"{importlib.metadata.version('torch')}, sympy {SYMPY_VERSION}. Command: "
        f"`python bench/run.py {' '.join(sys.argv[1:])}`. Seconds: median (min-max) of "
        f"{args.runs} fresh processes."
    ]

    def add(text):
        sections.append(text)
        # Written after every section: a long run stopped midway keeps the
        # tables it finished.
        if not args.no_readme:
            _write_readme("\n\n".join(sections))

    def report(title, header, rows, notes):
        text = "\n\n".join([f"### {title}", common.table(header, rows), *notes])
        print("\n" + text, flush=True)
        add(text)

    with tempfile.TemporaryDirectory(prefix="hermetic-bench-") as workdir:
        if args.only in (None, "code"):
            torch_free, torch_import = bench_code.check_no_torch(workdir, args.runs)
            report(
                "Code-only package without torch",
                ["torch imported by hermetic export + load", "`import torch` saved (s)"],
                [["no" if torch_free else "**YES (broken)**", torch_import]],
                [],
            )
            bench_code.run(code_sizes, args.runs, workdir, report)
        if args.only in (None, "scan"):
            bench_scan.run(args.runs, workdir, report)
        if args.only in (None, "pickles"):
            sizes = common.log_sizes(10_000, 1_000_000, pickle_sizes)
            bench_pickles.run(sizes, args.runs, workdir, report)
        if args.only in (None, "transformers") and importlib.util.find_spec("transformers"):
            import bench_transformers

            bench_transformers.run(args.runs, workdir, report)
    if not args.skip_others and args.only is None:
        for script, arguments in _other_benchmarks(args.quick):
            output = _run_other(script, arguments)
            add(f"### {script} {' '.join(arguments)}\n\n```\n{output.strip()}\n```")


if __name__ == "__main__":
    main()
