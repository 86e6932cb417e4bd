"""hermetic: seal Python code and objects into one torch.package-compatible
archive, with a C++ core.

Code written for torch.package works after changing its import:
``from hermetic import PackageExporter, PackageImporter``. Importing hermetic
never imports torch; tensors are handled when torch is installed.
"""

import os
from typing import Any

from ._core import __version__
from .analyze.is_from_package import is_from_package
from .errors import CorruptArchiveError, HermeticError, UnsafePackageError
from .errors import TorchIncompatibleWarning
from .file_structure_representation import Directory
from .glob_group import GlobGroup
from .importer import (
    Importer,
    ObjMismatchError,
    ObjNotFoundError,
    OrderedImporter,
    sys_importer,
)
from .package_exporter import EmptyMatchError, PackageExporter, PackagingError
from .package_importer import PackageImporter
from ._policy import LoadPolicy
from ._scan import Finding, ScanReport, scan
from ._inspect import Package, TensorMeta, open


def load_weights(path: "str | os.PathLike[str] | bytes", package: str, resource: str,
                 map_location: "Any" = None) -> "Any":
    """The tensors and plain containers of pickle `resource` of `package` in
    the archive at `path`, running none of the package's code (see
    PackageImporter.load_weights)."""
    return PackageImporter(path).load_weights(package, resource, map_location=map_location)


__all__ = [
    "__version__",
    "CorruptArchiveError",
    "Directory",
    "EmptyMatchError",
    "Finding",
    "GlobGroup",
    "HermeticError",
    "Importer",
    "Package",
    "LoadPolicy",
    "ObjMismatchError",
    "ObjNotFoundError",
    "OrderedImporter",
    "PackageExporter",
    "PackageImporter",
    "PackagingError",
    "ScanReport",
    "TensorMeta",
    "TorchIncompatibleWarning",
    "UnsafePackageError",
    "is_from_package",
    "load_weights",
    "open",
    "scan",
    "sys_importer",
]
