#include "hermetic/imports.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "imports/string_literal.h"

namespace hermetic {
namespace {

using Refs = std::vector<ImportRef>;

Refs Scan(std::string_view source, std::string_view module = "pkg.mod",
          bool is_package = false) {
  Result<Refs> r = ScanImports(source, module, is_package);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Refs{};
}

ImportRef M(std::string m) { return {std::move(m), std::nullopt}; }
ImportRef MN(std::string m, std::string n) { return {std::move(m), n}; }

TEST(ImportScanTest, StatementForms) {
  EXPECT_EQ(Scan("import a.b.c, x as y\nfrom m import p, q as r\n"
                 "from s import *\n"),
            (Refs{M("a.b.c"), M("x"), MN("m", "p"), MN("m", "q"), M("s")}));
}

TEST(ImportScanTest, RelativeImportsResolveAgainstPackage) {
  EXPECT_EQ(Scan("from . import x\nfrom ..q import y", "a.b.mod"),
            (Refs{MN("a.b", "x"), MN("a.q", "y")}));
  EXPECT_EQ(Scan("from . import x", "a.b", true), (Refs{MN("a.b", "x")}));
  // torch's quirk: a top-level module is its own package.
  EXPECT_EQ(Scan("from . import x", "top"), (Refs{MN("top", "x")}));
}

TEST(ImportScanTest, RelativeBeyondTopLevelFails) {
  Result<Refs> r = ScanImports("from ... import x", "a.b", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "attempted relative import beyond top-level package");
}

TEST(ImportScanTest, IgnoresStringsCommentsAndNonStatementFrom) {
  EXPECT_EQ(Scan("s = 'import a'\n# import b\nt = '''\nfrom c import d\n'''\n"
                 "x = yield from g\nraise E from F\nimport real\n"),
            (Refs{M("real")}));
}

TEST(ImportScanTest, DunderImportForms) {
  EXPECT_EQ(Scan("__import__('a.b.c')"), (Refs{M("a.b.c"), M("a.b")}));
  EXPECT_EQ(Scan("__import__('m', fromlist=['o', '*'])"),
            (Refs{MN("m", "o"), M("m")}));
  EXPECT_EQ(Scan("__import__('r', g, l, ['z'], 1)", "p.q.mod"),
            (Refs{MN("p.q.r", "z")}));
  // Nested in another call, or callee of a call: torch never looks there.
  EXPECT_EQ(Scan("getattr(__import__('x'), 'k')\n__import__('y').f()\n"),
            Refs{});
  EXPECT_EQ(Scan("__import__('y').attr"), (Refs{M("y")}));
}

TEST(ImportScanTest, ImportlibImportModule) {
  EXPECT_EQ(Scan("importlib.import_module('m')\n"
                 "importlib.import_module('..r', 'a.b.c')\n"),
            (Refs{M("m"), M("a.b.r")}));
}

TEST(ImportScanTest, FStringFieldsAreScanned) {
  EXPECT_EQ(Scan("x = f\"{'}'}{__import__('a')!r:>{__import__('b')}}\""),
            (Refs{M("a"), M("b")}));
}

TEST(ImportScanTest, DeduplicatesInFirstSeenOrder) {
  EXPECT_EQ(Scan("import b\nimport a\nimport b\n"), (Refs{M("b"), M("a")}));
}

TEST(ImportScanTest, SyntaxErrorsNamePythonsReason) {
  struct Case {
    const char* source;
    const char* message;
  } cases[] = {
      {"x = 1\ny = 'abc",
       "unterminated string literal (detected at line 2) (<unknown>, line 2)"},
      {"x = '''abc\n\n",
       "unterminated triple-quoted string literal (detected at line 3) "
       "(<unknown>, line 1)"},
      {"x = (1,\n2", "'(' was never closed (<unknown>, line 1)"},
      {"x = (1,\n2]",
       "closing parenthesis ']' does not match opening parenthesis '(' on "
       "line 1 (<unknown>, line 2)"},
      {"x = 1)", "unmatched ')' (<unknown>, line 1)"},
      {"a $ b", "invalid syntax (<unknown>, line 1)"},
  };
  for (const Case& c : cases) {
    Result<Refs> r = ScanImports(c.source, "m", false);
    ASSERT_FALSE(r.ok()) << c.source;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), c.message);
  }
}

TEST(ImportScanTest, BracketDepthLimit) {
  ImportScanOptions options;
  options.max_bracket_depth = 10;
  std::string deep(50, '(');
  Result<Refs> r = ScanImports(deep, "m", false, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(StringLiteralTest, DecodesEscapesAndRejectsBytes) {
  EXPECT_EQ(DecodeStringLiteral(R"('a\x2eb\n')"), "a.b\n");
  EXPECT_EQ(DecodeStringLiteral(R"(r'a\x')"), "a\\x");
  EXPECT_EQ(DecodeStringLiteral(R"("""t\u00e9""")"), "t\xc3\xa9");
  EXPECT_EQ(DecodeStringLiteral("b'x'"), std::nullopt);
  EXPECT_EQ(DecodeStringLiteral(R"('\N{DASH}')"), std::nullopt);
  EXPECT_FALSE(ParseStringPrefix("ub").has_value());
  EXPECT_TRUE(ParseStringPrefix("Rb").has_value());
}

}  // namespace
}  // namespace hermetic
