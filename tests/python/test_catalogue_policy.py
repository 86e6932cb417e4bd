"""Safe loading over the catalogue of tests/python/package_catalogue.py:
every malicious sample is refused with UnsafePackageError before its
payload runs, and every benign one loads in full under the default policy
(scikit-learn, which a pipeline package externs, trusted by name). Loading
is as trusting as it gets otherwise: archive bytecode may run."""

import pytest

import package_catalogue as catalogue
from hermetic import LoadPolicy, PackageImporter, UnsafePackageError
from hermetic.errors import CorruptArchiveError

MALICIOUS = [s.name for s in catalogue.SAMPLES if s.kind == "malicious"]
BENIGN = [s.name for s in catalogue.SAMPLES if s.kind == "benign"]
# What a benign sample needs beyond the default policy.
POLICIES = {"sklearn_pipeline": LoadPolicy(allowed_externs=["sklearn.**"])}


def build(name, folder):
    try:
        return catalogue.build(name, folder)
    except catalogue.SampleUnavailable as missing:
        pytest.skip(str(missing))


def load_everything(importer):
    """Imports every packaged module and loads every pickle a package's user
    could ask for, as the catalogue's loading of a sample does."""
    loaded = 0
    for record in importer.zip_reader.get_all_records():
        if record.endswith(".py") and not record.startswith(".data/"):
            module = record[: -len(".py")].replace("/", ".")
            importer.import_module(module.removesuffix(".__init__"))
            loaded += 1
            continue
        package, _, resource = record.rpartition("/")
        if record.startswith(".data/") or not package:
            continue  # the format's own records
        try:
            importer.load_pickle(package.replace("/", "."), resource)
        except CorruptArchiveError:
            continue  # text or binary, not a pickle
        loaded += 1
    return loaded


def open_sample(path, name):
    return PackageImporter(str(path), policy=POLICIES.get(name, LoadPolicy()),
                           trust_bytecode=True)


@pytest.mark.parametrize("name", MALICIOUS)
def test_malicious_sample_is_refused_before_anything_runs(tmp_path, name):
    path = build(name, tmp_path)
    with pytest.raises(UnsafePackageError) as info:
        with open_sample(path, name) as importer:
            load_everything(importer)
    assert info.value.rule and info.value.record
    assert not catalogue.marker(tmp_path, name).exists()


@pytest.mark.parametrize("name", BENIGN)
def test_benign_sample_loads_in_full_under_the_policy(tmp_path, name):
    path = build(name, tmp_path)
    with open_sample(path, name) as importer:
        assert load_everything(importer) > 0
