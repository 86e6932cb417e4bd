#include "cli.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "hermetic/archive.h"

namespace hermetic::cli {
namespace {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kCorruptArchive:
    case StatusCode::kCorruptPickle:
    case StatusCode::kIntegrity:
      return kExitDamaged;
    case StatusCode::kNotFound:
    case StatusCode::kIOError:
      return kExitIo;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitOther;
  }
}

bool Contains(const std::vector<std::string_view>& names,
              std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

int Fail(const Status& s) {
  std::fprintf(stderr, "hermetic: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

const std::vector<std::string>& Args::Values(std::string_view option) const {
  static const std::vector<std::string> kNone;
  auto it = options.find(option);
  return it == options.end() ? kNone : it->second;
}

std::optional<std::string> Args::Optional(const ArgSpec& spec, size_t i) const {
  size_t at = spec.required.size() + i;
  if (at >= positional.size()) return std::nullopt;
  return positional[at];
}

std::optional<Args> ParseArgs(const std::vector<std::string>& args,
                              const ArgSpec& spec) {
  Args out;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!options_done && a == "--") {
      options_done = true;
    } else if (!options_done && a.size() > 1 && a[0] == '-') {
      if (Contains(spec.flags, a)) {
        out.flags.insert(a);
      } else if (Contains(spec.options, a)) {
        if (i + 1 == args.size()) {
          UsageError(spec.command, "option " + a + " needs a value");
          return std::nullopt;
        }
        out.options[a].push_back(args[++i]);
      } else {
        UsageError(spec.command, "unknown option '" + EscapeName(a) + "'");
        return std::nullopt;
      }
    } else {
      out.positional.push_back(a);
    }
  }
  if (out.positional.size() < spec.required.size()) {
    UsageError(spec.command,
               "missing " + std::string(spec.required[out.positional.size()]));
    return std::nullopt;
  }
  if (out.positional.size() > spec.required.size() + spec.optional.size()) {
    UsageError(
        spec.command,
        "unexpected argument '" +
            EscapeName(
                out.positional[spec.required.size() + spec.optional.size()]) +
            "'");
    return std::nullopt;
  }
  return out;
}

std::string HumanSize(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB",
                                           "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  // 1023.95 KiB would print as "1024.0 KiB": the next unit reads better.
  while (value >= 1023.95 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  return buf;
}

std::vector<std::string> EnvironmentPins(std::string_view record) {
  std::vector<std::string> pins;
  while (!record.empty()) {
    const size_t end = record.find('\n');
    std::string_view line = record.substr(0, end);
    record.remove_prefix(end == std::string_view::npos ? record.size()
                                                       : end + 1);
    // "extern <module> <distribution> <version>"; other lines say other
    // things (python, platform, stdlib and unknown externs).
    std::vector<std::string_view> fields;
    for (size_t space; (space = line.find(' ')) != std::string_view::npos;) {
      fields.push_back(line.substr(0, space));
      line.remove_prefix(space + 1);
    }
    fields.push_back(line);
    if (fields.size() == 4 && fields[0] == "extern") {
      pins.push_back(EscapeName(fields[2]) + "==" + EscapeName(fields[3]));
    }
  }
  std::sort(pins.begin(), pins.end());
  pins.erase(std::unique(pins.begin(), pins.end()), pins.end());
  return pins;
}

}  // namespace hermetic::cli
