// What the CLI's commands share: exit codes, error and usage reporting,
// argument parsing and human-readable sizes.
#ifndef HERMETIC_TOOLS_HERMETIC_CLI_H_
#define HERMETIC_TOOLS_HERMETIC_CLI_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "hermetic/status.h"

namespace hermetic::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitDamaged = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitIo = 3;
inline constexpr int kExitOther = 4;

// Prints "hermetic: <message>" on standard error; the exit code for `s`.
// Messages from the library escape record names (EscapeName); the CLI's
// own messages escape every name and path they print.
int Fail(const Status& s);

// Prints "hermetic <command>: <what>" and the command's usage on standard
// error; kExitUsage.
int UsageError(std::string_view command, std::string_view what);

// The arguments a command accepts. Options are "--name"; "--" ends them.
struct ArgSpec {
  std::string_view command;
  std::vector<std::string_view> flags;     // take no value
  std::vector<std::string_view> options;   // take one value, repeatable
  std::vector<std::string_view> required;  // positional, in order
  std::vector<std::string_view> optional;  // positional, after the required
};

struct Args {
  std::vector<std::string> positional;
  std::set<std::string, std::less<>> flags;
  std::map<std::string, std::vector<std::string>, std::less<>> options;

  bool Has(std::string_view flag) const { return flags.contains(flag); }
  // The values given for `option`, in order (empty when not given).
  const std::vector<std::string>& Values(std::string_view option) const;
  // The optional positional argument `i` (counting from 0 after the
  // required ones), if given.
  std::optional<std::string> Optional(const ArgSpec& spec, size_t i) const;
};

// `args` parsed by `spec`; nullopt once a usage error naming what was
// wrong has been printed (UsageError).
std::optional<Args> ParseArgs(const std::vector<std::string>& args,
                              const ArgSpec& spec);

// "512 B", "1.5 KiB", "20.0 MiB", ...
std::string HumanSize(uint64_t bytes);

// Commands, each in its <command>_command.cc; each returns the exit code.
int Deps(const std::vector<std::string>& args);
int Diff(const std::vector<std::string>& args);
int Extract(const std::vector<std::string>& args);
int Info(const std::vector<std::string>& args);
int Keygen(const std::vector<std::string>& args);
int Ls(const std::vector<std::string>& args);
int Sign(const std::vector<std::string>& args);
int Tensors(const std::vector<std::string>& args);
int Tree(const std::vector<std::string>& args);
int Requirements(const std::vector<std::string>& args);

// The "distribution==version" pins of an environment record
// (.data/hermetic/environment, docs/format.md section 10): sorted, unique,
// escaped for the terminal.
std::vector<std::string> EnvironmentPins(std::string_view record);

}  // namespace hermetic::cli

#endif  // HERMETIC_TOOLS_HERMETIC_CLI_H_
