"""Real files for packaged packages: PackageImporter(real_files=...).

Libraries that read their own folder (list a subfolder of
``os.path.dirname(__file__)``, open a JSON beside their code) need
``__file__`` and ``__path__`` to be paths of the file system; an archive's
modules normally have torch.package's mangled ``<torch_package_N>.pkg/m.py``.
For the top-level packages a user names, every record under the package's
folder is written once into a folder of the local cache named by the
SHA-256 of those records' names and bytes, read-only, and the modules get
``__file__``/``__path__`` there. Their code still comes from the archive's
records (the same bytes); the files are what the library reads.

Why this and not a virtual file system: the libraries call os, open and
pathlib directly, and patching those is more magic than writing files; the
content key makes the folder shared by every process and archive with the
same package, and a change in the package a new folder.

Location: ``$HERMETIC_FILES_DIR``, else ``$XDG_CACHE_HOME/hermetic/files``,
else ``~/.cache/hermetic/files``. A folder appears complete or not at all:
it is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile

from .errors import CorruptArchiveError, HermeticIOError

__all__ = ["files_directory", "materialize"]


def files_directory(environ=os.environ) -> str:
    directory = environ.get("HERMETIC_FILES_DIR")
    if directory:
        return directory
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hermetic", "files")


def _records_of(reader, top):
    prefix = top + "/"
    for record in reader.get_all_records():
        if record.startswith(prefix) or record == top + ".py":
            yield record


def _make_writable(folder):
    # A read-only tree cannot be removed until its folders are writable.
    for root, dirs, _ in os.walk(folder):
        os.chmod(root, stat.S_IRWXU)
        for name in dirs:
            os.chmod(os.path.join(root, name), stat.S_IRWXU)


def _remove(folder):
    _make_writable(folder)
    shutil.rmtree(folder, ignore_errors=True)


def materialize(reader, top: str) -> str:
    """The folder that holds top-level package `top` of the archive as real
    files (``<folder>/<top>/...``), written if no process wrote it before."""
    digest = hashlib.sha256()
    contents = []
    for record in _records_of(reader, top):
        parts = record.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise CorruptArchiveError(
                f"archive {reader.archive.name}, record {record}: not a relative file path")
        data = reader.get_record(record)
        name = record.encode("utf-8", "surrogateescape")
        for piece in (len(name).to_bytes(8, "little"), name, len(data).to_bytes(8, "little"),
                      data):
            digest.update(piece)
        contents.append((parts, data))
    base = files_directory()
    final = os.path.join(base, digest.hexdigest()[:40])
    if os.path.isdir(final):
        return final
    try:
        os.makedirs(base, exist_ok=True)
        temp = tempfile.mkdtemp(prefix=".partial-", dir=base)
    except OSError as error:
        raise HermeticIOError(f"cannot write the files of package {top} under {base}: {error}"
                              ) from error
    try:
        for parts, data in contents:
            folder = os.path.join(temp, *parts[:-1])
            os.makedirs(folder, exist_ok=True)
            fd = os.open(os.path.join(folder, parts[-1]),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
        for root, dirs, _ in os.walk(temp, topdown=False):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o555)
        os.chmod(temp, 0o755)
        try:
            os.rename(temp, final)
        except OSError:
            # Another process renamed its copy first: same content, use it.
            if not os.path.isdir(final):
                raise
            _remove(temp)
    except FileExistsError as error:
        _remove(temp)
        raise CorruptArchiveError(
            f"archive {reader.archive.name}: package {top} has a record that is both a file "
            f"and a folder ({error.filename})") from None
    except OSError as error:
        _remove(temp)
        raise HermeticIOError(f"cannot write the files of package {top} under {base}: {error}"
                              ) from error
    return final
