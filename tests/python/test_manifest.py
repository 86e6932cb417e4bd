"""Manifest and signatures (docs/format.md section 7): PackageExporter's
manifest= / reproducible= / sign_with=, PackageImporter's verify= and
trusted_keys=, and `hermetic keygen / sign / verify --key`."""

import hashlib
import os
import shutil
import subprocess
import zipfile

import pytest

from hermetic import PackageExporter, PackageImporter, _core, _manifest
from hermetic.errors import HermeticError, IntegrityError

CLI = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")
needs_cli = pytest.mark.skipif(CLI is None, reason="hermetic CLI not found")

MANIFEST = ".data/hermetic/manifest"
SIGNATURE = ".data/hermetic/signature"


def run(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True)


def export(path, value=42, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    with PackageExporter(path, **kwargs) as e:
        e.save_source_string("pkg.mod", f"VALUE = {value}\n")
        e.save_pickle("pkg", "obj.pkl", {"a": [1, 2, 3]})
        e.save_text("pkg", "note.txt", "hello")
    return path


def records(path):
    r = _core.ArchiveReader(path)
    return {name: bytes(r.read(name)) for name in r.records()}


def rewrite(out, recs):
    """An archive of exactly `recs` (written by hermetic's writer, so every
    CRC is right)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    w = _core.ArchiveWriter(out)
    for name, data in recs.items():
        w.write_record(name, data)
    w.finish()
    return out


@pytest.fixture
def keys(tmp_path):
    """Two key pairs: (secret path, public path) each."""
    pairs = []
    for n in ("k1", "k2"):
        secret, public = _manifest.generate_key()
        (tmp_path / n).write_bytes(secret)
        (tmp_path / f"{n}.pub").write_bytes(public)
        pairs.append((tmp_path / n, tmp_path / f"{n}.pub"))
    return pairs


def test_manifest_lists_the_sha256_of_every_other_record(tmp_path):
    path = export(tmp_path / "m.pt", manifest=True)
    with zipfile.ZipFile(path) as z:
        names = [n.split("/", 1)[1] for n in z.namelist()]
        assert names[-1] == MANIFEST
        text = z.read("m/" + MANIFEST).decode("ascii")
        lines = text.splitlines()
        assert lines[0] == "hermetic-manifest 1"
        assert lines[1].startswith("generator hermetic ")
        assert lines[2].startswith("created ")
        listed = {}
        for line in lines[3:-1]:
            kind, digest, size, name = line.split(" ", 3)
            assert kind == "record"
            listed[name] = (digest, int(size))
        assert lines[-1] == f"end {len(listed)}"
        expected = {}
        for full in z.namelist():
            name = full.split("/", 1)[1]
            if name != MANIFEST:
                data = z.read(full)
                expected[name] = (hashlib.sha256(data).hexdigest(), len(data))
    assert listed == expected
    assert list(listed) == sorted(listed)
    assert ".data/version" in listed and "pkg/mod.py" in listed


def test_default_export_has_no_manifest(tmp_path):
    # The default keeps archives byte-identical to torch.package's.
    assert MANIFEST not in records(export(tmp_path / "plain.pt"))


def test_reproducible_exports_are_byte_identical(tmp_path):
    a = export(tmp_path / "a" / "m.pt", manifest=True, reproducible=True)
    b = export(tmp_path / "b" / "m.pt", manifest=True, reproducible=True)
    assert a.read_bytes() == b.read_bytes()
    assert b"created " not in records(a)[MANIFEST]


def test_verify_accepts_an_intact_archive(tmp_path):
    path = export(tmp_path / "m.pt", manifest=True)
    imp = PackageImporter(path, verify=True)
    assert imp.import_module("pkg.mod").VALUE == 42
    assert imp.load_pickle("pkg", "obj.pkl") == {"a": [1, 2, 3]}
    has_manifest, signer, checked = _manifest.verify_archive(imp.zip_reader.archive)
    assert has_manifest and signer is None and checked == len(records(path)) - 1


def _tampered(path, how, tmp_path):
    recs = records(path)
    if how == "changed":
        recs["pkg/mod.py"] = b"VALUE = 666\n"  # a CRC that matches, a lie
    elif how == "same-size":
        recs["pkg/mod.py"] = recs["pkg/mod.py"].replace(b"42", b"66")
    elif how == "added":
        recs["pkg/evil.py"] = b"import os\n"
    elif how == "removed":
        del recs["pkg/note.txt"]
    elif how == "swapped-manifest":
        # The manifest of another package, whose pkg/mod.py has other bytes
        # of the same size (so its serialization id differs first).
        other = export(tmp_path / "other" / "m.pt", value=66, manifest=True)
        recs[MANIFEST] = records(other)[MANIFEST]
    elif how == "manifest-edited":
        recs[MANIFEST] = recs[MANIFEST].replace(b"record ", b"record  ", 1)
    return rewrite(tmp_path / "t" / "m.pt", recs)


TAMPERING = {
    "changed": "record pkg/mod.py: size",
    "same-size": "record pkg/mod.py: SHA-256 differs from the manifest (changed)",
    "added": "record pkg/evil.py: not in the manifest (added)",
    "removed": "record pkg/note.txt: listed in the manifest but missing (removed)",
    "swapped-manifest":
        "record .data/serialization_id: SHA-256 differs from the manifest (changed)",
    "manifest-edited": "record .data/hermetic/manifest, line 4",
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_is_refused_at_open(tmp_path, how):
    bad = _tampered(export(tmp_path / "m.pt", manifest=True), how, tmp_path)
    with pytest.raises(IntegrityError) as info:
        PackageImporter(bad, verify=True)
    assert TAMPERING[how] in str(info.value)
    assert str(bad) in str(info.value) or "m.pt" in str(info.value)


@needs_cli
@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_is_refused_by_the_cli(tmp_path, how):
    bad = _tampered(export(tmp_path / "m.pt", manifest=True), how, tmp_path)
    out = run("verify", bad)
    assert out.returncode == 1
    assert TAMPERING[how] in out.stderr.decode()


def test_integrity_error_is_a_hermetic_value_error():
    assert issubclass(IntegrityError, HermeticError)
    assert issubclass(IntegrityError, ValueError)


def test_signed_archive_trusted_by_its_key_only(tmp_path, keys):
    (k1, k1_pub), (_, k2_pub) = keys
    path = export(tmp_path / "s.pt", sign_with=k1)
    assert SIGNATURE in records(path)
    imp = PackageImporter(path, trusted_keys=[k2_pub, k1_pub])
    assert imp.load_pickle("pkg", "obj.pkl") == {"a": [1, 2, 3]}
    assert imp.trusted_signer == k1_pub.read_bytes().decode().split("\n")[1]
    # A valid signature is not trust: without trusted_keys nobody vouches.
    assert PackageImporter(path, verify=True).trusted_signer is None
    # A key given as its file's bytes works the same.
    PackageImporter(path, trusted_keys=[k1_pub.read_bytes()])
    with pytest.raises(IntegrityError, match="which is not a trusted key"):
        PackageImporter(path, trusted_keys=[k2_pub])


def test_unsigned_archive_refused_when_keys_are_given(tmp_path, keys):
    (_, k1_pub), _ = keys
    with pytest.raises(IntegrityError, match="is not signed"):
        PackageImporter(export(tmp_path / "m.pt", manifest=True), trusted_keys=[k1_pub])
    with pytest.raises(IntegrityError, match="has no manifest"):
        PackageImporter(export(tmp_path / "p.pt"), trusted_keys=[k1_pub])


def test_records_changed_after_signing_are_refused(tmp_path, keys):
    (k1, k1_pub), _ = keys
    path = export(tmp_path / "s.pt", sign_with=k1)
    recs = records(path)
    recs["pkg/evil.py"] = b"import os\n"
    bad = rewrite(tmp_path / "bad.pt", recs)
    with pytest.raises(IntegrityError, match="pkg/evil.py: not in the manifest"):
        PackageImporter(bad, trusted_keys=[k1_pub])
    # Re-writing the manifest to match breaks the signature instead.
    forged = records(export(tmp_path / "f" / "s.pt", value=66, manifest=True))
    recs = records(export(tmp_path / "f" / "s.pt", value=66))
    recs[SIGNATURE] = records(path)[SIGNATURE]
    recs[MANIFEST] = forged[MANIFEST]
    with pytest.raises(IntegrityError, match="does not match the manifest"):
        PackageImporter(rewrite(tmp_path / "bad2.pt", recs), trusted_keys=[k1_pub])


def test_bad_keys_are_named(tmp_path, keys):
    (k1, k1_pub), _ = keys
    with pytest.raises(HermeticError, match="not a hermetic Ed25519 secret key"):
        export(tmp_path / "x.pt", sign_with=k1_pub)
    with pytest.raises(HermeticError, match="trusted_keys\\[0\\]: not a hermetic"):
        PackageImporter(export(tmp_path / "m.pt", sign_with=k1), trusted_keys=[b"junk"])
    with pytest.raises(HermeticError, match="trusted_keys is empty"):
        PackageImporter(tmp_path / "m.pt", trusted_keys=[])


def test_torch_package_loads_manifest_bearing_archives(tmp_path, keys):
    torch_package = pytest.importorskip("torch.package")
    (k1, _), _ = keys
    for path in (export(tmp_path / "m.pt", manifest=True),
                 export(tmp_path / "s.pt", sign_with=k1)):
        imp = torch_package.PackageImporter(str(path))
        assert imp.load_pickle("pkg", "obj.pkl") == {"a": [1, 2, 3]}
        assert imp.import_module("pkg.mod").VALUE == 42


@needs_cli
def test_cli_keygen_sign_verify(tmp_path):
    key = tmp_path / "key"
    out = run("keygen", key)
    assert out.returncode == 0, out.stderr
    assert (key.stat().st_mode & 0o777) == 0o600
    assert key.read_bytes().startswith(b"hermetic-ed25519-secret-key 1\n")
    assert (tmp_path / "key.pub").read_bytes().startswith(b"hermetic-ed25519-public-key 1\n")
    assert run("keygen", key).returncode == 3  # never replaces a key

    path = export(tmp_path / "m.pt", manifest=True)
    assert run("verify", path, "--key", tmp_path / "key.pub").returncode == 1
    out = run("sign", path, "--key", key)
    assert out.returncode == 0, out.stderr
    out = run("verify", path, "--key", tmp_path / "key.pub")
    assert out.returncode == 0, out.stderr
    assert b"manifest OK" in out.stdout and b"signed by" in out.stdout
    PackageImporter(path, trusted_keys=[tmp_path / "key.pub"])

    other = tmp_path / "other"
    assert run("keygen", other).returncode == 0
    out = run("verify", path, "--key", tmp_path / "other.pub")
    assert out.returncode == 1 and b"not a trusted key" in out.stderr
    # Re-signing replaces the signature.
    assert run("sign", path, "--key", other).returncode == 0
    assert run("verify", path, "--key", tmp_path / "other.pub").returncode == 0
    assert run("verify", path, "--key", tmp_path / "key.pub").returncode == 1


@needs_cli
def test_cli_sign_refuses_a_tampered_archive(tmp_path, keys):
    (k1, _), _ = keys
    bad = _tampered(export(tmp_path / "m.pt", manifest=True), "added", tmp_path)
    before = bad.read_bytes()
    out = run("sign", bad, "--key", k1)
    assert out.returncode == 1 and b"pkg/evil.py: not in the manifest" in out.stderr
    assert bad.read_bytes() == before


@needs_cli
def test_cli_signs_a_torch_package_archive(tmp_path, keys):
    torch_package = pytest.importorskip("torch.package")
    (k1, k1_pub), _ = keys
    path = tmp_path / "t.pt"
    with torch_package.PackageExporter(str(path)) as e:
        e.save_pickle("pkg", "obj.pkl", {"a": [1, 2, 3]})
    before = records(path)
    assert run("verify", path, "--key", k1_pub).returncode == 1
    out = run("sign", path, "--key", k1)
    assert out.returncode == 0, out.stderr
    after = records(path)
    assert list(after)[:-2] == list(before) and {n: after[n] for n in before} == before
    assert list(after)[-2:] == [MANIFEST, SIGNATURE]
    assert run("verify", path, "--key", k1_pub).returncode == 0
    imp = PackageImporter(path, trusted_keys=[k1_pub])
    assert imp.load_pickle("pkg", "obj.pkl") == {"a": [1, 2, 3]}
    assert torch_package.PackageImporter(str(path)).load_pickle("pkg", "obj.pkl") == {"a": [1, 2, 3]}


@needs_cli
def test_cli_verify_usage(tmp_path):
    assert run("verify", tmp_path / "m.pt", "--key").returncode == 2
    assert run("sign", tmp_path / "m.pt").returncode == 2
    assert run("keygen").returncode == 2


def test_python_signing_matches_the_cli_format(tmp_path, keys):
    (k1, k1_pub), _ = keys
    assert _manifest.public_key_of(k1) == k1_pub.read_bytes()
    path = export(tmp_path / "m.pt", manifest=True)
    manifest_before = records(path)[MANIFEST]
    signer = _manifest.sign_archive(path, k1)
    assert k1_pub.read_bytes().decode().split("\n")[1] == signer
    after = records(path)
    assert after[MANIFEST] == manifest_before  # signing keeps the manifest
    assert after[SIGNATURE].decode() == (
        f"hermetic-signature 1\ned25519 {signer} "
        f"{after[SIGNATURE].decode().split()[-1]}\n")
    assert len(after[SIGNATURE]) == 223
    PackageImporter(path, trusted_keys=[k1_pub])
