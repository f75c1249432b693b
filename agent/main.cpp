// tailgate: flags → config → logging → Agent(config).run(); or `tailgate explain`, a client.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "admin/explain.hpp"
#include "agent.hpp"
#include "config/load_config.hpp"
#include "config/startup_checks.hpp"
#include "telemetry/logging.hpp"

namespace {
constexpr const char* kUsage =
    "usage: tailgate [--config FILE] [--validate] [--version] [--help]\n"
    "       tailgate explain TRACE_ID [--config FILE | --admin HOST:PORT] [--json]\n"
    "  --config FILE  YAML configuration (every key: config/tailgate.yaml); default: built-in\n"
    "  --validate     check the configuration and exit (0 valid, 2 invalid)\n"
    "  explain        ask the running agent (its admin.endpoint) what became of a trace\n";

// glibc gives memory back to the kernel as soon as 128 KiB are free at the top of a heap, and
// serves each block of 128 KiB or more with a fresh mmap. The agent frees and refills its trace
// buffer and batches all the time, so every refill page-faulted: a fifth of its CPU (perf, at
// 100% keep). Keep up to 64 MiB free, grow 16 MiB at a time, mmap only blocks of 4 MiB or more.
// Memory is still bounded by the buffer and queue limits. GLIBC_TUNABLES, if set, decides.
void tune_malloc() {
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return;
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
  ::mallopt(M_TOP_PAD, 16 << 20);
  ::mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

// `tailgate explain TRACE_ID`: the admin endpoint from --admin, else from the config.
int explain(int argc, char** argv) {
  std::string id, admin, path;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--admin" && i + 1 < argc)
      admin = argv[++i];
    else if (arg == "--config" && i + 1 < argc)
      path = argv[++i];
    else if (arg == "--json")
      json = true;
    else if (id.empty() && !arg.starts_with("-"))
      id = arg;
    else
      return std::fprintf(stderr, "tailgate: unknown argument %s\n%s", argv[i], kUsage), 2;
  }
  if (id.empty()) return std::fprintf(stderr, "tailgate explain: which trace id?\n%s", kUsage), 2;
  if (admin.empty()) {
    try {
      admin =
          (path.empty() ? tailgate::config::load_defaults() : tailgate::config::load_config(path))
              .admin.endpoint;
    } catch (const tailgate::config::ConfigError& e) {
      return std::fprintf(stderr, "tailgate: %s\n", e.what()), 2;
    }
  }
  return tailgate::admin::explain(admin, id, json, std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "explain") return explain(argc, argv);
  tune_malloc();
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
    config = tailgate::config::load_for_start(path);
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
