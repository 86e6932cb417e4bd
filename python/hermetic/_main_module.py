"""Objects of ``__main__`` in save_pickle: their source goes into the package.

Pickle names a class by module and qualified name, and ``__main__`` means the
loading program itself, which has no such class (torch.package fails at
close with "Module had no __file__ defined", or interns a script as a module
named ``__main__``, a name that would mean the loader). hermetic rewrites every
global of ``__main__`` to ``MODULE_NAME`` (``hermetic_main``), a fixed name
so that code loading the package can find the class
(``importer.import_module("hermetic_main").Net``), and puts that module's
source in the package:

- a script (``python train.py``): the file, whole, as any module is
  packaged. Its ``if __name__ == "__main__":`` block does not run at load,
  since the loaded module's ``__name__`` is ``hermetic_main``; other
  top-level code does, as on any import.
- ``python -m pkg.mod``: no source of our own; the globals are renamed to
  ``pkg.mod``, the module's real name, and the exporter's patterns decide
  its action like any module's (its relative imports then work).
- input without a file, where a session leaves it: the ``python -c``
  command (``sys.orig_argv``), and cells that a shell registered in
  ``linecache`` (IPython and Jupyter: ``<ipython-input-N-…>`` and
  ``ipykernel_PID/….py``; Python 3.13's REPL: ``<python-input-N>``; any other
  file name the pickled functions' code has, if linecache holds it). A
  session is a transcript, not a module: concatenated, it would re-run
  training, plotting and the export itself at every load. So the module is
  the top-level statements that bind the names the pickles use, and,
  transitively, those that bind names these statements read (imports,
  helper functions, constants), in the order they ran, each preceded by a
  comment naming its cell and line. What this cannot see: state built by
  statements that bind no name (``REGISTRY["k"] = v``, a call filling a
  cache), names read only through strings (``globals()["x"]``, string
  annotations). ``__future__`` imports of any input apply to the whole
  module. Lines of IPython magics (``%``, ``!``) and ``%%`` cells, if a shell
  left them untransformed, become ``pass``/comments; IPython itself stores
  the transformed cell, whose ``get_ipython()`` calls bind nothing a class
  needs and so are left out.

An exporter whose first pattern matching ``__main__`` externs it
(``extern("__main__")``, torch.package's way of saying the loading program
provides the classes) keeps the references to ``__main__`` as they are.

When no source can be found (the standard REPL before Python 3.13 keeps
none), or none of the inputs defines a pickled name, save_pickle raises
MainModuleError, whose text says how to fix it.
"""

import ast
import importlib.util
import linecache
import os
import re
import sys
from typing import Iterable, Optional

from . import _core
from .errors import HermeticError, MainModuleError
from .importer import Importer

__all__ = ["MODULE_NAME", "MainModule"]

MODULE_NAME = "hermetic_main"

_MAIN = re.compile(rb"__main__")
# File names under which shells register a cell's source in linecache.
_CELL = re.compile(r"^<ipython-input-\d+-[0-9a-f]+>$|^<python-input-\d+>$|"
                   r"ipykernel_\d+[/\\][^/\\]+\.py$")
# An IPython line magic or shell escape left in a cell's text, possibly
# assigned (`files = !ls`); group 1 is the indentation.
_MAGIC_LINE = re.compile(r"^([ \t]*)((?:[\w.]+[ \t]*=[ \t]*)?[%!].*)$")


def names_main(buffer) -> bool:
    """Whether the pickle in `buffer` may name a global of __main__."""
    view = buffer.getbuffer()
    try:
        if _MAIN.search(view) is None:
            return False
        try:
            globals_ = _core.scan_pickle(view)
        except HermeticError:
            return True  # the renaming attempt will tell
        return any(module == "__main__" for module, _ in globals_)
    finally:
        view.release()


class _Renaming(Importer):
    """`inner`, but objects of __main__ are named as module `name`; records
    the top-level names of __main__ it gave out."""

    def __init__(self, inner: Importer, name: str):
        self._inner = inner
        self._name = name
        self.names: set = set()

    def import_module(self, module_name):
        if module_name == self._name:
            return sys.modules["__main__"]
        return self._inner.import_module(module_name)

    def get_name(self, obj, name=None):
        module_name, name = self._inner.get_name(obj, name)
        if module_name != "__main__":
            return module_name, name
        self.names.add(name.partition(".")[0])
        return self._name, name

    def whichmodule(self, obj, name):
        return self._inner.whichmodule(obj, name)


class MainModule:
    """What one exporter packages of __main__: the names its pickles used,
    and the module source that defines them."""

    def __init__(self, exporter):
        self._exporter = exporter
        self._names: set = set()
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        # Run as `python -m pkg.mod`: the module has a real name.
        self._module_name = getattr(spec, "name", None)
        self.name = self._module_name or MODULE_NAME

    def renaming(self, importer: Importer) -> Optional[_Renaming]:
        """The importer to pickle through, or None if the exporter's
        patterns extern __main__: torch.package's idiom for a loader whose
        own __main__ provides the classes, kept as it is."""
        for group, info in self._exporter.patterns.items():
            if group.matches("__main__"):
                if info.action is _core._ModuleProviderAction.EXTERN:
                    return None
                break
        return _Renaming(importer, self.name)

    def provide(self, names: Iterable[str]) -> None:
        """Puts the source defining `names` (and every name used before) in
        the package as module `self.name`, replacing the earlier one."""
        new = set(names) - self._names
        if not new or self._module_name is not None:
            return
        wanted = self._names | new
        source = _main_source(wanted)
        self._names = wanted
        self._exporter.save_source_string(self.name, source)


def _main_source(names: set) -> str:
    main = sys.modules["__main__"]
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and os.path.isfile(path):
        with open(path, "rb") as file:
            return importlib.util.decode_source(file.read())
    inputs = _session_inputs(main, names)
    if not inputs:
        raise MainModuleError(_fix_text(
            names, "it was defined in an interactive session that keeps no "
            "copy of its input (such as the standard Python REPL before "
            "3.13), so its source cannot be recovered"))
    return _definitions(inputs, names)


def _session_inputs(main, names: set) -> dict:
    """filename -> source of each input the session ran, in order."""
    inputs = {}
    if sys.argv[:1] == ["-c"] and len(sys.orig_argv) > len(sys.argv):
        # sys.argv is ["-c", *args]; the command precedes the args.
        inputs["<string>"] = sys.orig_argv[-len(sys.argv)]
    defining = set()
    for name in names:
        defining.update(_code_filenames(getattr(main, name, None)))
    for filename, entry in list(linecache.cache.items()):
        # A source registered without a file has no mtime: checkcache keeps it.
        if (len(entry) == 4 and entry[1] is None and filename not in inputs
                and (_CELL.search(filename) or filename in defining)):
            inputs[filename] = "".join(entry[2])
    return inputs


def _code_filenames(obj) -> set:
    """The files of the code of a function, or of a class's methods."""
    found = set()
    members = vars(obj).values() if isinstance(obj, type) else [obj]
    for member in members:
        for function in (member, getattr(member, "__func__", None),
                         getattr(member, "fget", None)):
            code = getattr(function, "__code__", None)
            if code is not None:
                found.add(code.co_filename)
    return found


_SIMPLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return,
           ast.Delete, ast.Pass, ast.Break, ast.Continue, ast.Raise, ast.Assert,
           ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)


class _Statement:
    """A top-level statement of an input: what it binds and reads."""

    def __init__(self, filename: str, source: str, node: ast.stmt):
        self.node = node
        self.binds: set = set()
        _bound_names(node, self.binds)
        self.uses = {child.id for child in ast.walk(node)
                     if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load)}
        if not isinstance(node, _SIMPLE):
            # Compound statements own their lines (decorators included).
            first = min([node.lineno] + [d.lineno for d in
                                         getattr(node, "decorator_list", ())])
            lines = source.splitlines()[first - 1:node.end_lineno]
            self.text = "\n".join(lines)
        else:
            # A simple statement may share its line with others (`a = 1; f()`).
            first = node.lineno
            self.text = ast.get_source_segment(source, node)
        self.origin = f"# {filename}, line {first}"


def _bound_names(node: ast.AST, out: set) -> None:
    """Names a top-level statement binds in the module's namespace."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        out.add(node.name)
        return
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            out.add(alias.asname or alias.name.partition(".")[0])
        return
    if isinstance(node, (ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.SetComp,
                         ast.DictComp)):
        return  # their own scope
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        out.add(node.id)
    for child in ast.iter_child_nodes(node):
        _bound_names(child, out)


def _parse(filename: str, source: str) -> Optional[tuple]:
    """(tree, the text it was parsed from), or None if not Python."""
    try:
        return ast.parse(source, filename), source
    except SyntaxError:
        pass
    lines = source.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%"):
        return None  # a cell magic: its body need not be Python
    neutral = "\n".join(_MAGIC_LINE.sub(r"\1pass  # IPython: \2", line)
                        for line in lines)
    try:
        return ast.parse(neutral, filename), neutral
    except SyntaxError:
        return None  # it cannot have run, so it defined nothing


def _definitions(inputs: dict, names: set) -> str:
    futures, statements = [], []
    for filename, source in inputs.items():
        parsed = _parse(filename, source)
        if parsed is None:
            continue
        tree, source = parsed
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                text = ast.get_source_segment(source, node)
                if text not in futures:
                    futures.append(text)
                continue
            statements.append(_Statement(filename, source, node))
    needed, kept = set(names), set()
    grew = True
    while grew:
        grew = False
        for index, statement in enumerate(statements):
            if index in kept:
                continue
            star = "*" in statement.binds
            if star or statement.binds & needed:
                kept.add(index)
                needed |= statement.uses
                grew = True
    defined = set().union(*(statements[index].binds for index in kept))
    missing = sorted(set(names) - defined)
    if missing:
        raise MainModuleError(_fix_text(
            missing, f"none of the session's inputs ({', '.join(inputs)}) "
            "defines it at top level (was it made by exec(), or in a cell "
            "no longer kept?)"))
    parts = [f"# {MODULE_NAME}: the definitions of __main__ that hermetic "
             "packaged, from the session's inputs in the order they ran."]
    parts.extend(futures)
    for index in sorted(kept):
        parts.append(f"{statements[index].origin}\n{statements[index].text}")
    return "\n\n".join(parts) + "\n"


def _fix_text(names, why: str) -> str:
    listed = ", ".join(sorted(names))
    first = sorted(names)[0]
    return (
        f"Cannot package {listed} from __main__: {why}. To fix it, move the "
        f"code into a module file (for example mymodel.py beside your "
        f"notebook or script), import it from there (`from mymodel import "
        f"{first}`), recreate the object, and intern that module "
        f"(`exporter.intern(\"mymodel\")`); or run the code as a script, "
        f"with `python -c`, or in IPython/Jupyter, whose input hermetic can "
        f"read.")
