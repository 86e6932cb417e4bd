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
from hermetic.errors import CorruptPickleError, InvalidArgumentError

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
    # Lambdas nested in lambdas' and defs' defaults: each keeps its own
    # keyword-only state and its own findings.
    "v = (lambda a=lambda: __import__('q'), *, k=__import__('kw'): 1, __import__('p'))",
    "v = (lambda a=__import__('d1'), *, k=lambda z=__import__('in'): 0, "
    "m=__import__('kw2'): __import__('body'), __import__('p'))",
    "def f(a=__import__('pos'), *, k=lambda: 0, m=__import__('kwd')): pass",
    "x = {lambda: __import__('a'): lambda: __import__('b'), __import__('c'): 1}",
    # A field of a format spec has a spec of its own, lexed as the literal.
    "x = f'''{a:{b:c\nd}}'''\nimport after_spec",
    "x = f\"{a:{b:'}}\"\nimport after_quote",
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
    "@__import__('o1').d\nclass A:\n    @__import__('i1').d\n    def m(self) -> __import__('r1'): import b1\n    @__import__('i2').d\n    async def n(self):\n        import b2\n    import b3\nimport after",
    "@__import__('x1').d\n@__import__('x2').d\ndef f(): import body\nimport nxt",
    "def f(a: __import__('a1'), /, b: __import__('a2') = __import__('d2'), *args: __import__('va'), k=__import__('kd1'), m: __import__('ka') = __import__('kd2'), **kw: __import__('kwa')) -> __import__('ret'):\n    pass",
    "def f(a=2 * __import__('mul'), b=__import__('b')):\n    pass",
    "x = __import__('a1') if __import__('t1') else __import__('c1') if __import__('t2') else __import__('c2')",
    "x = [__import__('e') if __import__('t') else 0 for _ in __import__('it').y if __import__('cond')]",
    "x = {**__import__('spread'), __import__('k'): lambda a=__import__('ld'), *, b=__import__('lk'): __import__('lb')}",
    "x = {__import__('k1'): __import__('v1'), **__import__('s'), __import__('k2'): __import__('v2')}",
    "for x in __import__('a') if __import__('b') else __import__('c'):\n    pass",
    "x = __import__('n1') if __import__('q') not in __import__('r') else __import__('e')",
    "x += __import__('aug1') if __import__('aug2') else 0",
    "if True:\n    @__import__('deep').d\n    def f():\n        import inside_deep\nimport outside",
    "class C(__import__('b1').B):\n    x = __import__('cb')\n\n\n# comment\n    y = 1\nimport tail",
    "x = f'{__import__(\"fa\") if __import__(\"ft\") else 0}'",
    # Found by differential fuzzing against the reference.
    "x = __import__('n1') if __import__('q') ** 2 not in __import__('r') @ m * k else __import__('e')",
    "@__import__('deco').wrap\ndef f():\n    \\\nimport body",
    "if True:\n    @__import__('deep').d\n    def f():\n\\\n        import inside_deep\nimport outside",
    "x = f'{__import__(\"fs\")}' '{x}'.upper()",
    "x = 'a' f'{__import__(\"fs3\")}'",
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


_IMPORT_SCAN_REGRESSIONS = pathlib.Path(__file__).resolve().parents[2] / "fuzz" / "regressions" / "import_scan"

# Broken sources that once crashed the scanner, plus their neighbours.
_MALFORMED_SOURCES = sorted(p.read_bytes() for p in _IMPORT_SCAN_REGRESSIONS.iterdir()) + [
    b"__import__('a'); lambda ; :",
    b"__import__('a')lambda\n__import__('b'):",
    b"@__import__('d')\n def f\n@x\n  class C -> (\n",
    b"  @d\n @d\n" * 50 + b"import z\n",
    b"lambda lambda a=__import__('a'), *, b=__import__('b'): : :",
    b"__import__(" + b"(" * 198 + b"'m'" + b")" * 198 + b")",
    b"(" * 300,
    b"f'{" * 120,
    b"__import__('a'" + b"," * 70000 + b")",
]


@pytest.mark.parametrize("source", _MALFORMED_SOURCES, ids=range(len(_MALFORMED_SOURCES)))
def test_malformed_source_raises_or_returns_cleanly(source):
    """In a child process, so that a crash fails this test, not the run."""
    import subprocess

    import hermetic

    code = (
        "import io, sys\n"
        "from hermetic import PackageExporter, PackagingError, _core\n"
        "from hermetic.errors import HermeticError\n"
        "src = sys.stdin.buffer.read()\n"
        "for module, is_package in (('pkg.sub.mod', False), ('top', True)):\n"
        "    try:\n"
        "        _core.scan_imports(src, module, is_package)\n"
        "    except HermeticError:\n"
        "        pass\n"
        "try:\n"
        "    with PackageExporter(io.BytesIO()) as exporter:\n"
        "        exporter.save_source_string('m', src.decode())\n"
        "except (HermeticError, PackagingError):\n"
        "    pass\n"
        "print('clean')\n")
    python_dir = os.path.dirname(os.path.dirname(hermetic.__file__))
    env = dict(os.environ, PYTHONPATH=python_dir)
    result = subprocess.run([sys.executable, "-c", code], input=source,
                            capture_output=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert result.stdout == b"clean\n"


def test_import_scan_regressions_are_present():
    assert any(p.read_bytes() == b"__import__('')lambda\n:"
               for p in _IMPORT_SCAN_REGRESSIONS.iterdir())


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
    "x\0",
    "a = 1\n'\0'",
    "# \0",
    '"""\n\0"""',
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


def test_dict_and_ifexp_follow_ast_order():
    source = ("x = {__import__('k1'): __import__('v1'), "
              "__import__('k2'): __import__('v2')}")
    assert scan(source) == reference_imports(source, "pkg.mod", False)


# ---------------------------------------------------------------------------
# Pickle scanner


class Outer:
    class Inner:
        pass

    def __init__(self, payload=None):
        self.payload = payload


class LongNamedClass_________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________x:  # noqa: E501
    pass


class Plain:
    pass


def _objects():
    shared = "shared-string"
    return [
        [1, 2.5, "text", b"bytes", None, True, (1,), {"k": "v"}],
        collections.OrderedDict(a=1),
        collections.Counter("hello"),
        datetime.datetime(2024, 1, 2, 3, 4, 5),
        decimal.Decimal("1.5"),
        fractions.Fraction(3, 4),
        Outer(Outer.Inner()),
        Outer.Inner,
        LongNamedClass_________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________x(),  # noqa: E501
        [Plain(), Plain(), Outer([Plain()])],
        {shared: shared, "again": [shared, shared]},
        {"set": {1, 2}, "frozen": frozenset([3]), "ba": bytearray(b"xy")},
        [collections.deque([1]), collections.defaultdict(list),
         pathlib.PurePosixPath("/a"), io.BytesIO, os.path.join, len,
         sys.maxsize, 2**100, -(2**70), 1e300, complex(1, 2)],
        [datetime.date(2020, 1, 1), datetime.timedelta(1), time.struct_time(
            (2020, 1, 1, 0, 0, 0, 0, 1, 0))],
    ]


def reference_pickle_globals(data):
    """A genops model of the stack and memo that knows strs only."""
    stack, memo, found = [], {}, {}
    mark = object()
    str_ops = {"UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"}
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in ("GLOBAL", "INST"):
            module, qualname = arg.split(" ", 1)
            found[(module, qualname)] = True
        if name == "STACK_GLOBAL":
            qualname, module = stack.pop(), stack.pop()
            if isinstance(module, str) and isinstance(qualname, str):
                found[(module, qualname)] = True
            stack.append(None)
            continue
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
            continue
        if name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
            continue
        if name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
            continue
        if name == "DUP":
            stack.append(stack[-1])
            continue
        if name == "MARK":
            stack.append(mark)
            continue
        before = op.stack_before
        if pickletools.markobject in before:
            while stack.pop() is not mark:
                pass
            before = before[:before.index(pickletools.markobject)]
        for _ in before:
            stack.pop()
        for _ in op.stack_after:
            stack.append(arg if name in str_ops else None)
    return list(found)


class _RecordingUnpickler(pickle.Unpickler):
    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.looked_up = {}

    def find_class(self, module, name):
        self.looked_up[(module, name)] = True
        return super().find_class(module, name)


def unpickler_globals(data):
    u = _RecordingUnpickler(data)
    u.load()
    return list(u.looked_up)


@pytest.mark.parametrize("protocol", range(0, 6))
@pytest.mark.parametrize("index", range(len(_objects())))
def test_scan_pickle_matches_references(protocol, index):
    data = pickle.dumps(_objects()[index], protocol=protocol)
    got = _core.scan_pickle(data)
    assert got == reference_pickle_globals(data)
    assert got == unpickler_globals(data)


def test_scan_pickle_resolves_memoized_strings_and_long_names():
    obj = [Outer.Inner, Outer.Inner(), Outer(), Outer.Inner(),
           LongNamedClass_________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________x]  # noqa: E501
    data = pickle.dumps(obj, protocol=4)
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert "BINGET" in ops and "BINUNICODE" in ops
    got = _core.scan_pickle(data)
    assert (__name__, "Outer.Inner") in got
    assert any(len(name) > 255 for _, name in got)
    assert got == unpickler_globals(data)


def _op(name):
    return next(o for o in pickletools.opcodes if o.name == name).code.encode(
        "latin-1")


def test_scan_pickle_hand_made_opcodes():
    # INST, LONG_BINGET/LONG_BINPUT (index 3 after four pushes: gaps are
    # allowed), BINUNICODE8, FRAME, protocol-5 buffers, EXT codes (not
    # names) and a STACK_GLOBAL fed by a non-string (skipped).
    su = lambda s: _op("SHORT_BINUNICODE") + bytes([len(s)]) + s.encode()
    body = b"".join([
        _op("MARK"), _op("INST"), b"mod.a\nKlass\n",
        _op("BINUNICODE8"), (3).to_bytes(8, "little"), b"m.b",
        _op("LONG_BINPUT"), (3).to_bytes(4, "little"),
        su("Name"), _op("STACK_GLOBAL"),
        _op("LONG_BINGET"), (3).to_bytes(4, "little"), su("Other"),
        _op("STACK_GLOBAL"),
        _op("EXT1"), b"\x01",
        _op("BYTEARRAY8"), (2).to_bytes(8, "little"), b"xy",
        _op("NEXT_BUFFER"), _op("READONLY_BUFFER"),
        _op("NONE"), su("x"), _op("STACK_GLOBAL"),
        _op("UNICODE"), b"caf\\u00e9\n", su("N"), _op("STACK_GLOBAL"),
        _op("TUPLE"), _op("STOP"),
    ])
    inner = _op("MARK") + body
    data = (_op("PROTO") + b"\x05" + _op("FRAME") +
            len(inner).to_bytes(8, "little") + inner)
    assert _core.scan_pickle(data) == [
        ("mod.a", "Klass"), ("m.b", "Name"), ("m.b", "Other"),
        ("café", "N")]


def test_scan_pickle_every_truncation_is_corrupt():
    data = pickle.dumps(_objects(), protocol=4)
    assert _core.scan_pickle(data)
    for n in range(len(data)):
        with pytest.raises(CorruptPickleError):
            _core.scan_pickle(data[:n])


@pytest.mark.parametrize("data,what", [
    (b"\xff.", "unknown opcode 0xff at byte 0"),
    (b"N0.", "stack underflow at byte 2"),
    (b"h\x05.", "memo index 5 missing at byte 0"),
    (b"N", "data ends without STOP at byte 1"),
    (b"\x80\x09N.", "unsupported protocol 9 at byte 0"),
    (b"\x95\xff\x00\x00\x00\x00\x00\x00\x00N.", "frame beyond end at byte 0"),
    (b"X\x05\x00\x00\x00ab", "truncated argument of opcode 0x58 at byte 0"),
    (b"t.", "missing MARK at byte 0"),
])
def test_scan_pickle_malformed_messages(data, what):
    # A CorruptPickleError is also a CorruptArchiveError and an UnpicklingError.
    with pytest.raises(CorruptPickleError, match="^pickle " + what + "$"):
        _core.scan_pickle(data)


def test_scan_pickle_accepts_buffers():
    data = pickle.dumps(Outer(), protocol=3)
    expected = [(__name__, "Outer")]
    for buf in (data, bytearray(data), memoryview(data)):
        assert _core.scan_pickle(buf) == expected


# ---------------------------------------------------------------------------
# GlobGroup


# The spec's table, the group example and the "/" separator are tested
# through the public wrapper in test_glob_group.py.


def test_glob_accepts_single_string():
    assert _core.GlobGroup("a.*").matches("a.b")


@pytest.mark.parametrize("bad", ["a**", "**b.c", "a.b**.c", "***"])
def test_glob_rejects_partial_double_star(bad):
    with pytest.raises(ValueError) as info:
        _core.GlobGroup([bad])
    assert str(info.value) == "** can only appear as an entire path segment"
    with pytest.raises(ValueError):
        _core.GlobGroup(["ok"], exclude=[bad])


def test_glob_agrees_with_torch_on_random_cases():
    glob_group = pytest.importorskip("torch.package.glob_group")
    import random
    rng = random.Random(7)
    pieces = ["a", "b", "ab", "*", "**", "a*", "*b", ""]
    cands = ["", "a", "b", "ab", "a.b", "a.", ".a", "a..b", "ab.b.a", "x.a.b"]
    for _ in range(400):
        pattern = ".".join(rng.choice(pieces)
                           for _ in range(rng.randint(1, 4)))
        ours = _core.GlobGroup([pattern])
        theirs = glob_group.GlobGroup(pattern)
        for c in cands:
            assert ours.matches(c) == theirs.matches(c), (pattern, c)


# ---------------------------------------------------------------------------
# DiGraph


def _graph(edges, nodes=()):
    g = _core.DiGraph()
    for n in nodes:
        g.add_node(n)
    for u, v in edges:
        g.add_edge(u, v)
    return g


def test_digraph_insertion_order_and_dedup():
    g = _graph([("b", "c"), ("a", "c"), ("b", "c"), ("b", "a")], nodes=["z"])
    assert g.nodes() == ["z", "b", "c", "a"]
    assert len(g) == 4
    assert g.edges() == [("b", "c"), ("b", "a"), ("a", "c")]
    assert g.successors("b") == ["c", "a"]
    assert g.predecessors("c") == ["b", "a"]
    assert "a" in g and "q" not in g and 3 not in g


@pytest.mark.parametrize("method", ["successors", "predecessors",
                                    "forward_transitive_closure",
                                    "backward_transitive_closure",
                                    "first_path"])
def test_digraph_unknown_node_is_value_error(method):
    g = _graph([("a", "b")])
    with pytest.raises(ValueError) as info:
        getattr(g, method)("nope")
    assert str(info.value) == "The node nope is not in the digraph."
    # The graph's one unknown-node error, a ValueError as in torch.
    assert type(info.value) is InvalidArgumentError


def test_digraph_to_dot_exact_text():
    g = _graph([("a", "b"), ("a", "c")])
    assert g.to_dot() == ('digraph G {\nrankdir = LR;\nnode [shape=box];\n'
                          '"a" -> "b";\n"a" -> "c";\n}\n')
    assert _core.DiGraph().to_dot() == (
        "digraph G {\nrankdir = LR;\nnode [shape=box];\n\n}\n")


def test_digraph_closures_treat_src_as_one_node():
    g = _graph([("extra.mod", "b"), ("b", "c"), ("c", "b"), ("x", "b")])
    assert g.forward_transitive_closure("extra.mod") == ["b", "c"]
    assert g.backward_transitive_closure("c") == ["b", "extra.mod", "c", "x"]


def test_digraph_all_paths_dot():
    g = _graph([("a", "b"), ("b", "d"), ("a", "c"), ("c", "d"), ("x", "d"),
                ("d", "e")])
    assert g.all_paths_dot("a", "d") == (
        'digraph G {\nrankdir = LR;\nnode [shape=box];\n'
        '"b" -> "d";\n"c" -> "d";\n"a" -> "b";\n"a" -> "c";\n}\n')
    assert g.all_paths_dot("e", "a") == _core.DiGraph().to_dot()


def test_digraph_all_paths_matches_torch_for_single_char_names():
    digraph = pytest.importorskip("torch.package._digraph")
    # Acyclic: torch's all_paths never terminates on a cycle.
    edges = [("a", "b"), ("b", "d"), ("a", "c"), ("c", "d"), ("x", "d"),
             ("d", "e"), ("b", "e")]
    theirs = digraph.DiGraph()
    for u, v in edges:
        theirs.add_edge(u, v)
    ours = _graph(edges)
    assert ours.all_paths_dot("a", "e") == theirs.all_paths("a", "e")
    assert ours.to_dot() == theirs.to_dot()
    assert ours.first_path("e") == theirs.first_path("e")


def test_digraph_first_path_prefers_earliest_predecessor_and_stops_on_cycle():
    g = _graph([("root", "mid"), ("other", "mid"), ("mid", "leaf")])
    assert g.first_path("leaf") == ["root", "mid", "leaf"]
    cyclic = _graph([("a", "b"), ("b", "a")])
    assert cyclic.first_path("a") == ["b", "a"]


@pytest.mark.parametrize("source", [b"import a\xff\xfeb\n", b"from x import \xff\n",
                                    b"from \xc3 import y\n"])
def test_bytes_source_with_a_name_that_is_not_utf8_is_a_named_error(source):
    with pytest.raises(InvalidArgumentError, match=r"module pkg\.m: imported name .*\\x"):
        _core.scan_imports(source, "pkg.m", False)
