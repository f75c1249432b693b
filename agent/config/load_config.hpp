#pragma once
// YAML → Config. The only place that includes yaml-cpp. Errors carry the file, line, key path,
// the bad value and what is allowed, e.g.
//   tailgate.yaml:17: exporter.timeout: expected a duration such as 250ms or 5s, got "fast"
// Environment: ${VAR} and ${VAR:-default} are substituted in values, then the OpenTelemetry
// variables override the file or the defaults (config/otel_environment.hpp). Duplicate keys are
// errors naming both lines.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace tailgate::config {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::size_t line, std::string key, std::string message);
  const std::string& file() const noexcept { return file_; }
  std::size_t line() const noexcept { return line_; }  ///< 1-based; 0 when not tied to a line
  const std::string& key() const noexcept { return key_; }

 private:
  std::string file_;
  std::size_t line_;
  std::string key_;
};

/// A config file is a regular file of at most this many bytes (the shipped one is ~25 KiB): a
/// FIFO or device given as --config would be read for ever.
inline constexpr std::size_t kMaxConfigBytes = 1 << 20;

/// Reads and validates the file. Throws ConfigError.
[[nodiscard]] Config load_config(const std::string& path);
/// The built-in defaults with the environment applied (no --config), checked as a file is.
[[nodiscard]] Config load_defaults();
/// The same for text in hand; `name` stands for the file in messages.
[[nodiscard]] Config load_config_text(std::string_view text, const std::string& name);

/// "250ms", "5s", "2m" → milliseconds; false if it is not one.
bool parse_duration(std::string_view text, std::chrono::milliseconds& out);
/// The same to the nanosecond ("100us", "2.5ms"), for histogram bounds.
bool parse_duration(std::string_view text, std::chrono::nanoseconds& out);
/// "8MiB", "64KiB", "1GB", "4096" → bytes; false if it is not one.
bool parse_size(std::string_view text, std::size_t& out);

}  // namespace tailgate::config
