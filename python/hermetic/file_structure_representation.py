"""Directory: a printable tree of an archive's records.

``str(tree)`` draws the same text as torch.package, so scripts and docs that
compare against it keep working.
"""

from typing import Dict

from .glob_group import GlobGroup

__all__ = ["Directory"]

_ROOT = "\u2500\u2500\u2500 "
_TEE = "\u251c\u2500\u2500 "
_LAST = "\u2514\u2500\u2500 "
_PIPE = "\u2502   "
_BLANK = "    "


class Directory:
    """A folder (is_dir) or file node; children maps names to nodes.

    Built by PackageImporter.file_structure().
    """

    def __init__(self, name: str, is_dir: bool):
        self.name = name
        self.is_dir = is_dir
        self.children: Dict[str, Directory] = {}

    def _add_file(self, file_path: str) -> None:
        *folders, file_name = file_path.split("/")
        node = self
        for folder in folders:
            child = node.children.get(folder)
            if child is None:
                child = node.children[folder] = Directory(folder, True)
            node = child
        node.children[file_name] = Directory(file_name, False)

    def has_file(self, filename: str) -> bool:
        """Whether the '/'-separated path names a file or a folder below."""
        node = self
        for part in filename.split("/"):
            node = node.children.get(part)
            if node is None:
                return False
        return True

    def __str__(self) -> str:
        lines = []
        self._draw(lines, "", _ROOT)
        return "".join(lines)

    def _draw(self, lines, indent, connector):
        lines.append(f"{indent}{connector}{self.name}\n")
        # Only a folder drawn with a tee has siblings below it, so only then
        # does its subtree need the vertical bar.
        indent += _PIPE if connector == _TEE else _BLANK
        folders = sorted(k for k, v in self.children.items() if v.is_dir)
        files = sorted(k for k, v in self.children.items() if not v.is_dir)
        entries = [(self.children[k], True) for k in folders] + [(k, False) for k in files]
        for position, (entry, is_folder) in enumerate(entries):
            branch = _LAST if position == len(entries) - 1 else _TEE
            if is_folder:
                entry._draw(lines, indent, branch)
            else:
                lines.append(f"{indent}{branch}{entry}\n")


def _create_directory_from_file_list(filename, file_list, include="**", exclude=()):
    """A Directory named `filename` holding the records that match the
    '/'-separated include/exclude globs."""
    patterns = GlobGroup(include, exclude=exclude, separator="/")
    top = Directory(filename, True)
    for name in file_list:
        if patterns.matches(name):
            top._add_file(name)
    return top
