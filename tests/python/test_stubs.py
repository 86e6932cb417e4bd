"""python/hermetic/_core.pyi, written by hand for its types and docs, names
exactly what the built hermetic._core has: the classes, functions, methods,
attributes and parameters that nanobind's stub generator finds in the module.
Protocol classes (what callers hand in, such as a source provider) are not
bound and not compared.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

STUB = pathlib.Path(__file__).resolve().parents[2] / "python" / "hermetic" / "_core.pyi"


def surface(source):
    """{qualified name: signature} of a stub: a function's parameters as
    (kind, name) pairs, an attribute or property as "attribute"."""
    found = {}

    def params(node):
        a = node.args
        out = [("positional", p.arg) for p in a.posonlyargs + a.args]
        out += [("*", a.vararg.arg)] if a.vararg else []
        out += [("keyword", p.arg) for p in a.kwonlyargs]
        out += [("**", a.kwarg.arg)] if a.kwarg else []
        return tuple(out)

    def visit(body, prefix):
        for node in body:
            if isinstance(node, ast.ClassDef):
                if any(ast.unparse(b).endswith("Protocol") for b in node.bases):
                    continue  # describes what callers pass in; not bound
                found[prefix + node.name] = "class"
                visit(node.body, prefix + node.name + ".")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                decorators = {ast.unparse(d) for d in node.decorator_list}
                name = prefix + node.name
                if "property" in decorators or any(d.endswith(".setter") for d in decorators):
                    found[name] = "attribute"
                elif "overload" in decorators or "typing.overload" in decorators:
                    found.setdefault(name, set()).add(params(node))
                else:
                    found[name] = {params(node)}
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if not prefix and node.target.id.startswith("__"):
                    continue  # module dunders (__version__): stubgen leaves them out
                if prefix or not node.target.id[0].isupper():  # not a type alias
                    found[prefix + node.target.id] = "attribute"
            elif isinstance(node, ast.Assign) and prefix:
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[prefix + target.id] = "attribute"
    visit(ast.parse(source).body, "")
    return found


def test_core_stub_names_what_the_module_has(tmp_path):
    pytest.importorskip("nanobind.stubgen")
    generated = tmp_path / "_core.pyi"
    subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-P", "-m", "hermetic._core",
                    "-o", str(generated)], check=True)
    module, stub = surface(generated.read_text()), surface(STUB.read_text())
    assert sorted(module.keys() - stub.keys()) == [], "bound but missing from _core.pyi"
    assert sorted(stub.keys() - module.keys()) == [], "in _core.pyi but not bound"
    differ = {name: (stub[name], module[name]) for name in module
              if stub[name] != module[name]}
    assert differ == {}, "_core.pyi (left) disagrees with the binding (right)"


def test_surface_sees_a_changed_parameter():
    # The check above is only as good as this comparison.
    before = surface("class A:\n    def f(self, x: int) -> None: ...\n")
    after = surface("class A:\n    def f(self, y: int) -> None: ...\n")
    assert before["A.f"] != after["A.f"]
    assert surface("class A:\n    x: int\n")["A.x"] == surface(
        "class A:\n    @property\n    def x(self) -> int: ...\n")["A.x"]


def test_version_is_pyprojects_and_the_package_is_typed():
    import re

    import hermetic

    pyproject = (STUB.parents[2] / "pyproject.toml").read_text()
    assert hermetic.__version__ == re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    assert (pathlib.Path(hermetic.__file__).parent / "py.typed").is_file()
