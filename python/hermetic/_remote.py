"""Packages that are not local files: URLs through fsspec, file objects.

``PackageImporter("https://host/model.pt")`` (any str with ``://``) opens the
URL with fsspec (an optional dependency; http and https need aiohttp too)
without a cache of its own: hermetic's reader asks for exactly the ranges it
needs, so a read-ahead block (fsspec's default is 5 MiB) would only fetch
bytes nobody uses. A URL and any seekable binary file object (an fsspec
file, io.BytesIO) are read through ``seek``/``readinto`` by
``_core.ArchiveReader``: at open the end of the central directory (one read
of its last 64 KiB), the directory and every local header (the acceptance
rules of docs/format.md need them; an fsspec file's are fetched in one
``fs.cat_ranges`` call, concurrently for HTTP and object stores), then each
record when first used and a tensor storage whole, in one read, when the
first tensor of it is loaded.
Nothing is zero-copy there: records and storages are private copies,
CRC-checked as they arrive, so a file changing underneath gives
CorruptArchiveError (changed bytes) or HermeticIOError (shorter), naming
the archive and the record. A file object with a ``fileno()`` of a regular
local file is mapped like a path instead.
"""

from .errors import HermeticIOError, NotFoundError, UnsupportedError

__all__ = ["check_binary", "is_url", "open_url"]


def is_url(name: str) -> bool:
    return "://" in name


def open_url(url: str):
    """A seekable binary file object reading `url` through fsspec."""
    try:
        import fsspec
    except ImportError:
        raise UnsupportedError(
            f"cannot open {url}: reading a package from a URL needs fsspec, "
            "which is not installed (pip install fsspec; http and https also "
            "need aiohttp)") from None
    try:
        return fsspec.open(url, "rb", cache_type="none").open()
    except FileNotFoundError as error:
        raise NotFoundError(f"no such archive: {url}") from error
    except ImportError as error:  # the protocol's own dependency
        raise UnsupportedError(
            f"cannot open {url}: fsspec cannot read this protocol here: {error}"
        ) from error
    except (OSError, ValueError) as error:
        raise HermeticIOError(f"cannot open {url}: {error}") from error


def check_binary(data):
    """`data` (what a file object's read() returned) if it is bytes-like,
    else TypeError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"PackageImporter needs a binary file object; read() returned {type(data).__name__}"
        )
    return data
