// Durations and sizes as the file writes them ("250ms", "8MiB"), and ConfigError.
#include <charconv>
#include <cstdint>
#include <string>

#include "config/load_config.hpp"

namespace tailgate::config {

ConfigError::ConfigError(std::string file, std::size_t line, std::string key, std::string message)
    : std::runtime_error(file + ":" + (line > 0 ? std::to_string(line) + ":" : std::string()) +
                         " " + (key.empty() ? "" : key + ": ") + message),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

namespace {
bool parse_duration_ms(std::string_view text, double& ms) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || value < 0) return false;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (unit == "us")
    ms = value / 1000;
  else if (unit == "ms")
    ms = value;
  else if (unit == "s")
    ms = value * 1000;
  else if (unit == "m")
    ms = value * 60'000;
  else if (unit == "h")
    ms = value * 3'600'000;
  else
    return false;
  return ms <= 1e12;
}
}  // namespace

bool parse_duration(std::string_view text, std::chrono::milliseconds& out) {
  double ms = 0;
  if (!parse_duration_ms(text, ms)) return false;
  out = std::chrono::milliseconds(static_cast<std::int64_t>(ms + 0.5));
  return true;
}

bool parse_duration(std::string_view text, std::chrono::nanoseconds& out) {
  double ms = 0;
  if (!parse_duration_ms(text, ms)) return false;
  out = std::chrono::nanoseconds(static_cast<std::int64_t>(ms * 1e6 + 0.5));
  return true;
}

bool parse_size(std::string_view text, std::size_t& out) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{}) return false;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1ull << 10;
  else if (unit == "MiB")
    scale = 1ull << 20;
  else if (unit == "GiB")
    scale = 1ull << 30;
  else if (unit == "KB")
    scale = 1000;
  else if (unit == "MB")
    scale = 1000'000;
  else if (unit == "GB")
    scale = 1000'000'000;
  else
    return false;
  if (value > (std::uint64_t{1} << 50) / scale) return false;
  out = static_cast<std::size_t>(value * scale);
  return true;
}

}  // namespace tailgate::config
