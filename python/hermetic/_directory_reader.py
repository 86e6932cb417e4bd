"""torch-style record readers over hermetic's C++ ArchiveReader.

``PackageImporter.zip_reader`` is one of these. Code written against
torch.package's ``importer.zip_reader`` (a ``torch._C.PyTorchFileReader``, or
a ``DirectoryReader`` for unzipped packages) uses ``get_record``,
``has_record`` and ``get_all_records``; those work the same here. The
underlying ``hermetic._core.ArchiveReader`` is ``.archive``, for zero-copy
``view()`` of records. torch's own C++ functions that require a
``PyTorchFileReader`` cannot take these objects; the importer hands
TorchScript loading one of torch's own (_torchscript).
"""

import os
from typing import List, Union

from . import _core

__all__ = ["DirectoryReader", "RecordReader"]

_SERIALIZATION_ID = ".data/serialization_id"


class RecordReader:
    """Records of a zip archive or an unzipped package folder, by name
    (names exclude the archive's top-level folder)."""

    def __init__(self, archive: _core.ArchiveReader):
        self.archive = archive

    def get_record(self, name: str) -> bytes:
        """The record's bytes; NotFoundError if absent."""
        return self.archive.read(name)

    def has_record(self, name: str) -> bool:
        return self.archive.has_record(name)

    def get_all_records(self) -> List[str]:
        """Record names in archive order."""
        return self.archive.records()

    def serialization_id(self) -> str:
        """Newer torch writers record an id; "" when the archive has none."""
        if not self.archive.has_record(_SERIALIZATION_ID):
            return ""
        return self.archive.read(_SERIALIZATION_ID).decode("ascii", "replace")


class DirectoryReader(RecordReader):
    """An unzipped package: `directory` is the folder that holds ``.data/``;
    verify_crc as _core.ArchiveReader's."""

    def __init__(self, directory: Union[str, "os.PathLike[str]"], *, verify_crc: bool = False):
        self.directory: str = os.fspath(directory)
        super().__init__(_core.ArchiveReader(self.directory, verify_crc=verify_crc))

    def record_path(self, name: str) -> str:
        """The file holding record `name` (for APIs that need a real path)."""
        return os.path.join(self.directory, *name.split("/"))
