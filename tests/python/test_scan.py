"""hermetic.scan and `hermetic scan`: a catalogue of malicious pickles, each
flagged high or above, and benign packages with no finding at or above
medium. Nothing in a scanned archive runs: the malicious pickles would
write a marker file if they did."""

import json
import os
import pickle
import shutil
import subprocess

import pytest

import hermetic
from hermetic import _core

CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")


def write_archive(path, records):
    w = _core.ArchiveWriter(path)
    for name, data in records.items():
        w.write_record(name, data)
    w.finish()
    return path


def short_unicode(s):
    raw = s.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


class _Reduce:
    def __init__(self, *reduced):
        self.reduced = reduced

    def __reduce__(self):
        return self.reduced


def _marker_command(marker):
    return f"touch {marker}"


def catalogue(marker):
    """{name: pickle bytes} of pickles that would run code if loaded."""
    command = _marker_command(marker)
    cmd = short_unicode(command)
    return {
        # os.system pickles as posix.system; GLOBAL in protocol 0.
        "global_opcode": pickle.dumps(_Reduce(os.system, (command,)), protocol=0),
        # STACK_GLOBAL over strings the pickler memoises (protocol 4).
        "stack_global": pickle.dumps(_Reduce(os.system, (command,)), protocol=4),
        # The operands memoised, popped, then fetched back from the memo.
        "stack_global_memo": b"\x80\x04" + short_unicode("os") + b"\x94"
        + short_unicode("system") + b"\x94" + b"00h\x00h\x01\x93" + cmd + b"\x85R.",
        # Operands computed on the stack: str() called, then used as module.
        "computed_operands": b"\x80\x04cbuiltins\nstr\n" + short_unicode("os")
        + b"\x85R" + short_unicode("system") + b"\x93" + cmd + b"\x85R.",
        "builtins_eval": pickle.dumps(_Reduce(eval, (f"__import__('os').system({command!r})",)),
                                      protocol=2),
        "builtins_exec": pickle.dumps(_Reduce(exec, ("pass",)), protocol=4),
        # getattr(importlib.import_module("os"), "system")(command).
        "getattr_chain": b"\x80\x02cbuiltins\ngetattr\n(cimportlib\nimport_module\n"
        + short_unicode("os") + b"\x85R" + short_unicode("system") + b"tR" + cmd + b"\x85R.",
        # A copyreg extension code: the global is whatever the host registered.
        "extension_code": b"\x80\x02\x82\x05" + cmd + b"\x85R.",
        # torch's _rebuild_from_type_v2(func, type, args, state) calls func(*args).
        "torch_rebuild_callable": b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n"
        b"(cposix\nsystem\nctorch\nTensor\n" + cmd + b"\x85}tR.",
        # A nested torch.load of bytes the scan of this pickle cannot see.
        "torch_load_from_bytes": b"\x80\x02ctorch.storage\n_load_from_bytes\n"
        b"C\x03abc\x85R.",
        "subprocess": pickle.dumps(_Reduce(subprocess.call, (["true"],)), protocol=3),
    }


@pytest.mark.parametrize("name", sorted(catalogue("m")))
def test_each_malicious_pickle_is_flagged_high_and_nothing_runs(tmp_path, name):
    marker = tmp_path / "ran"
    data = catalogue(marker)[name]
    path = write_archive(tmp_path / "evil.pt", {"evil/obj.pkl": data})
    report = hermetic.scan(path)
    assert report.pickles == 1
    flagged = report.at_least("high")
    assert flagged, report.findings
    assert all(f.record == "evil/obj.pkl" and f.position is not None for f in flagged)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["stack_global", "global_opcode"])
def test_a_pickle_under_another_name_is_found(tmp_path, name):
    # Protocols 2-5 announce themselves (PROTO); a protocol 0 pickle has no
    # header and is found by what the gate reads in it.
    data = catalogue(tmp_path / "ran")[name]
    report = hermetic.scan(write_archive(tmp_path / "a.pt", {"res/weights.bin": data}))
    rules = {f.rule for f in report.findings}
    assert "pickle.hidden" in rules and "pickle.global.posix.system" in rules
    assert report.at_least("critical")


def test_rules_name_the_global_and_positions_are_byte_offsets(tmp_path):
    data = b"\x80\x02cos\nsystem\n."
    report = hermetic.scan(write_archive(tmp_path / "a.pt", {"p.pkl": data}))
    (finding,) = report.findings
    assert finding == hermetic.Finding(
        "critical", "pickle.global.os.system", "p.pkl", 2, finding.message)
    assert "os.system" in finding.message
    assert finding.at_least("critical") and finding.at_least("info")


def test_unknown_severity_is_a_value_error(tmp_path):
    report = hermetic.scan(write_archive(tmp_path / "a.pt", {"m.py": b"A = 1\n"}))
    with pytest.raises(ValueError):
        report.at_least("severe")


def test_sources_report_risky_names_with_their_line(tmp_path):
    source = b"import os\nx = 1\nos.system('ls')\nexec(code)\n"
    report = hermetic.scan(write_archive(tmp_path / "a.pt", {"pkg/m.py": source}))
    found = {(f.rule, f.position) for f in report.at_least("medium")}
    assert found == {("source.os.system", 3), ("source.exec", 4)}
    assert any(f.rule == "source.import" and "os" in f.message for f in report.findings)


def test_missing_archive_raises(tmp_path):
    with pytest.raises(hermetic.HermeticError):
        hermetic.scan(tmp_path / "absent.pt")


# Benign packages.


def test_state_dict_package_is_clean(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "sd.pt"
    with hermetic.PackageExporter(path) as exporter:
        exporter.save_pickle("model", "state.pkl", torch.nn.Linear(3, 2).state_dict())
    report = hermetic.scan(path)
    assert report.pickles == 1
    assert report.clean, report.at_least("medium")
    assert {"pickle.global.allowed", "pickle.persistent_id.storage"} <= {
        f.rule for f in report.findings}


MODEL_SOURCE = """
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.stack = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 2))

    def forward(self, x):
        return self.stack(self.linear(x))
"""


@pytest.mark.parametrize("writer", ["hermetic", "torch"])
def test_nn_module_package_with_its_code_is_clean(tmp_path, source_tree, writer):
    pytest.importorskip("torch")
    source_tree({"scanned_model.py": MODEL_SOURCE})
    import scanned_model

    if writer == "hermetic":
        exporter_class = hermetic.PackageExporter
    else:
        from torch.package import PackageExporter as exporter_class
    path = tmp_path / "model.pt"
    with exporter_class(str(path)) as exporter:
        exporter.intern("scanned_model")
        exporter.extern("torch.**")
        exporter.save_pickle("model", "model.pkl", scanned_model.Net())
    report = hermetic.scan(path)
    assert report.pickles == 1 and report.sources == 1
    assert report.clean, report.at_least("medium")
    rules = {f.rule for f in report.findings}
    assert {"pickle.global.interned", "package.extern", "source.import"} <= rules


def test_torch_213_reference_package_is_clean():
    path = os.path.join(os.path.dirname(__file__), "..", "data", "torch213_package.pt")
    report = hermetic.scan(path)
    assert report.clean and report.findings


# The CLI.

needs_cli = pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")


def run(*args):
    return subprocess.run([CLI, "scan", *map(str, args)], capture_output=True)


@needs_cli
def test_cli_exit_codes_follow_fail_on(tmp_path):
    evil = write_archive(tmp_path / "evil.pt", {"p.pkl": b"\x80\x02cos\nsystem\n."})
    clean = write_archive(tmp_path / "clean.pt", {"m.py": b"A = 1\n",
                                                  ".data/extern_modules": b"json\n"})
    assert run(evil).returncode == 1
    assert run("--fail-on", "critical", evil).returncode == 1
    assert run(clean).returncode == 0
    assert run("--fail-on", "info", clean).returncode == 1
    out = run(evil)
    assert b"pickle.global.os.system" in out.stdout and b"p.pkl:2" in out.stdout


@needs_cli
def test_cli_usage_errors_exit_2(tmp_path):
    assert run().returncode == 2
    assert run("--fail-on", "severe", "x.pt").returncode == 2
    assert run("--fail-on").returncode == 2
    assert run("a.pt", "b.pt").returncode == 2
    assert run("--bogus", "a.pt").returncode == 2
    assert run(tmp_path / "absent.pt").returncode == 3
    help_out = subprocess.run([CLI, "scan", "--help"], capture_output=True)
    assert help_out.returncode == 0 and b"usage: hermetic scan" in help_out.stdout


@needs_cli
def test_cli_json_matches_the_python_report(tmp_path):
    records = {"p.pkl": b"\x80\x02cos\nsystem\n.", "m.py": b"eval(x)\n",
               "odd\x1bname/r.bin": pickle.dumps([1], protocol=2)}
    path = write_archive(tmp_path / "a.pt", records)
    out = run("--json", path)
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    report = hermetic.scan(path)
    assert doc["pickles"] == report.pickles == 2
    assert [(f["severity"], f["rule"], f["position"]) for f in doc["findings"]] == [
        (f.severity, f.rule, f.position) for f in report.findings]
    # Names are escaped: no raw escape byte reaches the terminal.
    assert "odd\\x1bname/r.bin" in {f["record"] for f in doc["findings"]}
    assert b"\x1b" not in run(path).stdout


# Bytecode records (hermetic.scan only).


@pytest.mark.parametrize("tampered", [False, True])
def test_bytecode_is_compared_from_the_local_cache_without_compiling(
        tmp_path, source_tree, monkeypatch, tampered):
    from hermetic import _bytecode, _bytecode_cache, _importlib

    monkeypatch.setenv("HERMETIC_CACHE_DIR", str(tmp_path / "cache"))
    source = b"def f():\n    return 1\n"
    source_tree({"cached_mod.py": source.decode()})
    path = tmp_path / "a.pt"
    with hermetic.PackageExporter(path, bytecode=True) as exporter:
        exporter.save_module("cached_mod")
    if tampered:
        reader = _core.ArchiveReader(str(path))
        records = {n: reader.read(n) for n in reader.records()}
        reader.close()
        record = _bytecode.bytecode_record_name("cached_mod", False)
        other = _bytecode.compile_pyc(b"def f():\n    return 2\n", "cached_mod.py")
        records[record] = records[record][:16] + other[16:]
        path = write_archive(tmp_path / "b.pt", records)
    # What an import of the package leaves in the cache.
    _bytecode_cache.default_cache().put(
        _bytecode_cache.source_key(source),
        compile(_importlib.normalize_line_endings(source), "<torch_package_0>.cached_mod.py",
                "exec", dont_inherit=True))
    compiled = []
    real_compile_pyc = _bytecode.compile_pyc
    monkeypatch.setattr(_bytecode, "compile_pyc",
                        lambda *a: compiled.append(a) or real_compile_pyc(*a))
    (finding,) = [f for f in hermetic.scan(path).findings if f.rule.startswith("bytecode.")]
    if tampered:
        # The cache cannot vouch for other code: compiled, and refused.
        assert (finding.rule, finding.severity) == ("bytecode.mismatch", "high")
        assert len(compiled) == 1
    else:
        assert (finding.rule, finding.severity) == ("bytecode.matches", "info")
        assert compiled == []
