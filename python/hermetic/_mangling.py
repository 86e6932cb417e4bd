"""Name mangling of modules imported from a package.

Every PackageImporter puts its modules under its own prefix
``<torch_package_N>`` so that two importers of the same archive (or a
package and the environment) never share a module name, and so that code can
tell packaged objects apart. The prefix text is torch.package's: archives,
tools and user code recognise it.
"""

import sys

from . import _core

_next_index = 0


def _take_index():
    # torch.package numbers its importers with its own counter. When both
    # libraries are loaded in one process, share the numbering so a hermetic
    # importer and a torch importer never hand out the same prefix (which
    # would collide in linecache and in inspect's file registry).
    global _next_index
    index = _next_index
    torch_mangling = sys.modules.get("torch.package._mangling")
    torch_next = getattr(torch_mangling, "_mangle_index", None)
    if isinstance(torch_next, int):
        index = max(index, torch_next)
        torch_mangling._mangle_index = index + 1
    _next_index = index + 1
    return index


class PackageMangler:
    """Mangles and demangles names for one importer."""

    def __init__(self):
        self._prefix = f"<torch_package_{_take_index()}>"

    def mangle(self, name):
        if not name:
            # torch.package asserts here; callers catch AssertionError.
            raise AssertionError("cannot mangle an empty name")
        return f"{self._prefix}.{name}"

    def demangle(self, mangled):
        """Strips this mangler's prefix only; other names pass through."""
        own = self._prefix + "."
        if mangled.startswith(own):
            return mangled[len(own):]
        return mangled

    def parent_name(self):
        return self._prefix


# The rule lives in the C++ core (the export engine checks record and module
# names with it); a call costs less than a regex match.
is_mangled = _core.is_mangled
# Strips any importer's prefix; a bare prefix demangles to "".
demangle = _core.demangle


# Prefix -> the open PackageImporter whose modules are in sys.modules under
# it (see PackageImporter.close). While there are any, a pickler that names
# globals through sys.modules may meet mangled names, and importlib may be
# asked for one.
registered_prefixes = {}


def get_mangle_prefix(name):
    return name.partition(".")[0] if is_mangled(name) else name
