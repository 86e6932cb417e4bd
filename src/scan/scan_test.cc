#include "hermetic/scan.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hermetic/manifest.h"

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
  std::string p = "\x80\x02" + ShortUnicode("database_row") +
                  "\x85Q"
                  "NQ0.";
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl", p}})),
            (Strings{"medium pickle.persistent_id.other p.pkl@17",
                     "medium pickle.persistent_id.unnamed p.pkl@19"}));
}

TEST(ScanTest, ReducePackageIdsAreJudgedByTheGlobalTheyCall) {
  // torch.package's ("reduce_package", id, func, args): the loader calls
  // func, a global of the pickle classified like any other.
  auto id_calling = [](std::string_view module, std::string_view name) {
    return "\x80\x02(" + ShortUnicode("reduce_package") +
           "K\x01"
           "c" +
           std::string(module) + "\n" + std::string(name) + "\n)tQ.";
  };
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl", id_calling("posix", "system")}}),
                    Severity::kInfo),
            (Strings{"critical pickle.global.posix.system p.pkl@21",
                     "info pickle.persistent_id.reduce_package p.pkl@37"}));
  EXPECT_EQ(Summary(ScanRecords({{"p.pkl", id_calling("mylib", "make")}}),
                    Severity::kLow),
            (Strings{"medium pickle.global.extern p.pkl@21"}));
  // fx's own reduction imports the GraphModule's code from the package.
  EXPECT_EQ(Summary(ScanRecords(
                        {{"p.pkl", id_calling("torch.fx.graph_module",
                                              "reduce_package_graph_module")}}),
                    Severity::kLow),
            Strings{});
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

TEST(ScanTest, AliasesOfRiskyNamesAreFollowed) {
  ScanReport r = ScanRecords({{"m.py",
                               "import os as o, json\n"
                               "import subprocess as sp\n"
                               "from os import system as s, path\n"
                               "from subprocess import run\n"
                               "import numpy as np\n"
                               "o.system('id')\n"
                               "sp.check_output(['id'])\n"
                               "s('id')\n"
                               "run(['id'])\n"
                               "np.load(f)\n"
                               "path.join(a, b)\n"
                               "x = 'import os as q'; q.system('id')\n"}});
  EXPECT_EQ(Summary(r), (Strings{"high source.os.system m.py@6",
                                 "high source.subprocess.check_output m.py@7",
                                 "high source.os.system m.py@8",
                                 "high source.subprocess.run m.py@9",
                                 "high source.import.os.system m.py@-1",
                                 "high source.import.subprocess.run m.py@-1"}));
  bool named = false;
  for (const Finding& f : r.findings) {
    named |= f.message == "calls os.system (as o.system)";
  }
  EXPECT_TRUE(named);
}

TEST(ScanTest, PicklesWithoutAHeaderAreFoundUnderAnyName) {
  // Protocols 0 and 1 write no PROTO; neither need a later protocol's
  // opcodes. Storages and unknown .data/ records are looked at too.
  const std::string p0 = "cos\nsystem\n(S'id'\ntR.";
  const std::string p1 = std::string("cposix\nsystem\nq\x00(U\x02idtR.", 24);
  const std::string no_proto = ShortUnicode("os") + ShortUnicode("system") +
                               "\x93" + ShortUnicode("id") + "\x85R.";
  ScanReport r = ScanRecords({{"notes.txt", p0},
                              {".data/0.storage", p1},
                              {".data/extra", no_proto},
                              {"res/blob.bin", "\x80\x02" + p0}});
  EXPECT_EQ(Summary(r),
            (Strings{"low pickle.hidden notes.txt@0",
                     "critical pickle.global.os.system notes.txt@0",
                     "low pickle.hidden .data/0.storage@0",
                     "critical pickle.global.posix.system .data/0.storage@0",
                     "low record.unknown .data/extra@-1",
                     "low pickle.hidden .data/extra@0",
                     "critical pickle.global.os.system .data/extra@12",
                     "low pickle.hidden res/blob.bin@0",
                     "critical pickle.global.os.system res/blob.bin@2"}));
  EXPECT_EQ(r.pickles, 4u);
}

TEST(ScanTest, OrdinaryTextIsNotAPickle) {
  // Each passes the gate or starts with opcodes, but names no importable
  // global: "N.B." is a pickle of None, a CSV or JSON fails the gate.
  ScanReport r =
      ScanRecords({{"a.txt", "N.B. the weights are in fp16.\n"},
                   {"b.csv", "a,b\n1,2\n"},
                   {"c.json", "{\"a\": [1, 2]}"},
                   {"d.txt", "(S'a note'\nS'another'\nt."},
                   {"e.txt", "cd build && make\nmake install\n."},
                   {"f.md", "# Title\n\nText ending with a STOP.\n."}});
  EXPECT_EQ(Summary(r, Severity::kInfo), Strings{});
  EXPECT_EQ(r.pickles, 0u);
}

TEST(ScanTest, QualifiedNamesReachingThroughModulesAreFlagged) {
  // Protocol 4 resolves "a.b" attribute by attribute: a module attribute
  // of an allowed or interned module reaches any callable.
  auto stack_global = [](std::string_view module, std::string_view name) {
    return "\x80\x04" + ShortUnicode(module) + ShortUnicode(name) + "\x93.";
  };
  ScanReport r = ScanRecords(
      {{"model.py",
        "import torch\nimport os as _o\nclass Outer:\n  class Inner: pass\n"},
       {"a.pkl", stack_global("torch.nn.modules.module", "torch.load")},
       {"b.pkl", stack_global("model", "_o.system")},
       {"c.pkl", stack_global("model", "torch.nn.Linear")},
       {"d.pkl", stack_global("model", "Outer.Inner")},
       {"e.pkl", stack_global("numpy", "testing.sys.modules")},
       {"f.pkl", stack_global("collections", "OrderedDict.fromkeys")}});
  EXPECT_EQ(Summary(r, Severity::kInfo),
            (Strings{"info source.import model.py@-1",
                     "info source.import model.py@-1",
                     "high pickle.global.torch.load a.pkl@39",
                     "high pickle.global.qualified b.pkl@20",
                     "high pickle.global.qualified c.pkl@26",
                     "info pickle.global.interned d.pkl@22",
                     "high pickle.global.sys.modules e.pkl@30",
                     "high pickle.global.qualified f.pkl@37"}));
}

TEST(ScanTest, GlobalsOfDeclaredExternsAreLow) {
  const std::string p =
      "\x80\x02"
      "csklearn.pipeline\nPipeline\n"
      "csklearn.svm\nSVC\n"
      "ctimeit\ntimeit\n.";
  ScanReport r = ScanRecords(
      {{".data/extern_modules", "sklearn.pipeline\ntimeit\n"}, {"p.pkl", p}});
  EXPECT_EQ(Summary(r), (Strings{"low pickle.global.extern p.pkl@2",
                                 "medium pickle.global.extern p.pkl@29",
                                 "critical pickle.global.timeit.timeit "
                                 "p.pkl@46"}));
}

// The records of an archive of `records` written with a manifest (and a
// signature by `key`).
Records WithManifest(const Records& records,
                     std::optional<SecretKey> key = std::nullopt) {
  auto bytes = std::make_shared<std::vector<uint8_t>>();
  auto inner = ArchiveWriter::OpenMemory(bytes.get());
  EXPECT_TRUE(inner.ok());
  ManifestWriteOptions options;
  options.reproducible = true;
  options.sign_with = std::move(key);
  auto writer = WrapWithManifest(std::move(*inner), std::move(options));
  for (const auto& [name, data] : records) {
    EXPECT_TRUE(
        writer
            ->WriteRecord(name, {reinterpret_cast<const uint8_t*>(data.data()),
                                 data.size()})
            .ok());
  }
  EXPECT_TRUE(writer->Finish().ok());
  auto reader = ArchiveReader::OpenBuffer(*bytes, bytes, "mem");
  EXPECT_TRUE(reader.ok());
  Records out;
  for (const RecordInfo& info : (*reader)->records()) {
    auto data = (*reader)->Read(info.name);
    EXPECT_TRUE(data.ok());
    out.emplace_back(info.name, std::string(data->begin(), data->end()));
  }
  return out;
}

TEST(ScanTest, ManifestsAreChecked) {
  const Records records = {{"m.py", "THRESHOLD = 0.5\n"}};
  Result<SecretKey> key = GenerateKey();
  ASSERT_TRUE(key.ok());
  const Records signed_records = WithManifest(records, *key);
  EXPECT_EQ(Summary(ScanRecords(WithManifest(records)), Severity::kInfo),
            (Strings{"info manifest.verified .data/hermetic/manifest@-1"}));
  EXPECT_EQ(Summary(ScanRecords(signed_records), Severity::kInfo),
            (Strings{"info manifest.signed .data/hermetic/signature@-1"}));

  Records tampered = signed_records;
  tampered[0].second = "THRESHOLD = 5.0\n";
  EXPECT_EQ(Summary(ScanRecords(tampered)),
            (Strings{"high manifest.mismatch .data/hermetic/manifest@-1"}));
  Records added = signed_records;
  added.emplace_back("notes.txt", "harmless\n");
  ScanReport r = ScanRecords(added);
  EXPECT_EQ(Summary(r),
            (Strings{"high manifest.mismatch .data/hermetic/manifest@-1"}));
  ASSERT_FALSE(r.findings.empty());
  EXPECT_NE(r.findings[0].message.find("notes.txt: not in the manifest"),
            std::string::npos)
      << r.findings[0].message;
}

}  // namespace
}  // namespace hermetic
