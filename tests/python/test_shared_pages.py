"""Processes that load one package share its tensors' file pages (the page
cache), and a write copies only the pages written, in the writer alone:
what lets N workers serve one model for the memory of one (docs/serving.md)."""

import subprocess
import sys
import textwrap

import pytest

from process_maps import mapping_usage

torch = pytest.importorskip("torch")

_MIB = 1 << 20
_TENSORS = 16
_TENSOR_BYTES = 4 * _MIB  # 64 MiB in all
# A tensor's first and last pages may hold its neighbours' bytes too.
_EDGES = 2 * 65536

_WORKER = textwrap.dedent("""\
    import sys
    from hermetic import PackageImporter
    sd = PackageImporter(sys.argv[1]).load_pickle("model", "sd.pkl")
    for tensor in sd.values():
        float(tensor.sum())
    if sys.argv[2] == "write":
        sd["t0"].add_(1.0)
    print("ready", flush=True)
    sys.stdin.read()
    """)


def test_two_processes_share_file_pages_and_copy_only_what_they_write(tmp_path):
    from hermetic import PackageExporter

    path = tmp_path / "model.pt"
    numel = _TENSOR_BYTES // 4
    with PackageExporter(str(path)) as exporter:
        exporter.save_pickle("model", "sd.pkl", {
            f"t{i}": torch.full((numel,), float(i)) for i in range(_TENSORS)})
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(path), use],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for use in ("read", "write")]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        reader, writer = (mapping_usage(worker.pid, path) for worker in workers)
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait()
    total = _TENSORS * _TENSOR_BYTES
    for usage in (reader, writer):
        # Every tensor was read through the mapping...
        assert usage["Rss"] >= total - _TENSOR_BYTES
        # ...and, but for the written tensor, the same pages in both (dirty
        # while the new file is not written back yet).
        shared = usage["Shared_Clean"] + usage["Shared_Dirty"]
        assert shared >= total - _TENSOR_BYTES - _EDGES
    assert reader["Anonymous"] == 0
    # The writer copied the pages of the tensor it wrote, and only those.
    assert _TENSOR_BYTES <= writer["Anonymous"] <= _TENSOR_BYTES + _EDGES
