#include "import_bindings.h"

#include <gtest/gtest.h>

#include <vector>

namespace hermetic::scan {
namespace {

using Bindings = std::vector<ImportBinding>;

TEST(ImportBindingsTest, EveryFormOfAbsoluteImport) {
  EXPECT_EQ(FindImportBindings("import os\n"
                               "import os.path as p, subprocess as sp\n"
                               "import a.b.c\n"
                               "from m.n import x, y as z\n"
                               "from q import (\n  r as s,\n  t,\n)\n"
                               "from w import *\n"),
            (Bindings{{"os", "os"},
                      {"p", "os.path"},
                      {"sp", "subprocess"},
                      {"a", "a"},
                      {"x", "m.n.x"},
                      {"z", "m.n.y"},
                      {"s", "q.r"},
                      {"t", "q.t"}}));
}

TEST(ImportBindingsTest, StatementsAnywhereButInStringsAndComments) {
  EXPECT_EQ(FindImportBindings("def f():\n    import os as o; from a import b\n"
                               "# import nope as n\n"
                               "s = 'import nope as n'\n"
                               "d = \"\"\"\nimport nope as n\n\"\"\"\n"
                               "e = rb'\\' import nope as n'\n"
                               "if x: import ctypes as c\n"
                               "x = f(1.5e3, \\\n  y)\n"
                               "from \\\n  subprocess import run\n"),
            (Bindings{{"o", "os"},
                      {"b", "a.b"},
                      {"c", "ctypes"},
                      {"run", "subprocess.run"}}));
}

TEST(ImportBindingsTest, RelativeImportsAndOtherUsesOfFromBindNothing) {
  EXPECT_EQ(FindImportBindings("from . import a\n"
                               "from .m import b as c\n"
                               "def g():\n    yield from items\n"
                               "raise E from err\n"),
            Bindings{});
}

TEST(ImportBindingsTest, BrokenSourceEndsWithoutError) {
  EXPECT_EQ(FindImportBindings("import"), Bindings{});
  EXPECT_EQ(FindImportBindings("import os as"), Bindings{});
  EXPECT_EQ(FindImportBindings("from x import ("), Bindings{});
  EXPECT_EQ(FindImportBindings("'unterminated\nimport os as o\n"),
            (Bindings{{"o", "os"}}));
  EXPECT_EQ(FindImportBindings("\\"), Bindings{});
  EXPECT_EQ(FindImportBindings("'''never closed import os as o"), Bindings{});
}

}  // namespace
}  // namespace hermetic::scan
