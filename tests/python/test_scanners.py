"""hermetic._core scanners, GlobGroup and DiGraph against Python references.

The import scanner is compared with a reference AST visitor written here from
the spec's table (section 4.1) plus importlib.import_module; the pickle
scanner with a pickletools.genops model and with what a real Unpickler looks
up.
"""

import ast
import collections
import datetime
import decimal
import fractions
import io
import os
import pathlib
import pickle
import pickletools
import sys
import sysconfig
import time

import pytest

from hermetic import _core
from hermetic.errors import CorruptArchiveError, InvalidArgumentError

# ---------------------------------------------------------------------------
# Import scanner


def _resolve(name, package, level):
    bits = package.rsplit(".", level - 1)
    if len(bits) < level:
        raise ValueError("attempted relative import beyond top-level package")
    return f"{bits[0]}.{name}" if name else bits[0]


def _const_str(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise _NotConstant


def _const_int(node):
    if (isinstance(node, ast.Constant) and type(node.value) is int):
        return node.value
    raise _NotConstant


def _const_str_list(node):
    if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        raise _NotConstant
    return [_const_str(e) for e in node.elts]


class _NotConstant(Exception):
    pass


class ReferenceVisitor(ast.NodeVisitor):
    """Spec 4.1's table, visiting like torch's visitor (no descent into
    calls), restricted to constant arguments, plus importlib.import_module."""

    def __init__(self, package):
        self.package = package
        self.refs = {}

    def visit_Import(self, node):
        for alias in node.names:
            self.refs[(alias.name, None)] = True

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level:
            module = _resolve(node.module, self.package, node.level)
        for alias in node.names:
            name = None if alias.name == "*" else alias.name
            self.refs[(module, name)] = True

    def visit_Call(self, node):
        try:
            if isinstance(node.func, ast.Name) and node.func.id == "__import__":
                self._dunder_import(node)
            elif (isinstance(node.func, ast.Attribute)
                  and node.func.attr == "import_module"
                  and isinstance(node.func.value, ast.Name)
                  and node.func.value.id == "importlib"):
                self._import_module(node)
        except (_NotConstant, ValueError, IndexError):
            pass

    def _arg(self, node, index, keyword):
        if len(node.args) > index:
            return node.args[index]
        for kw in node.keywords:
            if kw.arg == keyword:
                return kw.value
        return None

    def _check_no_star(self, node):
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
                kw.arg is None for kw in node.keywords):
            raise _NotConstant

    def _dunder_import(self, node):
        self._check_no_star(node)
        name = _const_str(node.args[0])
        fromlist_node = self._arg(node, 3, "fromlist")
        fromlist = [] if fromlist_node is None else _const_str_list(fromlist_node)
        level_node = self._arg(node, 4, "level")
        level = 0 if level_node is None else _const_int(level_node)
        if not fromlist:
            self.refs[(name, None)] = True
            parent = name.rsplit(".", 1)[0]
            if parent != name:
                if level > 0:
                    parent = _resolve(parent, self.package, level)
                self.refs[(parent, None)] = True
        else:
            if level > 0:
                name = _resolve(name, self.package, level)
            for alias in fromlist:
                self.refs[(name, None if alias == "*" else alias)] = True

    def _import_module(self, node):
        self._check_no_star(node)
        name_node = self._arg(node, 0, "name")
        if name_node is None:
            return
        name = _const_str(name_node)
        if not name:
            return
        level = len(name) - len(name.lstrip("."))
        if level:
            package_node = self._arg(node, 1, "package")
            if package_node is None:
                return
            name = _resolve(name[level:], _const_str(package_node), level)
        self.refs[(name, None)] = True


def reference_imports(source, module_name, is_package):
    package = module_name if is_package else module_name.rpartition(".")[0]
    if not is_package and "." not in module_name:
        package = module_name
    visitor = ReferenceVisitor(package)
    visitor.visit(ast.parse(source))
    return list(visitor.refs)


def scan(source, module="pkg.mod", is_package=False):
    return _core.scan_imports(source, module, is_package)


SNIPPETS = [
    "import os",
    "import a.b.c, x as y, p.q as r",
    "from m import x, y",
    "from m import *",
    "from m import (x,\n  y as z,\n)",
    "from . import x",
    "from .. import x",
    "from .q import x",
    "from ..q.r import x as y",
    "from __future__ import annotations\nimport os",
    "if x:\n    import a\nelse:\n    import b",
    "try:\n    import a\nexcept ImportError:\n    from b import c\nfinally:\n    import d",
    "def f():\n    import inside\n    def g():\n        from deep import er",
    "class C:\n    import cls_attr\n    def m(self):\n        import meth",
    "async def f():\n    import aio\n    async with x as y:\n        import w",
    "x = 1; import a; import b as c; from d import e",
    "if x: import single_line",
    "while True: from w import h",
    "import a \\\n    .b",
    "x = (\n  1,\n  2)\nimport after_brackets",
    "s = 'import not_this'\nt = \"from x import no\"",
    "# import commented\nimport real",
    "s = '''\nimport inside_triple\n'''\nimport after_triple",
    's = """\nfrom x import y\n"""',
    "s = r'\\'' ; import after_raw",
    "b = rb'\\\\' ; import after_bytes",
    "x = __import__('a.b.c')",
    "x = __import__('single')",
    "__import__('m', fromlist=['o', '*'])",
    "__import__('m', globals(), locals(), ['o', 'p'])",
    "__import__('m', globals(), locals(), ('o',), 0)",
    "__import__('r', g, l, ['z'], 1)",
    "__import__('r', fromlist=['z'], level=2)",
    "__import__('b.c', globals(), None, [], 1)",
    "__import__('r', g, l, ['z'], 9)",
    "__import__(name)",
    "__import__('a' 'b')",
    "__import__(('paren'))",
    "__import__('m', fromlist=names)",
    "__import__('m', fromlist=['x', y])",
    "__import__(*args)",
    "__import__('m', level=lvl)",
    "getattr(__import__('nested'), 'k')",
    "__import__('chained').attr()",
    "__import__('attr_only').attr",
    "__import__('sub')[__import__('script')]",
    "f()[__import__('after_call')]",
    "f()[__import__('dropped')]()",
    "(__import__('grouped'))()",
    "x.__import__('method')",
    "x = [__import__('in_list') for _ in y]",
    "x = {__import__('k'): __import__('v')}",
    "x = {'a': __import__('d1'), 'b': __import__('d2')}",
    "y = __import__('body') if __import__('test') else __import__('orelse')",
    "lambda: __import__('lam')",
    "f = lambda a=__import__('d1'), *, b=__import__('kd'): 0",
    "@__import__('deco').wrap\ndef f(a: __import__('ann') = __import__('dflt')) -> __import__('ret'):\n    import body",
    "@decorator(__import__('in_deco_call'))\ndef f():\n    pass",
    "class C(__import__('base').B, metaclass=__import__('meta').M):\n    import inner",
    "@__import__('cdeco').d\nclass C:\n    import inner2",
    "def f(*, k: __import__('ka') = __import__('kd'), **kw: __import__('kwa')):\n    pass",
    "x = f'{__import__(\"fs\")}'",
    "x = f'{a!r:>{__import__(\"spec\")}}'",
    "x = f'{__import__(\"fs2\")}'.upper()",
    "x = f\"{'}'}{__import__('after')}\"",
    "x = f'''{\n__import__(\"multi\")\n}'''",
    "x = f'{{literal}} {__import__(\"real\")}'",
    "x = rf'\\{__import__(\"raw\")}'",
    "x = f'\\N{DIGIT ONE}{__import__(\"named\")}'",
    "importlib.import_module('im')",
    "importlib.import_module('.rel', 'pkg.sub')",
    "importlib.import_module('..rel', package='a.b.c')",
    "importlib.import_module(name='kw')",
    "importlib.import_module('.nopkg')",
    "importlib.import_module(dyn)",
    "print(importlib.import_module('nested_im'))",
    "mod = importlib.import_module('im2').thing",
    "if (n := __import__('walrus')):\n    pass",
    "match x:\n    case 1:\n        import in_case\n    case _:\n        from other import thing",
    "async def f():\n    await __import__('aw').g\n    async for x in y:\n        import af",
    "x = yield from g()\nfrom after_yield import it",
    "raise X from Y\nimport after_raise",
    "with a as b, c as d:\n    import in_with",
    "for x in __import__('it_for').y:\n    import loop_body",
    "del x[__import__('del')]",
    "assert __import__('a1'), __import__('a2')",
    "x: __import__('ann_t') = __import__('ann_v')",
    "global g\nimport after_global",
    "x = '\\x61.b'\n__import__('\\x61.b')",
    "__import__(u'uni')",
    "__import__(b'bytes')",
    "__import__('')",
    "x = 1 if y else __import__('tail')",
    "x = [1,\n# comment )\n 2]\nimport after_comment_in_bracket",
    "x = '''a\\''' ''' \nimport after_escaped_triple",
    "import \\\n  cont",
    "def f(a,\n      b=(1, 2),\n      c=[__import__('deflist')]):\n    return __import__('ret_stmt')",
]


@pytest.mark.parametrize("source", SNIPPETS)
def test_scan_imports_matches_reference(source):
    expected = reference_imports(source, "a.b.pkg.mod", False)
    assert scan(source, "a.b.pkg.mod") == expected


@pytest.mark.parametrize("module,is_package,expected", [
    ("top", False, [("top", "x")]),
    ("p.mod", False, [("p", "x")]),
    ("p", True, [("p", "x")]),
    ("p.sub", True, [("p.sub", "x")]),
])
def test_relative_package_resolution(module, is_package, expected):
    assert scan("from . import x", module, is_package) == expected


def test_relative_beyond_top_level_is_invalid_argument():
    with pytest.raises(InvalidArgumentError,
                       match="^attempted relative import beyond top-level "
                       "package$"):
        scan("from ... import x", "a.b", False)


def test_relative_dunder_import_beyond_top_is_ignored():
    assert scan("__import__('x', fromlist=['y'], level=5)", "a.b", False) == []


def test_dedup_keeps_first_occurrence_order():
    assert scan("import b\nimport a\nimport b\nfrom c import d\nfrom c "
                "import d") == [("b", None), ("a", None), ("c", "d")]


def test_bytes_source_is_accepted():
    assert scan(b"import os\n") == [("os", None)]


@pytest.mark.parametrize("source", [
    "x = 'abc",
    "x = '''abc\n\ny",
    "x = (1,\n2",
    "x = (1]\n",
    "x = (1,\n2]",
    "x = 1)",
    "a $ b",
    "x = 'a\n",
    "x = [\n",
    "x=1\\ y",
    "x = f'{a'",
])
def test_syntax_errors_match_python(source):
    with pytest.raises(SyntaxError) as info:
        ast.parse(source)
    with pytest.raises(InvalidArgumentError) as ours:
        scan(source)
    assert str(ours.value) == str(info.value)
    assert isinstance(ours.value, ValueError)


def _python_files(root):
    return sorted(p for p in pathlib.Path(root).rglob("*.py"))


def _compare_tree(paths):
    compared = mismatched = 0
    failures = []
    for path in paths:
        data = path.read_bytes()
        try:
            source = data.decode("utf-8")
            expected = reference_imports(source, "pkg.mod", False)
        except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError):
            continue
        compared += 1
        got = scan(data)
        if got != expected:
            mismatched += 1
            failures.append(str(path))
    return compared, failures


STDLIB = pathlib.Path(sysconfig.get_paths()["stdlib"])


def _sympy_root():
    sympy = pytest.importorskip("sympy")
    return pathlib.Path(sympy.__file__).parent


def test_scan_imports_matches_reference_on_stdlib_sample():
    paths = [p for p in _python_files(STDLIB)
             if "site-packages" not in p.parts][::25]
    compared, failures = _compare_tree(paths)
    assert compared > 50
    assert failures == []


@pytest.mark.slow
def test_scan_imports_matches_reference_on_whole_stdlib():
    paths = [p for p in _python_files(STDLIB) if "site-packages" not in p.parts]
    compared, failures = _compare_tree(paths)
    assert compared > 1000
    assert failures == []


@pytest.mark.slow
def test_scan_imports_matches_reference_on_sympy():
    compared, failures = _compare_tree(_python_files(_sympy_root()))
    assert compared > 1000
    assert failures == []
