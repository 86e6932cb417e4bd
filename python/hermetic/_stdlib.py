"""Which modules belong to the Python standard library.

The exporter externs these implicitly. Python 3.10+ ships the authoritative
list, so there is nothing to maintain here.
"""

import sys


def is_stdlib_module(module: str) -> bool:
    """Whether the top-level package of the dotted name `module` is stdlib."""
    return module.partition(".")[0] in sys.stdlib_module_names
