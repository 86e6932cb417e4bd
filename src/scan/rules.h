// The tables the scan classifies names by: globals of pickles and dotted
// names of sources. Patterns: "m.name" exactly; "m.pre*" every name of m
// starting with "pre", "m.*suf" ending with "suf"; "m.*" every name of m;
// "m.**" every name of m and of its submodules.
#ifndef HERMETIC_SRC_SCAN_RULES_H_
#define HERMETIC_SRC_SCAN_RULES_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "hermetic/scan.h"

namespace hermetic::scan {

struct NameRule {
  std::string_view pattern;
  Severity severity;
};

bool MatchesPattern(std::string_view pattern, std::string_view module,
                    std::string_view name);

// The first rule matching (module, name), if any.
const NameRule* FindRule(std::span<const NameRule> rules,
                         std::string_view module, std::string_view name);

// Callables a pickle must not name: they run commands, code, imports or
// nested loads, or reach the file system or the network.
std::span<const NameRule> DangerousGlobals();
// Data constructors a state_dict or an nn.Module pickle names.
bool IsAllowedGlobal(std::string_view module, std::string_view name);

// Dotted names in sources worth a finding when used (a call or a
// reference), matched on the whole chain split at its last dot.
std::span<const NameRule> RiskySourceNames();
// False when no rule of RiskySourceNames, nor any of `special` (names the
// caller checks itself, the same on every call), can match `name`.
bool MayBeRiskySourceName(std::string_view name,
                          std::span<const std::string_view> special);

}  // namespace hermetic::scan

#endif  // HERMETIC_SRC_SCAN_RULES_H_
