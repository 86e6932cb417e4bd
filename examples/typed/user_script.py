"""A user script of hermetic's public API, checked by mypy --strict in the
test suite (tests/python/test_typing.py): every call below must type-check
without stubs of our own."""

from __future__ import annotations

import sys

import hermetic
from hermetic import LoadPolicy, PackageExporter, PackageImporter, ScanReport


def export(path: str) -> list[str]:
    with PackageExporter(path, manifest=True) as exporter:
        exporter.intern("mylib.**")
        exporter.extern(["numpy.**", "json"])
        exporter.mock("matplotlib.**")
        exporter.save_text("config", "settings.json", '{"layers": 2}')
        exporter.save_pickle("data", "table.pkl", {"a": [1, 2, 3]})
        externs: list[str] = exporter.externed_modules()
    return externs


def load(path: str) -> int:
    report: ScanReport = hermetic.scan(path)
    if not report.clean:
        for finding in report.at_least("medium"):
            print(finding.rule, finding.record, finding.position, file=sys.stderr)
        return 1
    policy = LoadPolicy(allowed_globals=["mylib.*"], refuse="high")
    with PackageImporter(path, policy=policy, verify=True) as importer:
        table = importer.load_pickle("data", "table.pkl")
        text: str = importer.load_text("config", "settings.json")
        print(importer.file_structure(), text, table, importer.python_version())
        print(importer.id(), sorted(importer.extern_modules))
    weights = hermetic.load_weights(path, "data", "table.pkl")
    print(hermetic.__version__, type(weights).__name__)
    return 0


if __name__ == "__main__":
    export(sys.argv[1])
    sys.exit(load(sys.argv[1]))
