// Fuzz target: the provider's config section, from an openssl.cnf text
// (the quick scan) to the checked values (every key and value validated).
#include <cstdint>
#include <string>

#include "config.h"
#include "config_scan.h"
#include "error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  hsmprov::ReadInclude no_includes = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto section = hsmprov::scan_provider_section(text, "hsmprov", no_includes);
  if (!section) return 0;  // not plain enough: NCONF's to read
  hsmprov::ConfigValues values;
  for (const auto& [key, value] : *section) values.set(key, value);
  try {
    hsmprov::parse_config(values, {"/usr/lib/softhsm/libsofthsm2.so", "the fuzz target"});
  } catch (const hsmprov::Error&) {
  }
  return 0;
}
