"""The main job: seal a model and its code into one file, then load it in a
fresh Python process that has no access to the model's source, and run it."""

import os
import shutil
import subprocess
import sys
import tempfile

from hermetic import PackageExporter
from sentiment.model import Scorer

SENTENCES = ["I love this great model", "what an awful, broken day",
             "nothing to see here"]

LOADER = """
import sys, time, warnings
t0 = time.perf_counter()
from hermetic import PackageImporter
imp = PackageImporter(sys.argv[1])
model = imp.load_pickle("model", "scorer.pkl")
label = imp.import_module("sentiment.model").label
t1 = time.perf_counter()
print(f"  loaded {type(model).__module__}.{type(model).__name__} "
      f"in {(t1 - t0) * 1e3:.1f} ms (importer {imp.id()})")
print(f"  'sentiment' importable outside the package: "
      f"{__import__('importlib.util').util.find_spec('sentiment') is not None}")
for text in sys.argv[2:]:
    score = model(text)
    print(f"  {score:+.1f} {label(score):8s} {text!r}")
try:
    from torch.package import PackageImporter as TorchImporter
except ImportError:
    sys.exit()
warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
theirs = TorchImporter(sys.argv[1]).load_pickle("model", "scorer.pkl")
same = all(theirs(t) == model(t) for t in sys.argv[2:])
print(f"  torch.package loads the same archive: {type(theirs).__module__}, "
      f"same scores: {same}")
"""


def main():
    workdir = tempfile.mkdtemp(prefix="hermetic-demo-")
    path = os.path.join(workdir, "sentiment.pt")
    model = Scorer()
    with PackageExporter(path) as exporter:
        exporter.intern("sentiment.**")
        exporter.extern(["torch.**"])
        exporter.save_pickle("model", "scorer.pkl", model)
        interned = exporter.interned_modules()
        externed = exporter.externed_modules()
    print(f"packaged {type(model).__name__} into {path} "
          f"({os.path.getsize(path):,} bytes)")
    print(f"  interned: {', '.join(interned)}")
    print(f"  externed: {', '.join(externed)}")

    cli = shutil.which("hermetic")
    if cli:
        print("records (hermetic ls):")
        out = subprocess.run([cli, "ls", path], check=True, text=True,
                             capture_output=True).stdout
        print("".join("  " + line + "\n" for line in out.splitlines()))

    print("loading in a fresh process, run from an empty folder:")
    subprocess.run([sys.executable, "-c", LOADER, path, *SENTENCES],
                   check=True, cwd=workdir)
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
