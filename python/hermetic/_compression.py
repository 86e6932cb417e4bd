"""The exporter's ``compress=`` argument, as the archive writer's deflate
level (docs/format.md section 2, "Compression")."""

from typing import Union

from . import _core


def deflate_level(compress: Union[bool, int]) -> int:
    """0 (store every record) for False or 0, the default level for True,
    else a libdeflate level from 1 (fastest) to 12 (smallest)."""
    if compress is True or compress is False:
        return _core.DEFAULT_DEFLATE_LEVEL if compress else 0
    if isinstance(compress, int) and 0 <= compress <= 12:
        return compress
    raise ValueError(
        f"compress must be a bool or a deflate level from 0 to 12, got {compress!r}")
