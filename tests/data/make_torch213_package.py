"""Regenerates torch213_package.pt, the archive torch.package itself wrote.

The C++ reader test and the differential catalogues read this archive as the
reference for what torch 2.13's PackageExporter emits. Run with torch 2.13:

    python3 tests/data/make_torch213_package.py [OUT]

OUT defaults to the file beside this script. Two records differ from
machine to machine: `.data/python_version` (the interpreter's) and
`.data/serialization_id` (derived from every record's CRC-32, that one
included); everything else is deterministic, which
tests/python/test_test_data.py checks.
"""

import pathlib
import shutil
import sys
import tempfile


def write(out):
    import torch
    from torch.package import PackageExporter

    if not torch.__version__.startswith("2.13."):
        raise SystemExit(f"needs torch 2.13, found {torch.__version__}")
    # torch names the records' folder after the file: keep "torch_package".
    with tempfile.TemporaryDirectory() as folder:
        made = pathlib.Path(folder) / "torch_package.pt"
        with PackageExporter(str(made)) as exporter:
            exporter.save_source_string("m", "A = 1\n")
            exporter.save_pickle("r", "t.pkl", torch.arange(4, dtype=torch.float32))
            exporter.save_text("r", "n.txt", "hi")
        shutil.move(made, out)


if __name__ == "__main__":
    here = pathlib.Path(__file__).with_name("torch213_package.pt")
    write(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else here)
