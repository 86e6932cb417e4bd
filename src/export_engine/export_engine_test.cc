#include "hermetic/export_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hermetic {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr std::string_view kHint =
    "\nSet debug=True when invoking PackageExporter for a visualization of "
    "where broken modules are coming from!\n";

class FakeProvider : public SourceProvider {
 public:
  void Add(const std::string& name, std::string source,
           bool is_package = false) {
    ModuleSource m;
    m.is_package = is_package;
    m.source = std::move(source);
    modules_[name] = std::move(m);
  }
  void AddBroken(const std::string& name, PackagingErrorReason reason,
                 std::string context = "") {
    ModuleSource m;
    m.reason = reason;
    m.context = std::move(context);
    modules_[name] = std::move(m);
  }

  Result<bool> ModuleExists(std::string_view name, bool must_import) override {
    ++exists_calls[std::string(name)];
    must_import_asked[std::string(name)] = must_import;
    return modules_.contains(std::string(name));
  }
  Result<ModuleSource> GetSource(std::string_view name) override {
    auto it = modules_.find(std::string(name));
    if (it == modules_.end()) {
      return Status::NotFound("Module not found: '" + std::string(name) + "'");
    }
    ++source_calls[std::string(name)];
    return it->second;
  }
  Result<bool> IsPackage(std::string_view name) override {
    ++is_package_calls[std::string(name)];
    auto it = modules_.find(std::string(name));
    if (it == modules_.end()) {
      return Status::NotFound("No module named '" + std::string(name) + "'");
    }
    return it->second.is_package;
  }

  std::map<std::string, int> exists_calls;
  std::map<std::string, int> source_calls;
  std::map<std::string, int> is_package_calls;
  std::map<std::string, bool> must_import_asked;

 private:
  std::map<std::string, ModuleSource> modules_;
};

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

GlobGroup Glob(std::vector<std::string> include,
               std::vector<std::string> exclude = {}) {
  Result<GlobGroup> group =
      GlobGroup::Create(std::move(include), std::move(exclude));
  EXPECT_TRUE(group.ok()) << group.status().ToString();
  return std::move(group).value();
}

class ExportEngineTest : public ::testing::Test {
 protected:
  ExportEngineTest() { Recreate({}); }

  // A new engine (and archive) with `options`.
  void Recreate(const ExportOptions& options) {
    engine_.reset();
    bytes_->clear();
    Result<std::unique_ptr<ArchiveWriter>> writer =
        ArchiveWriter::OpenMemory(bytes_.get());
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    Result<std::unique_ptr<ExportEngine>> engine = ExportEngine::Create(
        std::move(writer).value(), &provider_, "# mock runtime\n",
        std::vector<std::string>{"os", "json", "collections", "sys", "io",
                                 "builtins"},
        options);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }

  void AddPattern(std::vector<std::string> include, Action action,
                  bool allow_empty = true,
                  std::vector<std::string> exclude = {}) {
    ASSERT_TRUE(engine_
                    ->AddPattern(Glob(std::move(include), std::move(exclude)),
                                 action, allow_empty)
                    .ok());
  }
  void SaveSource(std::string_view name, std::string source,
                  bool is_package = false) {
    Status s = engine_->SaveSourceString(name, std::move(source), is_package,
                                         /*dependencies=*/true);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // pkg.a imports an extern (json), two mocks (mocked, a package, and flat)
  // and pkg.b, which imports another extern (os); pkg is their package.
  void SaveMixedPackage() {
    provider_.Add("json", "");
    provider_.Add("mocked", "", /*is_package=*/true);
    provider_.Add("flat", "");
    provider_.Add("pkg.b", "import os\n");
    provider_.Add("os", "");
    AddPattern({"mocked", "flat"}, Action::kMock);
    AddPattern({"pkg.**"}, Action::kIntern);
    SaveSource("pkg.a",
               "import json\nimport mocked\nfrom pkg import b\nimport flat\n");
    SaveSource("pkg", "", /*is_package=*/true);
  }
  std::optional<Action> ActionOf(std::string_view name) {
    const NodeAttributes* node = engine_->FindNode(name);
    return node ? node->action : std::nullopt;
  }
  std::optional<PackagingErrorReason> ErrorOf(std::string_view name) {
    const NodeAttributes* node = engine_->FindNode(name);
    return node ? node->error : std::nullopt;
  }
  std::vector<std::string> Successors(std::string_view name) {
    std::vector<std::string> names;
    const DiGraph& g = engine_->graph();
    for (DiGraph::NodeId id : g.Successors(*g.Find(name))) {
      names.push_back(g.name(id));
    }
    return names;
  }
  std::vector<std::string> Nodes() {
    std::vector<std::string> names;
    const DiGraph& g = engine_->graph();
    for (DiGraph::NodeId id = 0; id < g.size(); ++id) {
      names.push_back(g.name(id));
    }
    return names;
  }
  // Finishes and returns every record in write order with its contents.
  std::vector<std::pair<std::string, std::string>> FinishAndRead(
      std::vector<std::pair<std::string, Action>>* calls = nullptr) {
    Status s = engine_->Finish(
        [&](std::string_view name, Action action) {
          if (calls) calls->emplace_back(std::string(name), action);
          return Status::Ok();
        },
        "3.11.7");
    EXPECT_TRUE(s.ok()) << s.ToString();
    Result<std::unique_ptr<ArchiveReader>> reader =
        ArchiveReader::OpenBuffer(*bytes_, bytes_, "mem");
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    std::vector<std::pair<std::string, std::string>> records;
    if (!reader.ok()) return records;
    for (const RecordInfo& info : (*reader)->records()) {
      Result<std::vector<uint8_t>> data = (*reader)->Read(info.name);
      EXPECT_TRUE(data.ok()) << data.status().ToString();
      records.emplace_back(info.name, std::string(data->begin(), data->end()));
    }
    return records;
  }

  std::shared_ptr<std::vector<uint8_t>> bytes_ =
      std::make_shared<std::vector<uint8_t>>();
  FakeProvider provider_;
  std::unique_ptr<ExportEngine> engine_;
};

TEST_F(ExportEngineTest, ImplicitExternsBeatUserPatternsIncludingDeny) {
  provider_.Add("json", "");
  provider_.Add("torch.nn", "");
  AddPattern({"json"}, Action::kDeny);
  AddPattern({"torch.**"}, Action::kIntern);
  SaveSource("m", "import json\nimport torch.nn\n");
  EXPECT_THAT(engine_->ModulesWithAction(Action::kExtern),
              ElementsAre("json", "torch.nn"));
  EXPECT_THAT(engine_->ModulesWithAction(Action::kDeny), IsEmpty());
  EXPECT_FALSE(engine_->Validate(false).has_value());
}

std::string SecurityNote(const std::string& m) {
  return "      Note: While we usually use modules in the python standard "
         "library from the local environment, `" +
         m +
         "` has a lot of system level access and therefore can pose a "
         "security risk. We heavily recommend removing `" +
         m +
         "` from your packaged code. However, if that is not possible, add it "
         "to the extern list by calling PackageExporter.extern(\"`" +
         m + "`\")\n";
}

TEST_F(ExportEngineTest, SysAndIoAreNeverImplicitlyExterned) {
  provider_.Add("sys", "");
  provider_.Add("io", "");
  SaveSource("m", "import sys\nimport io\n");
  EXPECT_EQ(ErrorOf("sys"), PackagingErrorReason::kNoAction);
  EXPECT_EQ(ErrorOf("io"), PackagingErrorReason::kNoAction);
  EXPECT_EQ(*engine_->Validate(false),
            "\n* Module did not match against any action pattern. Extern, "
            "mock, or intern it.\n    sys\n" +
                SecurityNote("sys") + "    io\n" + SecurityNote("io") +
                std::string(kHint));
}

TEST_F(ExportEngineTest, SysCanBeExternedExplicitly) {
  provider_.Add("sys", "");
  AddPattern({"sys"}, Action::kExtern);
  SaveSource("m", "import sys\n");
  EXPECT_EQ(ActionOf("sys"), Action::kExtern);
  EXPECT_FALSE(engine_->Validate(false).has_value());
}

TEST_F(ExportEngineTest, SpecialNamesAreSkippedOrRepackaged) {
  provider_.Add("torch_package_importer", "");
  provider_.Add("_mock", "");
  AddPattern({"**"}, Action::kDeny);
  SaveSource("m", "import torch_package_importer\nimport _mock\n");
  EXPECT_EQ(ActionOf("torch_package_importer"), Action::kSkip);
  EXPECT_EQ(ActionOf("_mock"), Action::kRepackagedMockModule);
  EXPECT_FALSE(engine_->Validate(false).has_value());
}

TEST_F(ExportEngineTest, FirstMatchingPatternWins) {
  provider_.Add("a.b", "");
  provider_.Add("c.d", "");
  AddPattern({"a.**"}, Action::kExtern);
  AddPattern({"a.b", "c.d"}, Action::kMock);
  AddPattern({"c.**"}, Action::kExtern);
  SaveSource("m", "import a.b\nimport c.d\n");
  EXPECT_EQ(ActionOf("a.b"), Action::kExtern);
  EXPECT_EQ(ActionOf("c.d"), Action::kMock);
}

TEST_F(ExportEngineTest, ExcludedNamesFallThroughToLaterPatterns) {
  provider_.Add("a.b", "");
  AddPattern({"a.**"}, Action::kExtern, true, {"a.b"});
  AddPattern({"a.b"}, Action::kMock);
  SaveSource("m", "import a.b\n");
  EXPECT_EQ(ActionOf("a.b"), Action::kMock);
}

TEST_F(ExportEngineTest, UnmatchedModuleGetsNoActionAndNoAction) {
  provider_.Add("lonely", "");
  SaveSource("m", "import lonely\n");
  EXPECT_EQ(ErrorOf("lonely"), PackagingErrorReason::kNoAction);
  EXPECT_FALSE(ActionOf("lonely").has_value());
  EXPECT_EQ(*engine_->Validate(false),
            "\n* Module did not match against any action pattern. Extern, "
            "mock, or intern it.\n    lonely\n" +
                std::string(kHint));
}

TEST_F(ExportEngineTest, FromImportPrefersSubmoduleThenModuleElseDrops) {
  provider_.Add("pkg", "", true);
  provider_.Add("pkg.sub", "");
  AddPattern({"pkg", "pkg.**"}, Action::kExtern);
  SaveSource("m",
             "from pkg import sub, attr\nfrom missing import x\nimport gone\n");
  EXPECT_THAT(Successors("m"), ElementsAre("pkg.sub", "pkg"));
  EXPECT_FALSE(engine_->graph().Contains("missing"));
  EXPECT_FALSE(engine_->graph().Contains("gone"));
}

TEST_F(ExportEngineTest, ModuleExistsIsAskedOncePerName) {
  provider_.Add("pkg", "", true);
  AddPattern({"pkg"}, Action::kExtern);
  SaveSource("a", "from pkg import thing\n");
  SaveSource("b", "from pkg import thing\nimport pkg\n");
  EXPECT_EQ(provider_.exists_calls["pkg"], 1);
  EXPECT_EQ(provider_.exists_calls["pkg.thing"], 1);
}

TEST_F(ExportEngineTest, ExistenceMustMeanImportOnlyWhereItCouldIntern) {
  provider_.Add("ext", "", true);
  provider_.Add("ext.sub", "");
  provider_.Add("mine", "", true);
  AddPattern({"ext", "ext.**"}, Action::kExtern);
  AddPattern({"gone.**"}, Action::kMock);
  AddPattern({"mine.**"}, Action::kIntern);
  SaveSource("a",
             "import json\nfrom ext import sub\nimport gone.x\n"
             "from mine import y\nimport stray\n");
  EXPECT_FALSE(provider_.must_import_asked.at("json"));
  EXPECT_FALSE(provider_.must_import_asked.at("ext.sub"));
  EXPECT_FALSE(provider_.must_import_asked.at("gone.x"));
  EXPECT_TRUE(provider_.must_import_asked.at("mine.y"));
  EXPECT_TRUE(provider_.must_import_asked.at("stray"));
}

TEST_F(ExportEngineTest, InterningVisitsModulesInTorchRecursionOrder) {
  provider_.Add("a", "import b\nimport c\n");
  provider_.Add("b", "import d\nimport json\n");
  provider_.Add("c", "import d\n");
  provider_.Add("d", "import os\n");
  provider_.Add("json", "");
  provider_.Add("os", "");
  AddPattern({"**"}, Action::kIntern);
  ASSERT_TRUE(engine_->SaveModule("a", true).ok());
  EXPECT_THAT(Nodes(), ElementsAre("a", "b", "d", "os", "json", "c"));
  EXPECT_THAT(Successors("c"), ElementsAre("d"));
  EXPECT_THAT(engine_->ModulesWithAction(Action::kIntern),
              ElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(engine_->ModulesWithAction(Action::kExtern),
              ElementsAre("json", "os"));
}

TEST_F(ExportEngineTest, ResavingAnInternedDependencyKeepsTheGraph) {
  provider_.Add("a", "import b\n");
  provider_.Add("b", "import c\nfrom . import d\n", true);
  provider_.Add("c", "");
  provider_.Add("b.d", "");
  AddPattern({"**"}, Action::kIntern);
  ASSERT_TRUE(engine_->SaveModule("a", true).ok());
  ASSERT_TRUE(engine_->SaveModule("b", true).ok());
  EXPECT_THAT(Nodes(), ElementsAre("a", "b", "c", "b.d"));
  EXPECT_THAT(Successors("b"), ElementsAre("c", "b.d"));
}

TEST_F(ExportEngineTest, ResavingAModuleWithNewSourceRescansIt) {
  provider_.Add("a", "import b\n");
  provider_.Add("b", "import c\n");
  provider_.Add("c", "");
  provider_.Add("e", "");
  AddPattern({"**"}, Action::kIntern);
  ASSERT_TRUE(engine_->SaveModule("a", true).ok());
  provider_.Add("b", "import e\n");
  ASSERT_TRUE(engine_->SaveModule("b", true).ok());
  EXPECT_THAT(Successors("b"), ElementsAre("c", "e"));
  SaveSource("b", "import (\n");
  EXPECT_EQ(ErrorOf("b"), PackagingErrorReason::kDependencyResolutionFailed);
}

TEST_F(ExportEngineTest, ResavingAsAPackageResolvesRelativeImportsAnew) {
  provider_.Add("p.m", "");
  provider_.Add("p.q.m", "");
  AddPattern({"**"}, Action::kIntern);
  SaveSource("p.q", "from . import m\n", /*is_package=*/true);
  EXPECT_THAT(Successors("p.q"), ElementsAre("p.q.m"));
  SaveSource("p.q", "from . import m\n", /*is_package=*/false);
  EXPECT_THAT(Successors("p.q"), ElementsAre("p.q.m", "p.m"));
}

TEST_F(ExportEngineTest, DeepImportChainsDoNotRecurse) {
  constexpr int kDepth = 50000;
  for (int i = 0; i < kDepth; ++i) {
    std::string name = "m";
    name.append(std::to_string(i));
    std::string source;
    if (i + 1 < kDepth) source.append("import m").append(std::to_string(i + 1));
    provider_.Add(name, std::move(source));
  }
  AddPattern({"*"}, Action::kIntern);
  ASSERT_TRUE(engine_->SaveModule("m0", true).ok());
  EXPECT_EQ(engine_->ModulesWithAction(Action::kIntern).size(),
            static_cast<size_t>(kDepth));
  EXPECT_THAT(engine_->RDeps("m49999"), ElementsAre("m49998"));
}

TEST_F(ExportEngineTest, DependenciesFalseAppliesOnlyToTheNamedModule) {
  provider_.Add("a", "import b\n");
  provider_.Add("b", "import c\n");
  provider_.Add("c", "");
  AddPattern({"*"}, Action::kIntern);
  ASSERT_TRUE(engine_->SaveModule("a", false).ok());
  EXPECT_THAT(Nodes(), ElementsAre("a"));
  ASSERT_TRUE(engine_->AddDependency("b", false).ok());
  EXPECT_THAT(Nodes(), ElementsAre("a", "b"));
  ASSERT_TRUE(engine_->SaveSourceString("s", "import a\n", false, true).ok());
  // `a` is already provided, so it is not rescanned.
  EXPECT_THAT(Nodes(), ElementsAre("a", "b", "s"));
  ASSERT_TRUE(engine_->SaveSourceString("t", "import c\n", false, true).ok());
  EXPECT_THAT(Nodes(), ElementsAre("a", "b", "s", "t", "c"));
}

TEST_F(ExportEngineTest, ModulesWithoutSourceRecordTheProvidersReason) {
  provider_.AddBroken("ext", PackagingErrorReason::kIsExtensionModule);
  provider_.AddBroken("gone", PackagingErrorReason::kSourceFileNotFound,
                      "filename: /x/gone.py");
  provider_.AddBroken("builtin", PackagingErrorReason::kNoDunderFile);
  AddPattern({"*"}, Action::kIntern);
  SaveSource("m", "import ext\nimport gone\nimport builtin\nimport ext\n");
  EXPECT_EQ(ActionOf("ext"), Action::kIntern);
  EXPECT_EQ(*engine_->Validate(false),
            "\n* Module is a C extension module. torch.package supports "
            "Python modules only.\n    ext\n"
            "* Module had a __file__, but we could not find it in your "
            "filesystem.\n    gone\n      Context: filename: /x/gone.py\n"
            "* Module had no __file__ defined.\n    builtin\n" +
                std::string(kHint));
}

TEST_F(ExportEngineTest, UnparsableSourceIsDependencyResolutionFailed) {
  SaveSource("bad", "import (\n");
  const NodeAttributes* node = engine_->FindNode("bad");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->error, PackagingErrorReason::kDependencyResolutionFailed);
  ASSERT_TRUE(node->error_context.has_value());
  EXPECT_EQ(*node->error_context,
            ScanImports("import (\n", "bad", false).status().message());
  EXPECT_EQ(node->action, Action::kIntern);
}

TEST_F(ExportEngineTest, ReportGroupsReasonsByFirstOccurrence) {
  provider_.Add("x", "");
  provider_.Add("y", "");
  provider_.Add("z", "");
  AddPattern({"y"}, Action::kDeny);
  SaveSource("m", "import x\nimport y\nimport z\n");
  EXPECT_EQ(*engine_->Validate(false),
            "\n* Module did not match against any action pattern. Extern, "
            "mock, or intern it.\n    x\n    z\n"
            "* Module was denied by a pattern.\n    y\n" +
                std::string(kHint));
}

TEST_F(ExportEngineTest, DebugReportShowsFirstPathInsteadOfHint) {
  provider_.Add("a", "import b\n");
  provider_.Add("b", "import denied\n");
  provider_.Add("denied", "");
  AddPattern({"a", "b"}, Action::kIntern);
  AddPattern({"denied"}, Action::kDeny);
  SaveSource("root", "import a\n");
  EXPECT_EQ(*engine_->Validate(true),
            "\n* Module was denied by a pattern.\n    denied\n"
            "      A path to denied: root -> a -> b -> denied\n");
}

TEST_F(ExportEngineTest, SourceGivenAfterNoActionInternsTheModule) {
  provider_.Add("pkg.later", "");
  SaveSource("pkg.first", "from pkg import later\n");
  EXPECT_EQ(ErrorOf("pkg.later"), PackagingErrorReason::kNoAction);
  SaveSource("pkg.later", "x = 1\n");
  EXPECT_FALSE(ErrorOf("pkg.later").has_value());
  EXPECT_EQ(ActionOf("pkg.later"), Action::kIntern);
  EXPECT_FALSE(engine_->Validate(false).has_value());
}

TEST_F(ExportEngineTest, UnmatchedPatternsListsOnlyDisallowedEmpties) {
  provider_.Add("used", "");
  AddPattern({"used"}, Action::kExtern, false);
  AddPattern({"never"}, Action::kMock, false);
  AddPattern({"never2"}, Action::kExtern, true);
  AddPattern({"never3"}, Action::kDeny, false);
  AddPattern({"never4"}, Action::kIntern, false);
  SaveSource("m", "import used\n");
  EXPECT_THAT(engine_->UnmatchedPatterns(), ElementsAre(1u, 4u));
}

TEST_F(ExportEngineTest, PatternActionMustBeUserAction) {
  EXPECT_EQ(engine_->AddPattern(Glob({"a"}), Action::kSkip, true).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ExportEngineTest, ProviderErrorsPropagate) {
  AddPattern({"**"}, Action::kIntern);
  Status s = engine_->SaveModule("<torch_package_3>.x", true);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "Module not found: '<torch_package_3>.x'");
}

TEST_F(ExportEngineTest, MangledModulesAreRecordedDemangled) {
  provider_.Add("<torch_package_0>.pkg.mod", "import json\n");
  provider_.Add("json", "");
  ASSERT_TRUE(engine_->SaveModule("<torch_package_0>.pkg.mod", true).ok());
  EXPECT_THAT(Nodes(), ElementsAre("pkg.mod", "json"));
}

TEST_F(ExportEngineTest, WriteRecordRejectsDuplicatesAndMangledNames) {
  ASSERT_TRUE(engine_->WriteRecord("a/b.txt", Bytes("x")).ok());
  Status dup = engine_->WriteRecord("a/b.txt", Bytes("y"));
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.message(),
            "Tried to write file 'a/b.txt', but it already exists in this "
            "archive. Please file a bug.");
  Status mangled = engine_->WriteRecord("<torch_package_12>/m.py", Bytes(""));
  EXPECT_EQ(mangled.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(mangled.message(),
            "Tried to save a torch.package'd module as "
            "'<torch_package_12>/m.py'. Directly saving torch.package'd "
            "modules is not allowed.");
  EXPECT_TRUE(engine_->WriteRecord("<torch_package_>/m.py", Bytes("")).ok());
}

// PROTO 3, MARK, GLOBAL mocked.K, GLOBAL collections.OrderedDict, TUPLE,
// STOP: the last global is not the mocked one (torch 1.13 missed this).
constexpr std::string_view kPickle3 =
    "\x80\x03(cmocked\nK\nccollections\nOrderedDict\nt.";
// PROTO 4 with STACK_GLOBAL: mocked.K, then tools.Helper.
constexpr std::string_view kPickle4 =
    "\x80\x04(\x8c\x06mocked\x94\x8c\x01K\x94\x93\x94"
    "\x8c\x05tools\x94\x8c\x06Helper\x94\x93\x94t.";

TEST_F(ExportEngineTest, PickleFromMockedModuleIsMockedButStillUsed) {
  provider_.Add("mocked", "");
  AddPattern({"mocked"}, Action::kMock);
  ASSERT_TRUE(engine_->AddPickle("p", "x.pkl", Bytes(kPickle3), true).ok());
  const NodeAttributes* node = engine_->FindNode("mocked");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->action, Action::kMock);
  EXPECT_EQ(node->error, PackagingErrorReason::kMockedButStillUsed);
  EXPECT_EQ(*node->error_context,
            "Object(s) '['K']' from module `mocked` was mocked out during "
            "packaging but is being used in resource - `x.pkl` in package "
            "`p`. ");
  EXPECT_THAT(Successors("<p.x.pkl>"), ElementsAre("mocked", "collections"));
  EXPECT_EQ(ActionOf("collections"), Action::kExtern);
  EXPECT_EQ(*ActionOf("<p.x.pkl>"), Action::kIntern);
  EXPECT_TRUE(engine_->FindNode("<p.x.pkl>")->is_pickle);
  EXPECT_THAT(engine_->RecordNames(), ElementsAre("p/x.pkl"));
}

TEST_F(ExportEngineTest, Protocol4PickleDependenciesAreScanned) {
  provider_.Add("tools", "x = 1\n");
  AddPattern({"mocked"}, Action::kMock);
  AddPattern({"tools"}, Action::kIntern);
  ASSERT_TRUE(
      engine_->AddPickle("res.sub", "y.pkl", Bytes(kPickle4), true).ok());
  EXPECT_EQ(ErrorOf("mocked"), PackagingErrorReason::kMockedButStillUsed);
  EXPECT_EQ(ActionOf("tools"), Action::kIntern);
  EXPECT_THAT(engine_->RDeps("tools"), ElementsAre("<res.sub.y.pkl>"));
  EXPECT_THAT(engine_->ModulesWithAction(Action::kIntern),
              ElementsAre("tools"));
  EXPECT_THAT(engine_->RecordNames(), ElementsAre("res/sub/y.pkl"));
}

TEST_F(ExportEngineTest, PickleWithoutDependenciesIsOnlyWritten) {
  AddPattern({"mocked"}, Action::kMock);
  ASSERT_TRUE(engine_->AddPickle("p", "x.pkl", Bytes(kPickle3), false).ok());
  EXPECT_THAT(Nodes(), ElementsAre("<p.x.pkl>"));
  EXPECT_FALSE(engine_->Validate(false).has_value());
}

TEST_F(ExportEngineTest, PickleResourceMustBeAFileName) {
  Status s = engine_->AddPickle("p", "sub/x.pkl", Bytes(kPickle3), true);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "'sub/x.pkl' must be only a file name");
}

// PROTO 3, GLOBAL pkg.b.C, STOP.
constexpr std::string_view kPickleOfPkgB =
    "\x80\x03"
    "cpkg.b\nC\n.";

TEST_F(ExportEngineTest, FinishWritesRecordsInNodeOrder) {
  SaveMixedPackage();
  ASSERT_TRUE(
      engine_->AddPickle("res", "m.pkl", Bytes(kPickleOfPkgB), true).ok());
  std::vector<std::pair<std::string, Action>> calls;
  auto records = FinishAndRead(&calls);
  EXPECT_THAT(
      calls,
      ElementsAre(
          std::pair<std::string, Action>{"pkg.a", Action::kIntern},
          std::pair<std::string, Action>{"json", Action::kExtern},
          std::pair<std::string, Action>{"mocked", Action::kMock},
          std::pair<std::string, Action>{"pkg.b", Action::kIntern},
          std::pair<std::string, Action>{"os", Action::kExtern},
          std::pair<std::string, Action>{"flat", Action::kMock},
          std::pair<std::string, Action>{"pkg", Action::kIntern},
          std::pair<std::string, Action>{"<res.m.pkl>", Action::kIntern}));
  std::string stub =
      "from _mock import MockedObject\n"
      "def __getattr__(attr: str):\n"
      "    return MockedObject(__name__ + '.' + attr, _suppress_err=True)\n";
  using R = std::pair<std::string, std::string>;
  ASSERT_GE(records.size(), 10u);
  EXPECT_THAT(
      std::vector<R>(records.begin(), records.begin() + 10),
      ElementsAre(
          R{"res/m.pkl", std::string(kPickleOfPkgB)},
          R{"pkg/a.py",
            "import json\nimport mocked\nfrom pkg import "
            "b\nimport flat\n"},
          R{"_mock.py", "# mock runtime\n"}, R{"mocked/__init__.py", stub},
          R{"pkg/b.py", "import os\n"}, R{"flat.py", stub},
          R{"pkg/__init__.py", ""}, R{".data/extern_modules", "json\nos\n"},
          R{".data/python_version", "3.11.7"}, R{".data/version", "6\n"}));
  // A mock's is_package is asked once, when MOCK is assigned; its source
  // never.
  EXPECT_EQ(provider_.is_package_calls,
            (std::map<std::string, int>{{"flat", 1}, {"mocked", 1}}));
  EXPECT_FALSE(provider_.source_calls.contains("mocked"));
  EXPECT_FALSE(provider_.source_calls.contains("flat"));
}

TEST_F(ExportEngineTest, DependencyRecordHoldsKindsEdgesAndRoots) {
  ExportOptions options;
  options.dependency_record = true;
  Recreate(options);
  SaveMixedPackage();
  // The pickle's global (pkg.b) is its dependency, not a root.
  ASSERT_TRUE(
      engine_->AddPickle("res", "m.pkl", Bytes(kPickleOfPkgB), true).ok());
  ASSERT_TRUE(engine_->AddDependency("json", true).ok());
  SaveSource("pkg.a", "import json\n");  // asked again: not a second root
  EXPECT_EQ(engine_->Roots(), (std::vector<DiGraph::NodeId>{0, 6, 7, 1}));
  auto records = FinishAndRead();
  // Last before the writer's framework records, after python_version.
  using R = std::pair<std::string, std::string>;
  auto at = std::find_if(records.begin(), records.end(), [](const R& r) {
    return r.first == kDependencyRecord;
  });
  ASSERT_NE(at, records.end());
  EXPECT_EQ((at - 1)->first, ".data/python_version");
  EXPECT_EQ((at + 1)->first, ".data/version");
  EXPECT_EQ(at->second,
            "hermetic-dependencies 1\n"
            "node intern pkg.a\n"
            "node extern json\n"
            "node mock mocked\n"
            "node intern pkg.b\n"
            "node extern os\n"
            "node mock flat\n"
            "node intern pkg\n"
            "node pickle <res.m.pkl>\n"
            "deps 0 1 2 3 5\n"
            "deps 3 4\n"
            "deps 7 3\n"
            "roots 0 6 7 1\n"
            "end 8 6\n");
}

TEST_F(ExportEngineTest, NoDependencyRecordUnlessAsked) {
  SaveSource("m", "import os\n");
  for (const auto& [name, data] : FinishAndRead()) {
    EXPECT_NE(name, kDependencyRecord);
  }
}

TEST_F(ExportEngineTest, MockOfAModuleThatCannotBeImportedFailsTheCall) {
  AddPattern({"absent"}, Action::kMock);
  Status s = engine_->AddDependency("absent", true);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "No module named 'absent'");
}

TEST(ExportEngineCreateTest, NeedsAWriterAndAProvider) {
  FakeProvider provider;
  EXPECT_EQ(ExportEngine::Create(nullptr, &provider, "", {}).status().code(),
            StatusCode::kInvalidArgument);
  auto bytes = std::make_shared<std::vector<uint8_t>>();
  Result<std::unique_ptr<ArchiveWriter>> writer =
      ArchiveWriter::OpenMemory(bytes.get());
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ(ExportEngine::Create(std::move(writer).value(), nullptr, "", {})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ExportEngineTest, RepackagedMockWritesMockRuntimeOnce) {
  provider_.Add("_mock", "");
  provider_.Add("mocked", "");
  AddPattern({"mocked"}, Action::kMock);
  SaveSource("m", "import _mock\nimport mocked\n");
  auto records = FinishAndRead();
  ASSERT_GE(records.size(), 3u);
  EXPECT_EQ(records[1].first, "_mock.py");
  EXPECT_EQ(records[2].first, "mocked.py");
  int mock_files = 0;
  for (const auto& [name, data] : records) mock_files += name == "_mock.py";
  EXPECT_EQ(mock_files, 1);
}

TEST_F(ExportEngineTest, EmptyExternListIsOneNewline) {
  SaveSource("m", "x = 1\n");
  auto records = FinishAndRead();
  ASSERT_GE(records.size(), 2u);
  EXPECT_EQ(records[1].first, ".data/extern_modules");
  EXPECT_EQ(records[1].second, "\n");
}

TEST_F(ExportEngineTest, CallbackErrorAbortsFinish) {
  provider_.Add("json", "");
  SaveSource("m", "import json\n");
  Status s = engine_->Finish(
      [](std::string_view name, Action action) {
        if (action == Action::kExtern) {
          return Status::InvalidArgument("hook refused " + std::string(name));
        }
        return Status::Ok();
      },
      "3.11.7");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "hook refused json");
  EXPECT_FALSE(engine_->finished());
  EXPECT_FALSE(engine_->HasRecord(".data/extern_modules"));
}

TEST_F(ExportEngineTest, FinishRefusesABrokenGraph) {
  provider_.Add("lonely", "");
  SaveSource("m", "import lonely\n");
  Status s = engine_->Finish(
      [](std::string_view, Action) { return Status::Ok(); }, "3.11.7");
  EXPECT_EQ(s.code(), StatusCode::kPackagingError);
  EXPECT_EQ(s.message(), *engine_->Validate(false));
  EXPECT_FALSE(engine_->finished());
}

TEST_F(ExportEngineTest, FinishingTwiceIsRefused) {
  FinishAndRead();
  EXPECT_EQ(engine_
                ->Finish([](std::string_view, Action) { return Status::Ok(); },
                         "3.11.7")
                .code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(engine_->WriteRecord("late.txt", Bytes("x")).ok());
}

TEST_F(ExportEngineTest, RDepsOfUnknownModuleIsEmpty) {
  EXPECT_THAT(engine_->RDeps("nobody"), IsEmpty());
  EXPECT_EQ(engine_->FindNode("nobody"), nullptr);
}

TEST(PackagingErrorReasonTest, NamesAndTextsAreTorchs) {
  EXPECT_EQ(PackagingErrorReasonName(PackagingErrorReason::kNoAction),
            "NO_ACTION");
  EXPECT_EQ(PackagingErrorReasonName(PackagingErrorReason::kMockedButStillUsed),
            "MOCKED_BUT_STILL_USED");
  EXPECT_EQ(PackagingErrorReasonText(PackagingErrorReason::kDenied),
            "Module was denied by a pattern.");
}

TEST(ExportEngineCompressionTest, AsksToDeflateSourcesAndPicklesOnly) {
  std::string source;
  for (int i = 0; i < 100; ++i) {
    // Appended piece by piece: GCC 12 warns (-Wrestrict) on "v" + to_string.
    source.append("v").append(std::to_string(i)).append(" = 1\n");
  }
  FakeProvider provider;
  provider.Add("big", source);
  auto bytes = std::make_shared<std::vector<uint8_t>>();
  WriterOptions options;
  options.deflate_level = kDefaultDeflateLevel;
  Result<std::unique_ptr<ArchiveWriter>> writer =
      ArchiveWriter::OpenMemory(bytes.get(), options);
  ASSERT_TRUE(writer.ok());
  Result<std::unique_ptr<ExportEngine>> engine = ExportEngine::Create(
      std::move(writer).value(), &provider, "# mock runtime\n", {"os"});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ExportEngine& e = **engine;
  ASSERT_TRUE(e.AddPattern(Glob({"big"}), Action::kIntern, false).ok());
  ASSERT_TRUE(
      e.SaveSourceString("m", "import big\n" + source, false, true).ok());
  // PROTO 3, BINUNICODE of 2000 letters, STOP.
  std::string pickle("\x80\x03X\xd0\x07\x00\x00", 7);
  pickle += std::string(2000, 'p') + ".";
  ASSERT_TRUE(e.AddPickle("r", "x.pkl", Bytes(pickle), true).ok());
  // What callers write themselves is stored unless they ask.
  ASSERT_TRUE(e.WriteRecord(".data/0.storage", Bytes(source)).ok());
  ASSERT_TRUE(
      e.WriteRecord("r/t.txt", Bytes(source), Compression::kDeflate).ok());
  ASSERT_TRUE(
      e.Finish([](std::string_view, Action) { return Status::Ok(); }, "3.11.7")
          .ok());
  Result<std::unique_ptr<ArchiveReader>> reader =
      ArchiveReader::OpenBuffer(*bytes, bytes, "mem");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::map<std::string, uint16_t> methods;
  for (const RecordInfo& info : (*reader)->records()) {
    methods[info.name] = info.method;
  }
  EXPECT_EQ(methods["m.py"], 8);
  EXPECT_EQ(methods["big.py"], 8);
  EXPECT_EQ(methods["r/x.pkl"], 8);
  EXPECT_EQ(methods["r/t.txt"], 8);
  EXPECT_EQ(methods[".data/0.storage"], 0);
  // Asked too, but a line or two does not shrink.
  EXPECT_EQ(methods[".data/extern_modules"], 0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(
                            (*reader)->Read("r/x.pkl")->data()),
                        pickle.size()),
            pickle);
}

}  // namespace
}  // namespace hermetic
