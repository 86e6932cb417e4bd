"""Load policies: what PackageImporter(policy=...) checks before any packaged
module runs and before any pickle is unpickled (README "Safe loading").

A policy refuses a package, with UnsafePackageError naming the record, what
was refused and the rule, when

- it needs an external module (``.data/extern_modules``) that is not on the
  host-module allow-list (rule ``policy.extern``);
- one of its pickles names a global that is neither in one of the package's
  own modules nor a data constructor (the scan's default list plus
  ``allowed_globals``): ``policy.global``; or a global the scan cannot name
  (``policy.global.unresolved``, ``policy.global.extension_code``), or a
  persistent id the format does not define (``policy.persistent_id``);
- it holds TorchScript (``.data/ts_code/``), which torch's reader compiles
  and runs, unless ``torchscript=True`` (``policy.torchscript``);
- the static scan (hermetic.scan, the same engine) has a finding at or above
  ``refuse`` that ``accept`` does not cover: the finding's own rule.

The checks run three times, on the same bytes the loader uses: over the
whole archive when the importer is made, on each pickle's bytes in
load_pickle (they are read again), and on each global as the unpickler
resolves it, where a global of a packaged module must be defined by the
package (a packaged module that re-exports os.system does not make it a
packaged global). What this cannot stop: packaged code that passed the scan
still runs with the interpreter's full powers, and an allowed host module
may hand it others (``sys.modules``). The only loading that runs no
packaged code at all is PackageImporter.load_weights (_weights).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import sys
from collections.abc import Iterable, Sequence

from . import _core, _torchscript
from ._importlib import source_module
from ._mangling import demangle, is_mangled
from ._package_unpickler import python2_name
from ._scan import SEVERITIES, _rank, archive_findings
from .errors import UnsafePackageError

__all__ = ["DEFAULT_ALLOWED_EXTERNS", "DENIED_EXTERNS", "LoadPolicy"]

# Host modules a package may need under the default policy: torch, numpy and
# the standard library except what DENIED_EXTERNS names.
DEFAULT_ALLOWED_EXTERNS: tuple[str, ...] = ("torch", "torch.**", "numpy", "numpy.**")

# Standard modules that run processes, load code or objects, reach the
# network or memory: a package that needs one is refused unless the policy
# names it in allowed_externs.
DENIED_EXTERNS: tuple[str, ...] = (
    "subprocess", "_posixsubprocess", "pty", "posix", "nt", "_winapi", "msvcrt",
    "ctypes", "_ctypes", "ctypes.**", "multiprocessing", "multiprocessing.**",
    "concurrent.futures.process", "asyncio", "asyncio.**",
    "socket", "_socket", "ssl", "_ssl", "select", "selectors", "socketserver",
    "http", "http.**", "urllib", "urllib.**", "ftplib", "smtplib", "poplib", "imaplib",
    "nntplib", "telnetlib", "xmlrpc", "xmlrpc.**", "webbrowser", "wsgiref", "wsgiref.**",
    "runpy", "code", "codeop", "pdb", "bdb", "importlib", "importlib.util",
    "importlib.machinery", "importlib._bootstrap", "importlib._bootstrap_external",
    "zipimport", "pickle", "_pickle", "marshal", "shelve", "dbm", "dbm.**", "copyreg",
    "_thread", "signal",
)

# The global that loads a ScriptModule, and the scan's rule for it.
_TORCHSCRIPT_GLOBAL = (_torchscript.LOADER_MODULE, _torchscript.LOADER_NAME)
_TORCHSCRIPT_RULE = f"pickle.global.{_torchscript.LOADER_MODULE}.{_torchscript.LOADER_NAME}"

# The persistent ids PackageExporter writes (see _package_unpickler).
_PERSISTENT_ID_KINDS = frozenset(("storage", "reduce_package"))


@dataclasses.dataclass(frozen=True)
class LoadPolicy:
    """What a PackageImporter may load (see the module docstring).

    allowed_globals: pickle globals added to the default data constructors:
        "module.name", "module.*" (every name of module) or "module.**"
        (its submodules too). A wildcard never matches a dotted name.
    allowed_externs: host modules added to DEFAULT_ALLOWED_EXTERNS and the
        standard library, as PackageExporter.extern patterns ("pkg.**").
        Trusting a module this way also admits its globals in pickles
        (``allowed_externs=["sklearn.**"]`` loads a scikit-learn pipeline),
        except the dangerous ones.
    refuse: the scan severity at or above which a finding refuses the
        package ("info" ... "critical"), or None to ignore the scan.
    accept: scan rule ids (fnmatch patterns, e.g. "source.eval") whose
        findings never refuse.
    torchscript: admit TorchScript (``.data/ts_code/`` records and the
        global that loads them): code that torch's own reader parses,
        compiles and runs, outside every check of hermetic. Off: a package
        with TorchScript is refused (rule ``policy.torchscript``).
    """

    allowed_globals: Sequence[str] = ()
    allowed_externs: Sequence[str] = ()
    refuse: str | None = "high"
    accept: Sequence[str] = ()
    torchscript: bool = False

    def __post_init__(self) -> None:
        for field in ("allowed_globals", "allowed_externs", "accept"):
            value = getattr(self, field)
            if isinstance(value, str):
                # One pattern given bare, as PackageExporter.extern takes it.
                value = (value,)
            object.__setattr__(self, field, tuple(value))
        if self.refuse is not None and self.refuse not in SEVERITIES:
            raise ValueError(
                f"unknown severity {self.refuse!r}; one of {', '.join(SEVERITIES)} or None")


def _archive_modules(records: Iterable[str]) -> frozenset[str]:
    """Modules whose source the archive holds (mock stubs included)."""
    return frozenset(filter(None, map(source_module, records)))


class PolicyCheck:
    """A LoadPolicy applied to one opened archive."""

    def __init__(self, policy: LoadPolicy, reader, extern_modules: Sequence[str], *,
                 bytecode_runs: bool = False):
        """`bytecode_runs`: the importer will run the archive's bytecode
        records, so the scan compares each with its source."""
        self.policy = policy
        self._bytecode_runs = bytecode_runs
        self._reader = reader
        self._archive_name = reader.archive.name
        self._modules = _archive_modules(reader.get_all_records())
        self._extern_modules = extern_modules
        self._allowed_externs = _core.GlobGroup(list(DEFAULT_ALLOWED_EXTERNS))
        self._user_externs = (
            _core.GlobGroup(list(policy.allowed_externs)) if policy.allowed_externs else None)
        self._denied_externs = _core.GlobGroup(list(DENIED_EXTERNS))
        self._allowed_globals = list(policy.allowed_globals)

    def _refuse(self, record: str, subject: str, rule: str, why: str,
                where: str | None = None) -> UnsafePackageError:
        return UnsafePackageError(
            f"archive {self._archive_name}, record {where or record}: {subject} refused by the load "
            f"policy (rule {rule}): {why}; nothing of the package has run",
            record=record, subject=subject, rule=rule)

    # ------------------------------------------------------------------
    # When the importer is made

    def check_archive(self) -> None:
        for name in self._extern_modules:
            self.check_extern(name)
        records = self._reader.get_all_records()
        torchscript = next(filter(_torchscript.is_record, records), None)
        if torchscript is not None and not self.policy.torchscript:
            raise self._refuse(
                torchscript, "TorchScript", "policy.torchscript",
                "code that torch's reader compiles and runs, outside hermetic's checks "
                "(LoadPolicy(torchscript=True) admits it)")
        for record in records:
            # TorchScript's own pickles are torch's reader's to judge.
            if record.endswith(".pkl") and not _torchscript.is_record(record):
                self.check_pickle(record, _core.check_pickle(self._reader.get_record(record)))
        if self.policy.refuse is not None:
            self._check_scan()

    def check_extern(self, name: str) -> None:
        if self._user_externs is not None and self._user_externs.matches(name):
            return
        top = name.partition(".")[0]
        host_module = self._allowed_externs.matches(name) or top in sys.stdlib_module_names
        if host_module and not self._denied_externs.matches(name):
            return
        raise self._refuse(
            ".data/extern_modules", f"external module {name}", "policy.extern",
            "the package needs it from the host and it is not on the allow-list "
            "(LoadPolicy(allowed_externs=...) adds it)")

    def _check_scan(self) -> None:
        _, _, _, findings = archive_findings(
            self._reader.archive, self._allowed_globals, check_bytecode=self._bytecode_runs)
        threshold = _rank(self.policy.refuse)
        for finding in findings:
            if _rank(finding.severity) < threshold:
                continue
            if self.policy.torchscript and (
                    _torchscript.is_record(finding.record) or finding.rule == _TORCHSCRIPT_RULE):
                continue
            if any(fnmatch.fnmatchcase(finding.rule, pattern) for pattern in self.policy.accept):
                continue
            record, position = finding.record, finding.position
            raise self._refuse(
                record, finding.message, finding.rule,
                f"a {finding.severity} finding of hermetic.scan "
                f"(LoadPolicy(accept=[{finding.rule!r}]) accepts it)",
                where=record if position is None else f"{record} (position {position})")

    # ------------------------------------------------------------------
    # Each pickle, on the bytes load_pickle unpickles

    def check_pickle(self, record: str, scan) -> None:
        """`scan`: what _core.check_pickle found in the record's bytes."""
        if scan.unresolved_globals:
            raise self._refuse(
                record, "a computed global", "policy.global.unresolved",
                "a STACK_GLOBAL whose module or name is computed on the stack")
        if scan.extension_codes:
            raise self._refuse(
                record, f"extension code {scan.extension_codes[0]}",
                "policy.global.extension_code",
                "a global named through the host's copyreg registry")
        for kind in scan.persistent_id_kinds:
            if kind not in _PERSISTENT_ID_KINDS:
                raise self._refuse(
                    record, f"persistent id {kind!r}", "policy.persistent_id",
                    "a kind PackageExporter never writes")
        if scan.unnamed_persistent_ids:
            raise self._refuse(
                record, "a persistent id", "policy.persistent_id",
                "a persistent id whose kind the scan cannot name")
        python2 = scan.protocol < 3
        for module, name in scan.globals:
            if python2:
                module, name = python2_name(module, name)
            self.check_global(record, module, name)

    def check_global(self, record: str, module: str, name: str) -> None:
        if self.policy.torchscript and (module, name) == _TORCHSCRIPT_GLOBAL:
            return
        kind, severity = _core.classify_global(
            module, name, module in self._modules, self._allowed_globals)
        if kind == "dangerous":
            raise self._refuse(
                record, f"global {module}.{name}", "policy.global",
                f"a callable that runs commands, code, imports or I/O ({severity})")
        if kind == "extern" and not (
                self._user_externs is not None and self._user_externs.matches(module)):
            raise self._refuse(
                record, f"global {module}.{name}", "policy.global",
                "neither in a module of the package nor a data constructor "
                "(LoadPolicy(allowed_globals=...) adds it)")

    # ------------------------------------------------------------------
    # Each global, as the unpickler resolves it

    def check_resolved(self, record: str, module: str, name: str, obj, prefix: str) -> None:
        """After check_global passed and (module, name) resolved to `obj`: a
        global of a packaged module must be a class or function the package
        defines, or a data constructor it imported. `prefix`: the
        importer's mangle parent."""
        if module not in self._modules:
            return
        defined_in = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if isinstance(defined_in, str) and isinstance(qualname, str):
            if is_mangled(defined_in):
                if defined_in.startswith(prefix + ".") and demangle(defined_in) in self._modules:
                    return
            elif _core.classify_global(
                    defined_in, qualname, False, self._allowed_globals)[0] == "allowed":
                return
            shown = f"{defined_in}.{qualname}"
        else:
            shown = f"a {type(obj).__name__} object"
        raise self._refuse(
            record, f"global {module}.{name}", "policy.global.reexport",
            f"it resolves to {shown}, which the package does not define and which is "
            "not a data constructor")
