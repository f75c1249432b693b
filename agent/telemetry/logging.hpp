#pragma once
// Logging set-up: spdlog to stderr (journald and kubectl logs both read it), one line per event
// as `<UTC RFC 3339 time> <level> event=<name> key=value ...`, or with log.format json one object
// whose fields are those pairs (log_json.hpp). Levels are the config's words (warn, not
// warning). Called once by main() before any thread starts.

#include <string>
#include <vector>

#include "config/config.hpp"

namespace tailgate::telemetry {

void setup_logging(const config::LogConfig& config);
/// A new level for the running logger (SIGHUP).
void set_log_level(config::LogLevel level);
/// The last warning and error lines logged (oldest first, at most 10), for the status page. Any
/// thread; empty before setup_logging().
[[nodiscard]] std::vector<std::string> last_errors();

}  // namespace tailgate::telemetry
