// Feeds arbitrary bytes to ScanImports as Python source, once as a nested
// module and once as a top-level one (relative resolution differs). The
// bracket limit is lowered so deep nesting is exercised cheaply.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hermetic/import_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  hermetic::ImportScanOptions options;
  options.max_bracket_depth = 200;
  (void)hermetic::ScanImports(source, "pkg.sub.mod", false, options);
  (void)hermetic::ScanImports(source, "top", true, options,
                              [](const hermetic::NameUse&) {});
  return 0;
}
