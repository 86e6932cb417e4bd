"""Runs examples/cpp's `tensors` program on a package hermetic's exporter
writes from a torch state_dict, and checks what it prints against torch.

    python3 check_example.py WORKDIR PROGRAM...

Every PROGRAM (the example built different ways) must list each tensor with
torch's dtype and shape and print its first values as torch has them: a
float32 matrix, a row of it (a view at a storage offset), a transposed
float64 matrix (strides not in row-major order), int64 and float16 vectors.
"""

import subprocess
import sys
from pathlib import Path

import torch

from hermetic import PackageExporter

SHOWN = 8  # kValuesShown in tensors.cc


def value_text(value):
    # C++ streams print a double as printf's %g does.
    return "%g" % value if isinstance(value, float) else str(value)


def expected_values(tensor):
    values = tensor.flatten().tolist()
    text = " ".join(value_text(v) for v in values[:SHOWN])
    return "first values: " + text + (" ..." if len(values) > SHOWN else "")


def listing_line(name, tensor):
    dtype = str(tensor.dtype).removeprefix("torch.")
    return f"  {name}  {dtype} [{', '.join(map(str, tensor.shape))}]  .data/"


def main():
    work = Path(sys.argv[1])
    programs = sys.argv[2:]
    weight = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4
    state = {
        "weight": weight,
        "row": weight[2],
        "proj.weight": torch.arange(6, dtype=torch.float64).reshape(2, 3).t(),
        "steps": torch.tensor([-3, 7, 1 << 40], dtype=torch.int64),
        "half": torch.tensor([0.5, -2.0, 65504.0, 1e-7], dtype=torch.float16),
    }
    archive = work / "model.pt"
    with PackageExporter(str(archive)) as exporter:
        exporter.save_pickle("model", "state.pkl", state)

    failures = []
    for program in programs:
        for name, tensor in state.items():
            run = subprocess.run([program, str(archive), "model/state.pkl", name],
                                 capture_output=True, text=True)
            lines = run.stdout.splitlines()
            if run.returncode != 0:
                failures.append(f"{program} {name}: exit {run.returncode}: {run.stderr}")
                continue
            want = [f"model/state.pkl: {len(state)} tensors",
                    *(listing_line(n, t) for n, t in state.items()),
                    expected_values(tensor)]
            for line in want:
                if not any(got.startswith(line) for got in lines):
                    failures.append(f"{program} {name}: no line {line!r} in\n{run.stdout}")
        # A tensor the pickle does not hold is an error naming it.
        run = subprocess.run([program, str(archive), "model/state.pkl", "nope"],
                             capture_output=True, text=True)
        if run.returncode != 1 or "no tensor named nope" not in run.stderr:
            failures.append(f"{program} nope: exit {run.returncode}: {run.stderr}")
    if failures:
        sys.exit("\n".join(failures))
    print(subprocess.run([programs[0], str(archive), "model/state.pkl", "proj.weight"],
                         capture_output=True, text=True, check=True).stdout, end="")


if __name__ == "__main__":
    main()
