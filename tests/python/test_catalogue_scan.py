"""hermetic.scan over the sample catalogue (package_catalogue.py): every
malicious sample is flagged by the rule that names its attack, at high or
above, and nothing of it runs; every benign sample has no finding at medium
or above. `hermetic scan --json` reports the same, but for the bytecode
check only the Python layer makes."""

import json
import os
import shutil
import subprocess

import pytest

import hermetic
import package_catalogue as catalogue

CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")

# The rule each malicious sample must be flagged by, and the least severity.
EXPECTED = {
    "reduce_protocol0": ("pickle.global.posix.system", "critical"),
    "reduce_protocol1": ("pickle.global.posix.system", "critical"),
    "reduce_protocol2": ("pickle.global.posix.system", "critical"),
    "reduce_protocol4": ("pickle.global.posix.system", "critical"),
    "reduce_protocol5": ("pickle.global.posix.system", "critical"),
    "inst_opcode": ("pickle.global.os.system", "critical"),
    "obj_opcode": ("pickle.global.os.system", "critical"),
    "newobj_partial": ("pickle.global.posix.system", "critical"),
    "newobj_ex_partial": ("pickle.global.posix.system", "critical"),
    "build_setstate": ("source.os.system", "high"),
    "build_slotstate_patch": ("pickle.global.posix.system", "critical"),
    "build_dict_module_patch": ("pickle.global.os.path", "high"),
    "stack_global_plain": ("pickle.global.os.system", "critical"),
    "stack_global_binput": ("pickle.global.os.system", "critical"),
    "stack_global_memoize": ("pickle.global.os.system", "critical"),
    "stack_global_long_binput": ("pickle.global.os.system", "critical"),
    "stack_global_text_memo": ("pickle.global.os.system", "critical"),
    "stack_global_computed": ("pickle.global.unresolved", "high"),
    "extension_code_ext1": ("pickle.extension_code", "high"),
    "extension_code_ext2": ("pickle.extension_code", "high"),
    "extension_code_ext4": ("pickle.extension_code", "high"),
    # The worst callable the path reaches names the rule.
    "qualified_through_module": ("pickle.global.os.system", "critical"),
    "qualified_through_interned": ("pickle.global.qualified", "high"),
    # Protocol 2 names eval as Python 2's __builtin__.eval.
    "builtins_eval": ("pickle.global.__builtin__.eval", "critical"),
    "builtins_exec": ("pickle.global.builtins.exec", "critical"),
    "getattr_import": ("pickle.global.builtins.__import__", "critical"),
    "importlib_import_module": ("pickle.global.importlib.import_module", "high"),
    "operator_methodcaller": ("pickle.global.operator.methodcaller", "high"),
    "subprocess_popen": ("pickle.global.subprocess.Popen", "critical"),
    "subprocess_run": ("pickle.global.subprocess.run", "critical"),
    "runpy_run_code": ("pickle.global.runpy._run_code", "critical"),
    "webbrowser_open": ("pickle.global.webbrowser.open", "high"),
    "timeit_exec": ("pickle.global.timeit.timeit", "critical"),
    "cprofile_run": ("pickle.global.cProfile.run", "critical"),
    "numpy_runstring": ("pickle.global.numpy.testing._private.utils.runstring", "critical"),
    "pickle_loads_nested": ("pickle.global._pickle.loads", "high"),
    "marshal_function": ("pickle.global.marshal.loads", "high"),
    "builtins_open_write": ("pickle.global.builtins.open", "high"),
    "shutil_copyfile": ("pickle.global.shutil.copyfile", "high"),
    "socket_connect": ("pickle.global.socket.create_connection", "high"),
    "torch_load_nested": ("pickle.global.torch.load", "high"),
    "torch_load_from_bytes": ("pickle.global.torch.storage._load_from_bytes", "high"),
    "fx_reduce_graph_module": ("pickle.global.torch.fx.graph_module.reduce_graph_module", "high"),
    "torch_hub_load": ("pickle.global.torch.hub.load", "high"),
    "torch_jit_load": ("pickle.global.torch.jit.load", "high"),
    "torch_rebuild_callable": ("pickle.global.posix.system", "critical"),
    "torch_cpp_extension": ("pickle.global.torch.utils.cpp_extension.load_inline", "critical"),
    "bytecode_tampered": ("bytecode.mismatch", "high"),
    "source_tampered_under_manifest": ("manifest.mismatch", "high"),
    "record_added_after_signing": ("manifest.mismatch", "high"),
    "hidden_text_protocol0": ("pickle.global.posix.system", "critical"),
    "hidden_storage_name": ("pickle.global.posix.system", "critical"),
    "hidden_binary_protocol4": ("pickle.global.posix.system", "critical"),
    "hidden_text_protocol1": ("pickle.global.posix.system", "critical"),
    "source_os_system": ("source.os.system", "high"),
    "source_eval": ("source.eval", "high"),
    "source_alias_import_as": ("source.os.system", "high"),
    "source_from_import_as": ("source.subprocess.run", "high"),
    "source_module_alias": ("source.subprocess.call", "high"),
}

# Where the finding must point, when it is not the sample's pickle.
EXPECTED_RECORD = {
    "hidden_text_protocol0": "model/notes.txt",
    "hidden_storage_name": ".data/7.storage",
    "hidden_binary_protocol4": "model/weights.bin",
    "hidden_text_protocol1": "model/vocab.txt",
    "record_added_after_signing": ".data/hermetic/manifest",
}

MALICIOUS = [s.name for s in catalogue.SAMPLES if s.kind == "malicious"]
BENIGN = [s.name for s in catalogue.SAMPLES if s.kind == "benign"]


def build(name, folder):
    try:
        return catalogue.build(name, folder)
    except catalogue.SampleUnavailable as e:
        pytest.skip(str(e))


def test_the_table_is_well_formed():
    names = [s.name for s in catalogue.SAMPLES]
    assert len(names) == len(set(names))
    assert {s.kind for s in catalogue.SAMPLES} == {"malicious", "benign"}
    assert all(s.description and callable(s.builder) for s in catalogue.SAMPLES)
    # Every malicious sample has its expectation here, and no stale one is left.
    assert set(EXPECTED) == set(MALICIOUS)
    assert catalogue.by_name("state_dict").kind == "benign"


@pytest.mark.parametrize("name", MALICIOUS)
def test_malicious_sample_is_flagged_by_its_rule(tmp_path, name):
    path = build(name, tmp_path)
    assert path == tmp_path / f"{name}.pt" and path.is_file()
    report = hermetic.scan(path)
    rule, severity = EXPECTED[name]
    assert hermetic._scan._rank(severity) >= hermetic._scan._rank("high")
    matching = [f for f in report.findings if f.rule == rule]
    assert matching, [(f.severity, f.rule, f.record) for f in report.at_least("low")]
    assert any(f.at_least(severity) for f in matching), matching
    if name in EXPECTED_RECORD:
        assert {f.record for f in matching} == {EXPECTED_RECORD[name]}
    assert not catalogue.marker(tmp_path, name).exists()


@pytest.mark.parametrize("name", BENIGN)
def test_benign_sample_has_no_finding_at_medium_or_above(tmp_path, name):
    path = build(name, tmp_path)
    report = hermetic.scan(path)
    assert report.pickles + report.sources > 0, "a scan that read nothing checked nothing"
    assert report.clean, [(f.severity, f.rule, f.record, f.message)
                          for f in report.at_least("medium")]


def test_benign_bytecode_and_signature_are_confirmed(tmp_path):
    rules = {f.rule for f in hermetic.scan(build("bytecode_matching", tmp_path)).findings}
    assert "bytecode.matches" in rules and "bytecode.unchecked" not in rules
    rules = {f.rule for f in hermetic.scan(build("signed_package", tmp_path)).findings}
    assert "manifest.signed" in rules


def test_bytecode_of_another_interpreter_stays_unchecked(tmp_path):
    from hermetic import _core

    path = build("bytecode_matching", tmp_path)
    reader = _core.ArchiveReader(str(path))
    records = [(n, reader.read(n)) for n in reader.records()]
    reader.close()
    other = tmp_path / "other.pt"
    writer = _core.ArchiveWriter(str(other))
    for name, data in records:
        if name.startswith(".data/bytecode/"):
            name = ".data/bytecode/0d0d0d0d/" + name.split("/", 3)[3]
        writer.write_record(name, data)
    writer.finish()
    (finding,) = [f for f in hermetic.scan(other).findings if f.rule.startswith("bytecode.")]
    assert finding.rule == "bytecode.unchecked" and finding.severity == "medium"
    assert "another interpreter" in finding.message


@pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")
@pytest.mark.parametrize("name", ["bytecode_tampered", "bytecode_matching",
                                  "record_added_after_signing", "hidden_text_protocol0",
                                  "source_alias_import_as", "qualified_through_interned"])
def test_cli_reports_what_python_does_but_the_bytecode_check(tmp_path, name):
    path = build(name, tmp_path)
    out = subprocess.run([CLI, "scan", "--json", str(path)], capture_output=True)
    assert out.returncode in (0, 1), out.stderr
    cli = [(f["severity"], f["rule"], f["record"], f["position"])
           for f in json.loads(out.stdout)["findings"]]
    python = [(f.severity, f.rule, f.record, f.position) for f in hermetic.scan(path).findings]
    assert len(cli) == len(python)
    for c, p in zip(cli, python):
        if p[1] in ("bytecode.matches", "bytecode.mismatch"):
            assert c == ("medium", "bytecode.unchecked", p[2], None)
        else:
            assert c == p
    assert out.returncode == (1 if any(
        f[0] in ("high", "critical") and f[1] != "bytecode.unchecked" for f in cli) else 0)
