// `hermetic scan`: the static report of include/hermetic/scan.h.
#ifndef HERMETIC_TOOLS_HERMETIC_SCAN_COMMAND_H_
#define HERMETIC_TOOLS_HERMETIC_SCAN_COMMAND_H_

#include <string>
#include <vector>

#include "hermetic/status.h"

namespace hermetic::cli {

extern const char kScanUsage[];

// `fail` reports an error opening the archive and gives the exit code.
int ScanCommand(const std::vector<std::string>& args,
                int (*fail)(const Status&));

}  // namespace hermetic::cli

#endif  // HERMETIC_TOOLS_HERMETIC_SCAN_COMMAND_H_
