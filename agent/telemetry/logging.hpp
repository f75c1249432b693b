#pragma once
// Logging set-up: spdlog to stderr (journald and kubectl logs both read it), one line per event
// as `event=<name> key=value ...`. Called once by main() before any thread starts.

#include "config/config.hpp"

namespace tailgate::telemetry {

void setup_logging(const config::LogConfig& config);

}  // namespace tailgate::telemetry
