#pragma once
// What start-up refuses beyond each key's own checks, in one place so that `tailgate --validate`
// runs exactly what start-up runs: an exporter.endpoint left unset, and one that would reach
// this agent's own OTLP/gRPC receiver (kept spans received again without end).

#include <string>

#include "config/config.hpp"

namespace tailgate::config {

/// Throws ConfigError (its file: `source`) on the first problem found.
void check_startup(const Config& config, const std::string& source);

/// What the agent runs on: load_config(path), or load_defaults() when `path` is empty, then
/// check_startup. Throws ConfigError.
[[nodiscard]] Config load_for_start(const std::string& path);

}  // namespace tailgate::config
