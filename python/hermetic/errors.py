"""Exceptions raised by hermetic's core.

Each class also inherits the builtin exception a Python user would reach for,
so ``except ValueError`` catches a corrupt archive and ``except OSError`` an
unwritable target, as with the standard library.
"""

import pickle
from typing import Optional


class HermeticError(Exception):
    """Base of every error hermetic's core raises."""


class InvalidArgumentError(HermeticError, ValueError):
    """An argument the core cannot use."""


class NotFoundError(HermeticError, FileNotFoundError, RuntimeError):
    """A named archive, record or module does not exist. Also a RuntimeError:
    torch.package raises that for a missing record."""


class CorruptArchiveError(HermeticError, ValueError):
    """An archive's bytes break the format or a safety limit."""


class CorruptPickleError(CorruptArchiveError, pickle.UnpicklingError):
    """A pickle record that the unpickler may not or cannot read."""


class AlreadyExistsError(HermeticError, AssertionError):
    """A name that must be new, such as a record written twice, is taken.

    An AssertionError because torch.package raises that for the same case.
    """


class HermeticIOError(HermeticError, OSError):
    """The operating system refused a read or a write."""


class UnsupportedError(HermeticError, NotImplementedError):
    """Valid input that uses a feature hermetic does not implement."""


class StateError(HermeticError, RuntimeError):
    """An operation not allowed in the object's current state."""


class ResourceLimitError(HermeticError, MemoryError):
    """Memory for an input ran out, or the input needs more than a limit allows."""


class IntegrityError(HermeticError, ValueError):
    """An archive's records differ from its manifest, or its signature is
    missing, invalid or by a key not trusted."""


class UnsafePackageError(HermeticError, pickle.UnpicklingError):
    """A load policy (PackageImporter(policy=..., safe=True), load_weights)
    refused a package before anything of it ran.

    An UnpicklingError because torch.load(weights_only=True) raises that for
    a global it refuses. ``record``, ``subject`` (the global, module or
    finding refused) and ``rule`` (the policy or scan rule id) say what.
    """

    def __init__(self, message: str, *, record: Optional[str] = None,
                 subject: Optional[str] = None, rule: Optional[str] = None):
        super().__init__(message)
        self.record = record
        self.subject = subject
        self.rule = rule


class InternalError(HermeticError, RuntimeError):
    """A bug in hermetic; please report it."""


class TorchIncompatibleWarning(UserWarning):
    """An export option made an archive that torch.package cannot load
    (hermetic can). Issued once per exporter, by the first record it makes
    unreadable there: today a pickle saved with out-of-band buffers."""


class MainModuleError(HermeticError, pickle.PicklingError):
    """save_pickle met an object of ``__main__`` whose source cannot be
    recovered (see hermetic._main_module); the text says how to fix it. A
    PicklingError, as pickle raises for objects it cannot name."""
