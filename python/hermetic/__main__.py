"""``python -m hermetic ARGS``: the ``hermetic`` command-line tool.

The tool is the C++ program the wheel installs into the environment's
scripts folder beside ``python`` (CMakeLists.txt, ``SKBUILD_SCRIPTS_DIR``);
this runs that very program with the same arguments, so both spellings
behave alike. ``$HERMETIC_CLI`` names another binary (a developer build).
"""

import os
import shutil
import sys
import sysconfig
from typing import Optional, Sequence


def _find_cli():
    explicit = os.environ.get("HERMETIC_CLI")
    if explicit:
        return explicit
    # The environment's own scripts folder first (a venv or --user install
    # may not be on PATH), then PATH.
    for scheme in (None, "posix_user"):
        folder = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        candidate = os.path.join(folder, "hermetic")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("hermetic")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    cli = _find_cli()
    if cli is None:
        sys.stderr.write(
            "hermetic: the hermetic program is not installed in this environment "
            "(it comes with the wheel; set HERMETIC_CLI to use another build)\n")
        return 4
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(cli, [cli, *args])
    except OSError as e:
        sys.stderr.write(f"hermetic: cannot run {cli}: {e.strerror}\n")
        return 4


if __name__ == "__main__":
    sys.exit(main())
