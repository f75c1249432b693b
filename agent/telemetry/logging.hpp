#pragma once
// Logging set-up: spdlog to stderr (journald and kubectl logs both read it), one line per event
// as `event=<name> key=value ...`. Called once by main() before any thread starts.

#include "config/config.hpp"

namespace tailgate::telemetry {

void setup_logging(const config::LogConfig& config);
/// A new level for the running logger (SIGHUP).
void set_log_level(config::LogLevel level);

}  // namespace tailgate::telemetry
