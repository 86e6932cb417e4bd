"""hermetic: seal Python code and objects into one torch.package-compatible
archive, with a C++ core.

Code written for torch.package works after changing its import:
``from hermetic import PackageExporter, PackageImporter``. Importing hermetic
never imports torch; tensors are handled when torch is installed.
"""

from .analyze.is_from_package import is_from_package
from .errors import CorruptArchiveError, HermeticError
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
from ._scan import Finding, ScanReport, scan

__all__ = [
    "CorruptArchiveError",
    "Directory",
    "EmptyMatchError",
    "Finding",
    "GlobGroup",
    "HermeticError",
    "Importer",
    "ObjMismatchError",
    "ObjNotFoundError",
    "OrderedImporter",
    "PackageExporter",
    "PackageImporter",
    "PackagingError",
    "ScanReport",
    "is_from_package",
    "scan",
    "sys_importer",
]
