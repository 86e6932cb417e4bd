"""mkdocs hook: fills docs/cli.md's reference from the `hermetic` program.

The page carries the marker ``<!-- hermetic-cli-reference -->``; at build
time it becomes the program's ``--help`` and each command's ``--help``
(commands read from the top-level help, so a new command appears without
touching the docs). Generated rather than copied so that the reference
cannot drift from the program. The exit codes every command's help repeats
are shown once, under the top-level help. The program is $HERMETIC_CLI or
``hermetic`` on PATH; without it the build fails, saying so.
"""

import os
import re
import shutil
import subprocess

from mkdocs.exceptions import PluginError

MARKER = "<!-- hermetic-cli-reference -->"
_EXIT_CODES = "\nExit codes:\n"


def _cli() -> str:
    cli = os.environ.get("HERMETIC_CLI") or shutil.which("hermetic")
    if not cli:
        raise PluginError(
            "docs/cli.md needs the hermetic program: install the wheel or set "
            "HERMETIC_CLI to a build's binary (e.g. build/dev/hermetic)")
    return cli


def _help(cli: str, *args: str) -> str:
    run = subprocess.run([cli, *args, "--help"], capture_output=True, text=True)
    if run.returncode != 0:
        raise PluginError(f"{cli} {' '.join(args)} --help exited {run.returncode}: {run.stderr}")
    return run.stdout.rstrip("\n")


def commands(top_help: str) -> list:
    """The command names of the top-level help's "Commands:" list."""
    listing = top_help.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^  ([a-z][a-z-]*)\b", listing, flags=re.MULTILINE)


def reference(cli: str) -> str:
    """The Markdown of the CLI reference."""
    top = _help(cli)
    shared = top[top.index(_EXIT_CODES):] if _EXIT_CODES in top else None
    parts = ["### hermetic", "", "```text", "$ hermetic --help", top, "```"]
    for command in commands(top):
        text = _help(cli, command)
        if shared and text.endswith(shared):
            text = text[: -len(shared)].rstrip("\n")
        parts += ["", f"### hermetic {command}", "", "```text",
                  f"$ hermetic {command} --help", text, "```"]
    return "\n".join(parts) + "\n"


def on_page_markdown(markdown, page, config, files, **kwargs):
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference(_cli()))
