#include "hermetic/scan.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hermetic {
namespace {

using Records = std::vector<std::pair<std::string, std::string>>;

ScanReport ScanRecords(const Records& records,
                       const ScanOptions& options = {}) {
  auto bytes = std::make_shared<std::vector<uint8_t>>();
  auto writer = ArchiveWriter::OpenMemory(bytes.get());
  EXPECT_TRUE(writer.ok());
  for (const auto& [name, data] : records) {
    EXPECT_TRUE(
        (*writer)
            ->WriteRecord(name, {reinterpret_cast<const uint8_t*>(data.data()),
                                 data.size()})
            .ok());
  }
  EXPECT_TRUE((*writer)->Finish().ok());
  auto reader = ArchiveReader::OpenBuffer(*bytes, bytes, "mem");
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  Result<ScanReport> report = ScanArchive(**reader, options);
  EXPECT_TRUE(report.ok());
  return std::move(*report);
}

// "severity rule record@position" of every finding at or above `least`.
std::vector<std::string> Summary(const ScanReport& report,
                                 Severity least = Severity::kLow) {
  std::vector<std::string> out;
  for (const Finding& f : report.findings) {
    if (f.severity < least) continue;
    std::string s(SeverityName(f.severity));
    s.append(" ").append(f.rule).append(" ").append(f.record).append("@");
    s.append(std::to_string(f.position));
    out.push_back(std::move(s));
  }
  return out;
}

std::string ShortUnicode(std::string_view s) {
  std::string out = "\x8c";
  out += static_cast<char>(s.size());
  out += s;
  return out;
}

using Strings = std::vector<std::string>;

TEST(SeverityTest, NamesRoundTrip) {
  for (Severity s : {Severity::kInfo, Severity::kLow, Severity::kMedium,
                     Severity::kHigh, Severity::kCritical}) {
    EXPECT_EQ(ParseSeverity(SeverityName(s)), s);
  }
  EXPECT_EQ(ParseSeverity("severe"), std::nullopt);
}

TEST(ScanTest, GlobalNamedByGlobalOpcode) {
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl",
                                  "\x80\x02"
                                  "cos\nsystem\n."}})),
            (Strings{"critical pickle.global.os.system p.pkl@2"}));
}

TEST(ScanTest, StackGlobalOverMemoisedStrings) {
  // The strings are memoised, popped, and fetched back for STACK_GLOBAL.
  std::string p = "\x80\x04" + ShortUnicode("builtins") + "\x94" +
                  ShortUnicode("eval") + "\x94" +
                  std::string("00h\0h\x01\x93.", 9);
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl", p}})),
            (Strings{"critical pickle.global.builtins.eval p.pkl@26"}));
}

TEST(ScanTest, StackGlobalOverComputedOperandsIsHigh) {
  // getattr(builtins, "str").join(...) style: operands made by REDUCE.
  std::string p =
      "\x80\x04"
      "cbuiltins\nstr\n)R" +
      ShortUnicode("system") + "\x93.";
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl", p}})),
            (Strings{"high pickle.global.unresolved p.pkl@26"}));
}

TEST(ScanTest, GetattrChainsAndExtensionCodes) {
  std::string p =
      "\x80\x02"
      "cbuiltins\ngetattr\n\x82\x01" +
      ShortUnicode("system") + "\x86R.";
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl", p}})),
            (Strings{"high pickle.global.builtins.getattr p.pkl@2",
                     "high pickle.extension_code p.pkl@20"}));
}

TEST(ScanTest, TorchRebuildWithACallableArgumentIsFlaggedByTheCallable) {
  // torch._tensor._rebuild_from_type_v2(func, type, args, state) calls
  // func(*args): the rebuild is a data constructor, func is not.
  std::string p =
      "\x80\x02"
      "ctorch._tensor\n_rebuild_from_type_v2\n"
      "(cposix\nsystem\n"
      "ctorch\nTensor\n" +
      ShortUnicode("id") + "\x85}tR.";
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl", p}})),
            (Strings{"critical pickle.global.posix.system p.pkl@40",
                     "medium pickle.global.extern p.pkl@54"}));
}

TEST(ScanTest, DataConstructorsInternedModulesAndStorages) {
  std::string p =
      "\x80\x02"
      "ccollections\nOrderedDict\n)R"
      "ctorch._utils\n_rebuild_tensor_v2\n"
      "cmodel\nNet\n"
      "(" +
      ShortUnicode("storage") + "ctorch\nFloatStorage\n" + ShortUnicode("0") +
      ShortUnicode("cpu") +
      "K\x04tQ"
      "000.";
  ScanReport r = ScanRecords({{"model.py", "class Net: pass\n"}, {"p.pkl", p}});
  EXPECT_EQ(Summary(r), Strings{});
  EXPECT_EQ(Summary(r, Severity::kInfo),
            (Strings{"info pickle.global.allowed p.pkl@2",
                     "info pickle.global.allowed p.pkl@29",
                     "info pickle.global.interned p.pkl@62",
                     "info pickle.global.allowed p.pkl@83",
                     "info pickle.persistent_id.storage p.pkl@114"}));
  EXPECT_EQ(r.pickles, 1u);
  EXPECT_EQ(r.sources, 1u);
}

TEST(ScanTest, OtherGlobalsRunExternCode) {
  ScanReport r = ScanRecords({{"p.pkl",
                               "\x80\x02"
                               "csklearn.pipeline\nPipeline\n."}});
  EXPECT_EQ(Summary(r), (Strings{"medium pickle.global.extern p.pkl@2"}));
  EXPECT_NE(r.findings[0].message.find("sklearn.pipeline.Pipeline"),
            std::string::npos);
  ScanOptions options;
  options.allowed_globals = {"sklearn.pipeline.*"};
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl",
                                  "\x80\x02"
                                  "csklearn.pipeline\nPipeline\n."}},
                                options)),
            Strings{});
}

TEST(ScanTest, PersistentIdsOfOtherKinds) {
  std::string p = "\x80\x02" + ShortUnicode("reduce_package") +
                  "\x85Q"
                  "NQ0.";
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl", p}})),
            (Strings{"medium pickle.persistent_id.other p.pkl@19",
                     "medium pickle.persistent_id.unnamed p.pkl@21"}));
}

TEST(ScanTest, PicklesUnderOtherNamesAndCorruptPickles) {
  ScanReport r = ScanRecords({{"res/weights.bin",
                               "\x80\x02"
                               "cos\nsystem\n."},
                              {"res/data.bin", "\x80\x02 not a pickle."},
                              {"bad.pkl", "\x80\x02(."}});
  EXPECT_EQ(Summary(r), (Strings{"low pickle.hidden res/weights.bin@0",
                                 "critical pickle.global.os.system "
                                 "res/weights.bin@2",
                                 "high pickle.corrupt bad.pkl@-1"}));
}

TEST(ScanTest, SourcesRiskyNamesWithLines) {
  ScanReport r = ScanRecords({{"pkg/__init__.py",
                               "import os\n"
                               "from subprocess import Popen\n"
                               "x = eval(s)\n"
                               "os.system('ls')\n"
                               "m = __import__(name)\n"
                               "n = __import__('json')\n"
                               "getattr(builtins, 'exec')\n"
                               "open(p, 'wb')\n"
                               "open(p)\n"
                               "model.eval()\n"}});
  EXPECT_EQ(Summary(r),
            (Strings{"high source.eval pkg/__init__.py@3",
                     "high source.os.system pkg/__init__.py@4",
                     "medium source.dynamic_import pkg/__init__.py@5",
                     "high source.getattr.builtins pkg/__init__.py@7",
                     "medium source.open.write pkg/__init__.py@8",
                     "high source.import.subprocess.Popen "
                     "pkg/__init__.py@-1"}));
  EXPECT_EQ(Summary(r, Severity::kInfo).size(), 8u);  // + 2 imports
}

TEST(ScanTest, UnscannableSource) {
  EXPECT_EQ(Summary(ScanRecords({{"m.py", "x = '\n"}})),
            (Strings{"medium source.unscannable m.py@-1"}));
}

TEST(ScanTest, ExternsMocksBytecodeAndUnknownRecords) {
  ScanReport r = ScanRecords(
      {{"_mock.py", "# runtime\n"},
       {"mocked.py",
        "from _mock import MockedObject\ndef __getattr__(a): pass\n"},
       {"m.py", "A = 1\n"},
       {".data/bytecode/a70d0d0a/m.pyc", "xx"},
       {".data/bytecode/a70d0d0a/gone.pyc", "xx"},
       {".data/extern_modules", "numpy\ntorch\n"},
       {".data/0.storage", "\x80\x02 storage bytes."},
       {"r.pkl.oob/0", "\x80\x02 buffer."},
       {".data/surprise", "?"}});
  EXPECT_EQ(
      Summary(r, Severity::kInfo),
      (Strings{"low package.mock mocked.py@-1",
               "medium bytecode.unchecked .data/bytecode/a70d0d0a/m.pyc@-1",
               "high bytecode.orphan .data/bytecode/a70d0d0a/gone.pyc@-1",
               "info package.extern .data/extern_modules@1",
               "info package.extern .data/extern_modules@2",
               "low record.unknown .data/surprise@-1"}));
}

TEST(ScanTest, UnreadableRecordsAreFindings) {
  ScanOptions options;
  options.max_record_size = 4;
  EXPECT_EQ(Summary(ScanRecords({{"m.py", "A = 1\n"}}, options)),
            (Strings{"high record.unreadable m.py@-1"}));
}

TEST(ScanTest, TorchPackageOfATensorIsClean) {
  auto reader = ArchiveReader::OpenPath(std::string(HERMETIC_TESTDATA_DIR) +
                                        "/torch213_package.pt");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Result<ScanReport> r = ScanArchive(**reader);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Summary(*r), Strings{});
  EXPECT_EQ(r->pickles, 1u);
  EXPECT_GT(r->CountAtLeast(Severity::kInfo), 0u);
}

TEST(ClassifyGlobalTest, DottedNamesAreJudgedByWhatTheyReach) {
  const ScanOptions none;
  // A tail of the path that names a dangerous callable is dangerous, through
  // a packaged module or an allowed one.
  EXPECT_EQ(ClassifyGlobal("pkg.mod", "os.system", true, none).kind,
            GlobalClass::kDangerous);
  EXPECT_EQ(ClassifyGlobal("pkg.mod", "os.system", true, none).severity,
            Severity::kCritical);
  EXPECT_EQ(
      ClassifyGlobal("torch.nn.modules.linear", "torch.load", false, none).kind,
      GlobalClass::kDangerous);
  // An allow-list wildcard never admits a dotted name.
  EXPECT_EQ(
      ClassifyGlobal("torch.nn.modules.linear", "Linear", false, none).kind,
      GlobalClass::kDataConstructor);
  EXPECT_EQ(
      ClassifyGlobal("torch.nn.modules.linear", "Linear.mro", false, none).kind,
      GlobalClass::kExtern);
  ScanOptions user;
  user.allowed_globals = {"mylib.*", "mylib.Outer.Inner"};
  EXPECT_EQ(ClassifyGlobal("mylib", "Thing", false, user).kind,
            GlobalClass::kDataConstructor);
  EXPECT_EQ(ClassifyGlobal("mylib", "Thing.attr", false, user).kind,
            GlobalClass::kExtern);
  EXPECT_EQ(ClassifyGlobal("mylib", "Outer.Inner", false, user).kind,
            GlobalClass::kDataConstructor);
  // Packaged classes, nested or not, are the package's own.
  EXPECT_EQ(ClassifyGlobal("pkg", "Outer.Inner", true, none).kind,
            GlobalClass::kInterned);
  // A name too deep to judge cheaply is refused.
  std::string long_name;
  for (int i = 0; i < 20000; ++i) long_name += "os.";
  long_name += "system";
  EXPECT_EQ(ClassifyGlobal("pkg", long_name, true, none).kind,
            GlobalClass::kDangerous);
}

}  // namespace
}  // namespace hermetic
