// tailgate: flags → config → logging → Agent(config).run().
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "agent.hpp"
#include "config/load_config.hpp"
#include "telemetry/logging.hpp"

namespace {
constexpr const char* kUsage =
    "usage: tailgate [--config FILE] [--validate] [--version] [--help]\n"
    "  --config FILE  YAML configuration (every key: config/tailgate.yaml); default: built-in\n"
    "  --validate     check the configuration and exit (0 valid, 2 invalid)\n";
}

int main(int argc, char** argv) {
  std::string path;
  bool validate = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc)
      path = argv[++i];
    else if (arg == "--validate")
      validate = true;
    else if (arg == "--version")
      return std::puts("tailgate " TAILGATE_VERSION), 0;
    else if (arg == "--help" || arg == "-h")
      return std::fputs(kUsage, stdout), 0;
    else
      return std::fprintf(stderr, "tailgate: unknown argument %s\n%s", argv[i], kUsage), 2;
  }
  tailgate::config::Config config;
  try {
    if (!path.empty()) config = tailgate::config::load_config(path);
  } catch (const tailgate::config::ConfigError& e) {
    std::fprintf(stderr, "tailgate: %s\n", e.what());
    return 2;
  }
  if (validate) return std::printf("%s: valid\n", path.empty() ? "defaults" : path.c_str()), 0;
  tailgate::telemetry::setup_logging(config.log);
  try {
    return tailgate::Agent(std::move(config)).run(path);
  } catch (const std::exception& e) {
    spdlog::critical("event=startup_failed error=\"{}\"", e.what());
    return 1;
  }
}
