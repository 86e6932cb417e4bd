"""Real libraries interned (the slow tier): each exported with the library
interned, then loaded and run in a fresh process where the installed copy
cannot be imported, its output compared with the original's. The lines of
policy each needs are what the README lists. The fast tier of the same
mechanisms is test_registration.py and test_real_files.py."""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

_HERMETIC_PATH = os.path.dirname(os.path.dirname(os.path.abspath(
    __import__("hermetic").__file__)))

# Prepended to the loading process: the installed copy of LIBRARY cannot be
# imported, as on a machine without it.
_BLOCK = textwrap.dedent("""\
    import sys
    class _NotInstalled:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == LIBRARY or name.startswith(LIBRARY + "."):
                import importlib.machinery
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                if spec is not None and "site-packages" in (spec.origin or ""):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, _NotInstalled)
    """)


def _python(code, cwd, library=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [_HERMETIC_PATH, os.environ.get("PYTHONPATH", "")]))
    if library is not None:
        code = f"LIBRARY = {library!r}\n" + _BLOCK + code
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines()[-1]


def test_sympy_interned_imports_and_computes(tmp_path):
    pytest.importorskip("sympy")
    computation = ("x = sympy.Symbol('x'); "
                   "print(sympy.integrate(sympy.sin(x) ** 2, x), sympy.factor(x ** 3 - 1))")
    expected = _python("import sympy; " + computation, tmp_path)
    _python(textwrap.dedent("""\
        import sys
        from hermetic import PackageExporter
        import sympy
        stdlib = sorted(sys.stdlib_module_names)
        with PackageExporter("sympy.pt") as exporter:
            exporter.intern("sympy.**")
            exporter.extern(["mpmath.**"] + stdlib + [m + ".**" for m in stdlib])
            exporter.mock("**", exclude=["sympy.**"])
            exporter.save_module("sympy")
        print("exported")
        """), tmp_path)
    loaded = _python(textwrap.dedent("""\
        from hermetic import PackageImporter
        sympy = PackageImporter("sympy.pt").import_module("sympy")
        """) + computation, tmp_path, library="sympy")
    assert loaded == expected


TRANSFORMERS_MODELS = {
    "gpt2": ("from transformers import GPT2Config as Config, GPT2LMHeadModel as Model\n"
             "config = Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64)\n",
             "logits"),
    "bert": ("from transformers import BertConfig as Config, BertModel as Model\n"
             "config = Config(num_hidden_layers=2, num_attention_heads=2, hidden_size=32,\n"
             "                intermediate_size=37, vocab_size=100, max_position_embeddings=64)\n",
             "last_hidden_state"),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMERS_MODELS))
def test_transformers_model_interned_loads_and_matches(tmp_path, name):
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    make, output = TRANSFORMERS_MODELS[name]
    _python("import sys, torch\n" + make + textwrap.dedent(f"""\
        from hermetic import PackageExporter
        torch.manual_seed(0)
        model = Model(config).eval()
        with torch.no_grad():
            torch.save(model(torch.arange(10).unsqueeze(0)).{output}, "expected.pt")
        stdlib = sorted(sys.stdlib_module_names)
        with PackageExporter("model.pt") as exporter:
            exporter.intern("transformers.**")
            exporter.extern(["torch.**", "numpy.**", "safetensors.**", "huggingface_hub.**",
                             "tokenizers.**", "packaging.**", "regex.**", "yaml.**",
                             "tqdm.**", "requests.**", "filelock.**", "typing_extensions",
                             "fsspec.**"] + stdlib + [m + ".**" for m in stdlib])
            exporter.mock("**", exclude=["transformers.**"])
            exporter.save_pickle("model", "model.pkl", model)
        print("exported")
        """), tmp_path)
    result = _python(textwrap.dedent(f"""\
        import torch
        from hermetic import PackageImporter
        importer = PackageImporter("model.pt", real_files=["transformers"],
                                   expose=["transformers"])
        model = importer.load_pickle("model", "model.pkl")
        with torch.no_grad():
            out = model(torch.arange(10).unsqueeze(0)).{output}
        print(torch.allclose(out, torch.load("expected.pt")))
        """), tmp_path, library="transformers")
    assert result == "True"


PIPELINE_LIB = '''\
from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


class Clip(BaseEstimator, TransformerMixin):
    """Interned code subclassing the externed library."""

    def __init__(self, bound: float = 3.0):
        self.bound = bound

    def fit(self, x, y=None) -> Clip:
        return self

    def transform(self, x):
        return np.clip(x, -self.bound, self.bound)


@dataclasses.dataclass
class Settings:
    bound: float = 2.5
    regularisation: float = 0.5


def build(settings: Settings) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clip", Clip(settings.bound)),
                     ("classify", LogisticRegression(C=settings.regularisation))])


def data(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 4))
    return x, (x @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(int)
'''


def test_sklearn_pipeline_with_sklearn_externed_loads_and_predicts(tmp_path):
    pytest.importorskip("sklearn")
    source = tmp_path / "src"
    (source / "pipeline_lib").mkdir(parents=True)
    (source / "pipeline_lib" / "__init__.py").write_text(PIPELINE_LIB)
    expected = _python(textwrap.dedent("""\
        import sys
        sys.path.insert(0, "src")
        from hermetic import PackageExporter
        import pipeline_lib
        x, y = pipeline_lib.data(0)
        pipeline = pipeline_lib.build(pipeline_lib.Settings()).fit(x, y)
        with PackageExporter("pipeline.pt") as exporter:
            exporter.intern("pipeline_lib.**")
            exporter.extern(["sklearn.**", "numpy.**"])
            exporter.save_pickle("model", "pipeline.pkl", pipeline)
        print(pipeline.predict_proba(pipeline_lib.data(1)[0]).round(12).tolist())
        """), tmp_path)
    # No src on the path: pipeline_lib exists only in the package.
    loaded = _python(textwrap.dedent("""\
        import importlib.util
        from hermetic import PackageImporter
        assert importlib.util.find_spec("pipeline_lib") is None
        importer = PackageImporter("pipeline.pt")
        pipeline = importer.load_pickle("model", "pipeline.pkl")
        lib = importer.import_module("pipeline_lib")
        assert isinstance(pipeline.named_steps["clip"], lib.Clip)
        print(pipeline.predict_proba(lib.data(1)[0]).round(12).tolist())
        """), tmp_path)
    assert loaded == expected
