#include "rules.h"

#include <array>
#include <unordered_set>

namespace hermetic::scan {
namespace {

constexpr Severity kCritical = Severity::kCritical;
constexpr Severity kHigh = Severity::kHigh;
constexpr Severity kMedium = Severity::kMedium;

// Most specific first: the first match wins.
constexpr NameRule kDangerousGlobals[] = {
    {"os.system", kCritical},
    {"os.popen", kCritical},
    {"os.exec*", kCritical},
    {"os.spawn*", kCritical},
    {"os.posix_spawn*", kCritical},
    {"posix.*", kCritical},
    {"nt.*", kCritical},
    {"subprocess.**", kCritical},
    {"_posixsubprocess.*", kCritical},
    {"pty.*", kCritical},
    {"commands.*", kCritical},
    {"runpy.**", kCritical},
    // Run code given as text: timeit's statements, the profilers' and
    // debuggers' run().
    {"timeit.*", kCritical},
    {"cProfile.run*", kCritical},
    {"profile.run*", kCritical},
    {"pdb.*", kCritical},
    {"bdb.*", kCritical},
    {"trace.*", kHigh},
    {"doctest.*", kHigh},
    {"pip.**", kCritical},
    {"torch.utils.cpp_extension.**", kCritical},
    {"builtins.eval", kCritical},
    {"builtins.exec", kCritical},
    {"builtins.compile", kCritical},
    {"builtins.__import__", kCritical},
    {"__builtin__.eval", kCritical},
    {"__builtin__.exec", kCritical},
    {"__builtin__.compile", kCritical},
    {"__builtin__.__import__", kCritical},
    {"__builtin__.execfile", kCritical},
    {"numpy.testing._private.utils.runstring", kCritical},
    {"builtins.getattr", kHigh},
    {"builtins.setattr", kHigh},
    {"builtins.delattr", kHigh},
    {"builtins.open", kHigh},
    {"builtins.globals", kHigh},
    {"builtins.locals", kHigh},
    {"builtins.vars", kHigh},
    {"builtins.breakpoint", kHigh},
    {"builtins.input", kHigh},
    {"builtins.type", kHigh},
    {"__builtin__.getattr", kHigh},
    {"__builtin__.setattr", kHigh},
    {"__builtin__.open", kHigh},
    {"__builtin__.file", kHigh},
    {"os.**", kHigh},
    {"importlib.**", kHigh},
    {"pkgutil.**", kHigh},
    {"pydoc.**", kHigh},
    {"zipimport.*", kHigh},
    {"imp.*", kHigh},
    {"site.*", kHigh},
    {"idlelib.**", kHigh},
    {"logging.config.**", kHigh},
    {"distutils.**", kHigh},
    {"setuptools.**", kHigh},
    {"venv.**", kHigh},
    {"ensurepip.**", kHigh},
    {"cffi.**", kHigh},
    {"shelve.*", kHigh},
    {"tempfile.*", kHigh},
    {"pickle.**", kHigh},
    {"_pickle.*", kHigh},
    {"marshal.*", kHigh},
    {"dill.**", kHigh},
    {"cloudpickle.**", kHigh},
    {"joblib.**", kHigh},
    {"ctypes.**", kHigh},
    {"_ctypes.*", kHigh},
    {"socket.*", kHigh},
    {"_socket.*", kHigh},
    {"shutil.*", kHigh},
    {"sys.*", kHigh},
    {"io.*", kHigh},
    {"_io.*", kHigh},
    {"types.*", kHigh},
    {"code.*", kHigh},
    {"codeop.*", kHigh},
    {"operator.attrgetter", kHigh},
    {"operator.methodcaller", kHigh},
    {"_operator.attrgetter", kHigh},
    {"_operator.methodcaller", kHigh},
    {"multiprocessing.**", kHigh},
    {"webbrowser.*", kHigh},
    {"urllib.**", kHigh},
    {"http.**", kHigh},
    {"requests.**", kHigh},
    {"httplib.*", kHigh},
    {"urllib2.*", kHigh},
    {"httpx.**", kHigh},
    {"aiohttp.**", kHigh},
    {"ftplib.*", kHigh},
    {"smtplib.*", kHigh},
    {"telnetlib.*", kHigh},
    {"xmlrpc.**", kHigh},
    {"asyncio.**", kHigh},
    // Loads of other bytes (nested pickles the scan does not see) and code
    // carried in the pickle itself.
    {"torch.load", kHigh},
    {"torch.serialization.**", kHigh},
    {"torch.storage._load_from_bytes", kHigh},
    {"torch.hub.**", kHigh},
    {"torch.jit.**", kHigh},
    {"torch.package.**", kHigh},
    {"torch._inductor.**", kHigh},
    {"torch._dynamo.**", kHigh},
    {"torch.compile", kHigh},
    {"torch.utils.collect_env.**", kHigh},
    {"torch.utils.bottleneck.**", kHigh},
    {"torch.multiprocessing.**", kHigh},
    {"torch.distributed.**", kHigh},
    {"torch.testing.**", kHigh},
    {"torch.fx.graph_module.reduce_graph_module", kHigh},
    {"torch.fx.graph_module._deserialize_graph_module", kHigh},
    {"numpy.load", kHigh},
    {"numpy.lib.npyio.**", kHigh},
    {"numpy.lib._npyio_impl.**", kHigh},
    {"numpy.lib.format.**", kHigh},
    {"numpy.ctypeslib.**", kHigh},
    {"numpy.f2py.**", kHigh},
    {"numpy.distutils.**", kHigh},
    {"pandas.read_pickle", kHigh},
    {"pandas.io.**", kHigh},
};

constexpr std::string_view kAllowedGlobals[] = {
    "torch._utils._rebuild_*",
    "torch._tensor._rebuild_from_type*",
    "torch.*Storage",
    "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage",
    "torch.Size",
    "torch.device",
    "torch.nn.parameter.Parameter",
    "torch.nn.parameter.Buffer",
    "torch.nn.parameter.UninitializedParameter",
    "torch.nn.modules.**",
    // Rebuilds a GraphModule from the code torch.package saved as a module
    // of the package (scanned as any source) and a dict of its attributes.
    "torch.fx.graph_module.reduce_package_graph_module",
    "torch.fx._symbolic_trace.Tracer",  // a GraphModule's tracer class
    "torch.float*",
    "torch.bfloat16",
    "torch.half",
    "torch.double",
    "torch.int*",
    "torch.uint*",
    "torch.bool",
    "torch.complex*",
    "torch.cfloat",
    "torch.cdouble",
    "torch.long",
    "torch.short",
    "torch.qint*",
    "torch.quint*",
    "torch.strided",
    "torch.sparse_*",
    "torch.contiguous_format",
    "torch.channels_last*",
    "torch.preserve_format",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.deque",
    "collections.Counter",
    "copyreg._reconstructor",
    "copy_reg._reconstructor",
    "_codecs.encode",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.dtypes.*",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
    "uuid.UUID",
};

constexpr std::array<std::string_view, 17> kBuiltinData = {
    "set",   "frozenset", "list",   "dict",     "tuple",          "int",
    "float", "complex",   "bool",   "str",      "bytes",          "bytearray",
    "slice", "range",     "object", "Ellipsis", "NotImplemented",
};

constexpr NameRule kRiskySourceNames[] = {
    {"eval", kHigh},
    {"exec", kHigh},
    {"compile", kHigh},
    {"builtins.eval", kHigh},
    {"builtins.exec", kHigh},
    {"builtins.compile", kHigh},
    {"os.system", kHigh},
    {"os.popen", kHigh},
    {"os.exec*", kHigh},
    {"os.spawn*", kHigh},
    {"os.posix_spawn*", kHigh},
    {"os.fork*", kHigh},
    {"posix.system", kHigh},
    {"posix.popen", kHigh},
    {"subprocess.**", kHigh},
    {"ctypes.**", kHigh},
    {"runpy.**", kHigh},
    {"pickle.load*", kHigh},
    {"pickle.Unpickler", kHigh},
    {"_pickle.load*", kHigh},
    {"marshal.load*", kHigh},
    {"dill.load*", kHigh},
    {"cloudpickle.load*", kHigh},
    {"code.Interactive*", kHigh},
    {"code.interact", kHigh},
    {"socket.*", kMedium},
    {"shutil.rmtree", kMedium},
    {"os.remove", kMedium},
    {"os.unlink", kMedium},
    {"os.rmdir", kMedium},
    {"os.removedirs", kMedium},
};

}  // namespace

bool MatchesPattern(std::string_view pattern, std::string_view module,
                    std::string_view name) {
  const size_t dot = pattern.rfind('.');
  std::string_view pmod =
      dot == std::string_view::npos ? "" : pattern.substr(0, dot);
  std::string_view pname =
      dot == std::string_view::npos ? pattern : pattern.substr(dot + 1);
  if (pname == "**") {
    return module == pmod ||
           (module.size() > pmod.size() && module.starts_with(pmod) &&
            module[pmod.size()] == '.');
  }
  if (module != pmod) return false;
  if (pname.starts_with('*')) return name.ends_with(pname.substr(1));
  if (pname.ends_with('*')) {
    return name.starts_with(pname.substr(0, pname.size() - 1));
  }
  return name == pname;
}

const NameRule* FindRule(std::span<const NameRule> rules,
                         std::string_view module, std::string_view name) {
  for (const NameRule& rule : rules) {
    if (MatchesPattern(rule.pattern, module, name)) return &rule;
  }
  return nullptr;
}

std::span<const NameRule> DangerousGlobals() { return kDangerousGlobals; }

bool IsAllowedGlobal(std::string_view module, std::string_view name) {
  if (module == "builtins" || module == "__builtin__") {
    for (std::string_view n : kBuiltinData) {
      if (name == n) return true;
    }
    return false;
  }
  for (std::string_view pattern : kAllowedGlobals) {
    if (MatchesPattern(pattern, module, name)) return true;
  }
  return false;
}

std::span<const NameRule> RiskySourceNames() { return kRiskySourceNames; }

bool MayBeRiskySourceName(std::string_view name,
                          std::span<const std::string_view> special) {
  // Most names of a source are none of these: a table of (first letter,
  // length of the first component) rejects nearly all of them before the
  // one hash lookup of that component.
  struct Filter {
    std::array<uint32_t, 256> lengths{};  // bit n: some component of length n
    std::unordered_set<std::string_view> firsts;
  };
  static const Filter* filter = [&] {
    auto* f = new Filter;
    auto add = [&](std::string_view n) {
      n = n.substr(0, n.find('.'));
      f->lengths[static_cast<uint8_t>(n[0])] |= uint32_t{1} << n.size();
      f->firsts.insert(n);
    };
    for (const NameRule& rule : kRiskySourceNames) add(rule.pattern);
    for (std::string_view n : special) add(n);
    return f;
  }();
  std::string_view first = name.substr(0, name.find('.'));
  if (first.empty() || first.size() >= 32 ||
      !(filter->lengths[static_cast<uint8_t>(first[0])] &
        (uint32_t{1} << first.size()))) {
    return false;
  }
  return filter->firsts.contains(first);
}

}  // namespace hermetic::scan
