// Feeds arbitrary bytes to ParseManifest, and what parses back through
// SerializeManifest: the format has one encoding, so the two must agree.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "hermetic/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hermetic::ManifestOptions options;
  options.max_records = 1 << 10;
  options.max_name_length = 256;
  auto parsed = hermetic::ParseManifest(std::span<const uint8_t>(data, size),
                                        "fuzz.pt", options);
  if (parsed.ok()) {
    const std::string text = hermetic::SerializeManifest(*parsed);
    if (text.size() != size ||
        !std::equal(text.begin(), text.end(),
                    reinterpret_cast<const char*>(data))) {
      std::abort();
    }
  }
  return 0;
}
