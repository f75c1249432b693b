// The YAML config loader on arbitrary text: a file it cannot use is a ConfigError naming the
// problem, never another exception, a crash or a hang (what --validate and SIGHUP rely on).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/load_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)tailgate::config::load_config_text(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  } catch (const tailgate::config::ConfigError&) {
  }
  return 0;
}
