// tailgate: flags (cli.cpp) → config → logging → Agent(config).run(); or `tailgate explain`.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>

#include "admin/explain.hpp"
#include "agent.hpp"
#include "cli.hpp"
#include "config/load_config.hpp"
#include "config/startup_checks.hpp"
#include "telemetry/log_escape.hpp"
#include "telemetry/logging.hpp"

namespace {

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
int explain(const tailgate::cli::Options& o) {
  std::string admin = o.admin;
  if (admin.empty()) {
    try {
      admin = (o.config_path.empty() ? tailgate::config::load_defaults()
                                     : tailgate::config::load_config(o.config_path))
                  .admin.endpoint;
    } catch (const tailgate::config::ConfigError& e) {
      return std::fprintf(stderr, "tailgate: %s\n", e.what()), 2;
    }
  }
  return tailgate::admin::explain(admin, o.trace_id, o.json, std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  tailgate::cli::Options options;
  if (const auto exit_code = tailgate::cli::parse(argc, argv, options)) return *exit_code;
  if (options.explain) return explain(options);
  tune_malloc();
  const std::string& path = options.config_path;
  const bool validate = options.validate;
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
    spdlog::error("event=startup_failed error={}", tailgate::telemetry::quoted(e.what()));
    return 1;
  }
}
