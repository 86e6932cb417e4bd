"""hermetic.scan against picklescan, modelscan and fickling on the sample
catalogue (tests/python/package_catalogue.py). Not run by CI.

    python3 bench/scan_peers.py [--venv /work/venvs/peers] [--keep DIR]

Builds every sample into a temporary folder, installs the peers from PyPI
into a virtual environment if they are missing (``python3 -m venv
--system-site-packages VENV``, then its pip; scikit-learn too, for the one
sample that needs it), and runs each tool's command line on each sample,
twice: on the archive as a user would, and on its records extracted to a
folder (every record but sources and the format's own small text records;
fickling, which takes one pickle, is given each record pickletools reads
as a pickle, for tools that look only at files named like pickles or take
one pickle at a time). Each run is one of

    flagged      the tool reports the sample unsafe (its exit status)
    clean        it reports nothing (also when it found no file to read)
    cannot read  it crashed or said it could not parse what it was given

hermetic is hermetic.scan in this process: flagged when a finding is at or
above high (the CLI's default --fail-on); a benign sample counts as a false
positive from medium up. Prints a Markdown table, then the summary: the
malicious samples hermetic misses, the benign ones it flags, and the samples
a peer flags that hermetic misses (the goal: all three empty).
"""

import argparse
import datetime
import json
import os
import pathlib
import pickletools
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "python"))

import hermetic  # noqa: E402
import package_catalogue  # noqa: E402
from hermetic import _core  # noqa: E402

PEERS = ("picklescan", "modelscan", "fickling")
# Records of the format a user would not hand to a pickle scanner.
FRAMEWORK = {".data/version", ".data/extern_modules", ".data/python_version",
             ".data/serialization_id", "byteorder", ".data/hermetic/manifest",
             ".data/hermetic/signature"}
FLAGGED, CLEAN, UNREADABLE = "flagged", "clean", "cannot read"
TIMEOUT = 300


def ensure_venv(venv):
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                       check=True)
    missing = [p for p in PEERS if not (venv / "bin" / p).exists()]
    try:
        subprocess.run([str(python), "-c", "import sklearn"], check=True,
                       capture_output=True)
    except subprocess.CalledProcessError:
        missing.append("scikit-learn")
    if missing:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *missing], check=True)
    return python


def version(python, package):
    out = subprocess.run([str(python), "-c",
                          f"import importlib.metadata as m; print(m.version({package!r}))"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


BUILD_CHILD = """
import json, pathlib, sys
import package_catalogue as c
folder = pathlib.Path(sys.argv[1])
built = {}
for s in c.SAMPLES:
    try:
        built[s.name] = str(s.builder(folder))
    except c.SampleUnavailable as e:
        built[s.name] = None
print(json.dumps(built))
"""


def build_catalogue(python, folder):
    """{name: archive path or None}, built by the venv's interpreter (it has
    scikit-learn) with this checkout's hermetic."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "python"), str(ROOT / "tests" / "python")]))
    out = subprocess.run([str(python), "-c", BUILD_CHILD, str(folder)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def extract(archive, folder):
    """The records a pickle scanner could be given, as files under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    reader = _core.ArchiveReader(str(archive))
    files = []
    for name in reader.records():
        if name in FRAMEWORK or name.endswith(".py"):
            continue
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(reader.read(name))
        files.append(target)
    reader.close()
    return files


def run(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None


def picklescan(venv, path):
    out = run([str(venv / "bin" / "picklescan"), "-p", str(path)])
    if out is None or "Traceback" in out.stderr:
        return UNREADABLE
    return {0: CLEAN, 1: FLAGGED}.get(out.returncode, UNREADABLE)


def modelscan(venv, path):
    # 0 no issue, 1 issues, 2 errors while scanning, 3 no file it supports.
    out = run([str(venv / "bin" / "modelscan"), "-p", str(path)])
    if out is None or "Traceback" in out.stderr:
        return UNREADABLE
    return {0: CLEAN, 1: FLAGGED, 3: CLEAN}.get(out.returncode, UNREADABLE)


def fickling_file(venv, path, scratch):
    report = scratch / "fickling.json"
    report.unlink(missing_ok=True)
    out = run([str(venv / "bin" / "fickling"), "--check-safety", str(path),
               "--json-output", str(report)])
    if out is None or "Traceback" in out.stderr or "failed to parse" in out.stdout:
        return UNREADABLE
    if out.returncode == 0:
        return CLEAN
    if out.returncode == 1 and report.exists():
        return FLAGGED
    return UNREADABLE


def is_pickle(path):
    """Whether pickletools reads `path` as opcodes up to a STOP: what a user
    would hand to a tool that takes one pickle (fickling flags any other
    bytes, tensor storages and text included, as malformed pickles)."""
    try:
        for opcode, _, _ in pickletools.genops(path.read_bytes()):
            if opcode.name == "STOP":
                return True
    except Exception:  # genops raises ValueError and others on non-pickles
        return False
    return False


def fickling_records(venv, files, scratch):
    # Flagged if any pickle is; cannot read if every pickle it was given is.
    results = [fickling_file(venv, f, scratch) for f in files if is_pickle(f)]
    if FLAGGED in results:
        return FLAGGED
    if results and all(r == UNREADABLE for r in results):
        return UNREADABLE
    return CLEAN


def hermetic_result(path):
    report = hermetic.scan(path)
    worst = max((hermetic._scan._rank(f.severity) for f in report.findings), default=-1)
    return report, worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", default="/work/venvs/peers", type=pathlib.Path)
    parser.add_argument("--keep", type=pathlib.Path,
                        help="build the samples in this folder and keep it")
    args = parser.parse_args()

    venv = args.venv.resolve()
    python = ensure_venv(venv)
    versions = {p: version(python, p) for p in (*PEERS, "scikit-learn", "torch")}
    scratch_dir = tempfile.TemporaryDirectory() if args.keep is None else None
    folder = args.keep or pathlib.Path(scratch_dir.name)
    folder.mkdir(parents=True, exist_ok=True)
    built = build_catalogue(python, folder)

    columns = ["hermetic", "picklescan", "picklescan (records)", "modelscan",
               "modelscan (records)", "fickling", "fickling (records)"]
    rows = []
    misses, false_positives, peer_only = [], [], []
    for sample in package_catalogue.SAMPLES:
        path = built.get(sample.name)
        if path is None:
            rows.append((sample, {c: "unavailable" for c in columns}))
            continue
        path = pathlib.Path(path)
        records = folder / f"{sample.name}.records"
        files = extract(path, records)
        report, worst = hermetic_result(path)
        high = hermetic._scan._rank("high")
        cells = {
            "hermetic": FLAGGED if worst >= high else CLEAN,
            "picklescan": picklescan(venv, path),
            "picklescan (records)": picklescan(venv, records),
            "modelscan": modelscan(venv, path),
            "modelscan (records)": modelscan(venv, records),
            "fickling": fickling_file(venv, path, folder),
            "fickling (records)": fickling_records(venv, files, folder),
        }
        rows.append((sample, cells))
        if sample.kind == "malicious":
            if cells["hermetic"] != FLAGGED:
                misses.append(sample.name)
                peers = [c for c in columns[1:] if cells[c] == FLAGGED]
                if peers:
                    peer_only.append(f"{sample.name} ({', '.join(peers)})")
        elif worst >= hermetic._scan._rank("medium"):
            false_positives.append(sample.name)

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    revision = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "?"
    print(f"Measured {stamp}: hermetic at {revision}, "
          + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print()
    print("| sample | kind | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for sample, cells in rows:
        print(f"| {sample.name} | {sample.kind} | " + " | ".join(cells[c] for c in columns) + " |")
    print()
    for kind in ("malicious", "benign"):
        total = [cells for sample, cells in rows if sample.kind == kind
                 and "unavailable" not in cells.values()]
        counts = ", ".join(f"{c} {sum(cells[c] == FLAGGED for cells in total)}" for c in columns)
        print(f"{kind} samples flagged ({len(total)}): {counts}")
    print()
    print("malicious samples hermetic misses:", ", ".join(misses) or "none")
    print("benign samples hermetic flags (medium or above):", ", ".join(false_positives) or "none")
    print("samples a peer flags that hermetic misses:", ", ".join(peer_only) or "none")
    return 1 if misses or false_positives or peer_only else 0


if __name__ == "__main__":
    sys.exit(main())
