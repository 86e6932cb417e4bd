#!/usr/bin/env python3
"""Checks every #include of the C++ sources against the layer map.

The map comes from CMakeLists.txt (ctest passes one --component=NAME:DIR:DEPS
per hermetic_component call), so it is written down once. The build already
refuses what it can: no target has src/ on its include path, and each
component links only the components it may use. This check adds what the
compiler cannot see, because every public header lives in one include/
directory and util's headers are on every core component's path:

  - no `../` and no path into src/ ("archive/zip_format.h"): a component's
    private header is included by bare name, from its own directory;
  - a bare name is a header of the including file's directory or, for a
    component that links util, one of util's headers (never both);
  - "hermetic/X.h" is a public header, and in a component (or its public
    header) it belongs to the component itself or to one it depends on; a
    public header is named after what implements it (X.cc or the directory
    X), which is how it is assigned to a component;
  - public headers include only public headers;
  - tools/, python/bindings/ and fuzz/ see public headers and their own
    directory only;
  - Python and nanobind only in python/bindings/; GoogleTest only in tests;
    a third-party library's header only where the map links the library,
    and never in a public header (they are installed without it);
  - every source under src/ lies in a component directory.

Usage: check_layers.py --root=DIR --component=NAME:DIR:DEP,DEP ... Exits 1
and prints one line per violation. --self-test checks the checker on a
made-up tree.
"""

import argparse
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE = re.compile(r"\.(cc|h)$")
TEST_FILE = re.compile(r"_test(_util)?\.(cc|h)$")
CLIENT_DIRS = ("tools", "python/bindings", "fuzz")
# Third-party headers and the library (as the map names it) that provides them.
LIBRARY_HEADERS = {
    "zlib.h": "PkgConfig::ZLIB",
    "libdeflate.h": "PkgConfig::LIBDEFLATE",
    "sodium.h": "PkgConfig::SODIUM",
}


class Component:
    def __init__(self, spec):
        self.name, self.dir, deps = spec.split(":", 2)
        self.dir = self.dir.rstrip("/")
        # Library names contain "::"; component names never do.
        self.deps = [d for d in deps.split(",") if d]
        self.libraries = [d for d in self.deps if "::" in d]
        self.components = [d for d in self.deps if "::" not in d]


def sources(root, top):
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
        dirnames[:] = sorted(d for d in dirnames if d not in ("corpus", "regressions"))
        for f in sorted(filenames):
            if SOURCE.search(f):
                yield os.path.relpath(os.path.join(dirpath, f), root)


def check(root, components):
    errors = []
    by_name = {c.name: c for c in components}
    by_dir = {c.dir: c for c in components}
    util = by_name.get("util")
    util_headers = set()
    if util:
        util_headers = {f for f in os.listdir(os.path.join(root, util.dir)) if f.endswith(".h")}

    for c in components:
        for dep in c.components:
            if dep not in by_name:
                errors.append(f"CMakeLists.txt: component {c.name} depends on unknown {dep}")

    # Public headers belong to the component that implements them.
    public = {}
    public_dir = os.path.join(root, "include", "hermetic")
    for header in sorted(os.listdir(public_dir)):
        if not header.endswith(".h"):
            continue
        stem = header[:-2]
        owners = [
            c
            for c in components
            if os.path.exists(os.path.join(root, c.dir, stem + ".cc"))
            or os.path.basename(c.dir) == stem
            or c.name == stem
        ]
        if len(owners) != 1:
            found = ", ".join(c.name for c in owners) or "none"
            errors.append(
                f"include/hermetic/{header}: implemented by one component "
                f"(a {stem}.cc or a directory {stem}), found {found}"
            )
            continue
        public[header] = owners[0]

    files = []
    for path in sources(root, "src"):
        c = by_dir.get(os.path.dirname(path))
        if c is None:
            errors.append(f"{path}: not in a component directory of the layer map")
            continue
        files.append((path, c))
    for path in sources(root, "include"):
        header = os.path.relpath(path, "include/hermetic")
        if header in public:
            files.append((path, public[header]))
    for top in CLIENT_DIRS:
        files.extend((path, None) for path in sources(root, top))

    for path, c in files:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().splitlines()
        for lineno, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            quoted, name = m.group(1) == '"', m.group(2)
            why = judge(root, path, c, quoted, name, public, util, util_headers)
            if why:
                if c is None:
                    context = "the public API"
                elif path.startswith("include/"):
                    context = f"{c.name}'s public header"
                else:
                    context = c.name
                shown = f'"{name}"' if quoted else f"<{name}>"
                errors.append(f"{path}:{lineno}: #include {shown}: {why} ({context})")
    return errors


def judge(root, path, c, quoted, name, public, util, util_headers):
    """Why `path`, in component c (None: a client of the public API), may not
    include `name`; None when it may."""
    is_public = path.startswith("include/")
    if ".." in name.split("/"):
        return "no ../ includes"
    if name.endswith(".cc"):
        return "a source file is compiled, not included"
    if name.startswith("hermetic/"):
        owner = public.get(name[len("hermetic/"):])
        if not quoted:
            return "public headers are included with quotes"
        if owner is None:
            return "no such public header"
        if c is not None and owner is not c and owner.name not in c.components:
            return f"{owner.name}'s header, and {c.name} does not depend on {owner.name}"
        return None
    if quoted and "/" in name:
        return "a path into src/: include a private header by bare name from its own directory"
    if quoted:
        local = os.path.exists(os.path.join(root, os.path.dirname(path), name))
        shared = (
            name in util_headers
            and c is not None
            and not is_public
            and (c is util or "util" in c.components)
        )
        if is_public:
            return 'public headers include only "hermetic/..." headers'
        if local and shared and c is not util:
            return "also a util header: the local one shadows it; rename one"
        if not local and not shared:
            return "not a header of this directory" + ("" if c is None else " nor of util")
        return None
    # <...>: system and third-party headers.
    top = name.split("/")[0]
    if (name == "Python.h" or top == "nanobind") and not path.startswith("python/bindings/"):
        return "Python only in python/bindings/"
    if top in ("gtest", "gmock") and not TEST_FILE.search(path):
        return "GoogleTest only in *_test.cc and *_test_util.h"
    library = LIBRARY_HEADERS.get(name)
    if library and is_public:
        # The installed headers must compile without the library's own.
        return f"{library} is private to the library: not in public headers"
    if library and (c is None or library not in c.libraries):
        return f"only components that link {library} may include it"
    return None


def self_test():
    """Runs the check on a made-up tree: clean, then with each violation."""
    components = [
        Component("util:src/util:"),
        Component("glob:src/glob:util"),
        Component("graph:src/graph:util"),
        Component("zip:src/zip:util,PkgConfig::ZLIB"),
    ]
    clean = {
        "include/hermetic/status.h": "",
        "include/hermetic/glob.h": '#include "hermetic/status.h"\n',
        "include/hermetic/graph.h": '#include "hermetic/status.h"\n',
        "include/hermetic/zip.h": '#include "hermetic/status.h"\n',
        "src/util/status.cc": '#include "hermetic/status.h"\n#include "text.h"\n',
        "src/util/text.h": "",
        "src/glob/glob.cc": '#include "hermetic/glob.h"\n#include "text.h"\n#include <string>\n',
        "src/glob/glob_test.cc": '#include "hermetic/glob.h"\n#include <gtest/gtest.h>\n',
        "src/graph/graph.cc": '#include "hermetic/graph.h"\n#include "order.h"\n',
        "src/graph/order.h": "",
        "src/zip/reader.cc": '#include "hermetic/zip.h"\n#include <zlib.h>\n',
        "tools/cli/main.cc": '#include "hermetic/glob.h"\n#include "flags.h"\n',
        "tools/cli/flags.h": "",
        "python/bindings/module.cc": "#include <Python.h>\n#include <nanobind/nanobind.h>\n",
        "fuzz/glob_fuzz.cc": '#include "hermetic/glob.h"\n',
    }
    # (file, line added to it, words the report must contain)
    violations = [
        ("src/glob/glob.cc", '#include "../graph/order.h"', "no ../"),
        ("src/glob/glob.cc", '#include "graph/order.h"', "a path into src/"),
        ("src/glob/glob.cc", '#include "order.h"', "not a header of this directory nor of util"),
        ("src/glob/glob.cc", '#include "hermetic/graph.h"', "glob does not depend on graph"),
        ("src/glob/glob.cc", "#include <hermetic/glob.h>", "with quotes"),
        ("src/glob/glob.cc", '#include "hermetic/imports.h"', "no such public header"),
        ("include/hermetic/glob.h", '#include "text.h"', 'only "hermetic/..."'),
        ("include/hermetic/glob.h", '#include "hermetic/graph.h"', "glob does not depend on graph"),
        ("tools/cli/main.cc", '#include "text.h"', "not a header of this directory ("),
        ("fuzz/glob_fuzz.cc", '#include "order.h"', "not a header of this directory ("),
        ("fuzz/glob_fuzz.cc", '#include "glob_fuzz.cc"', "a source file"),
        ("src/glob/glob.cc", "#include <Python.h>", "Python only"),
        ("tools/cli/main.cc", "#include <nanobind/nanobind.h>", "Python only"),
        ("src/glob/glob.cc", "#include <gtest/gtest.h>", "GoogleTest only"),
        ("src/glob/glob.cc", "#include <zlib.h>", "link PkgConfig::ZLIB"),
        ("include/hermetic/zip.h", "#include <zlib.h>", "not in public headers"),
        ("src/glob/text.h", "", "shadows"),
        ("src/extra/x.cc", "", "not in a component directory"),
        ("include/hermetic/orphan.h", "", "found none"),
    ]

    def run(files):
        with tempfile.TemporaryDirectory() as root:
            for path, text in files.items():
                os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
                with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                    f.write(text)
            return check(root, components)

    failures = []
    errors = run(clean)
    if errors:
        failures.append("the clean tree fails: " + "; ".join(errors))
    for path, line, words in violations:
        files = dict(clean)
        files[path] = files.get(path, "") + (line + "\n" if line else "")
        errors = run(files)
        if not any(words in e for e in errors):
            failures.append(f"{path} + {line!r}: no report saying {words!r}, got {errors}")
    for f in failures:
        print(f)
    print(f"check_layers self-test: {len(violations)} violations, {len(failures)} failures")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".")
    parser.add_argument("--component", action="append", default=[], type=Component)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.component:
        parser.error("no --component: the layer map comes from CMakeLists.txt")
    errors = check(args.root, args.component)
    for e in errors:
        print(e)
    print(f"check_layers: {len(args.component)} components, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
