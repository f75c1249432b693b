#pragma once
// What the agent's logger (telemetry/logging.hpp) writes to stderr while a piece of code runs:
// stderr goes to a temporary file for that time. For the logging tests.

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

#include "telemetry/logging.hpp"

namespace tailgate::testing {

template <typename Log>
std::string captured_stderr(const config::LogConfig& config, Log&& log) {
  char path[] = "/tmp/tailgate-logging-test-XXXXXX";
  const int file = ::mkstemp(path);
  REQUIRE(file >= 0);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(file, 2);
  telemetry::setup_logging(config);
  log();
  spdlog::default_logger()->flush();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(file);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  ::unlink(path);
  return text.str();
}

}  // namespace tailgate::testing
