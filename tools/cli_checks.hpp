#pragma once
// CLI11 validators that tailgate-load and tailgate-sink share. CLI11's own fall short: its
// unsigned conversion takes "-5" as 2^64-5 (strtoull), and its Range lets nan through (every
// comparison with nan is false) and takes inf. Each validator here answers a bad value with a
// message naming what is allowed, which CLI11 turns into a usage error (exit 2).

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace tailgate::tools {

/// A whole number written in decimal digits only (no sign, no 0x), in [min, max].
inline CLI::Validator count_in(std::uint64_t min, std::uint64_t max) {
  const auto allowed = "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [min, max, allowed](std::string& input) -> std::string {
        std::uint64_t value = 0;
        const auto* end = input.data() + input.size();
        const auto [ptr, ec] = std::from_chars(input.data(), end, value);
        if (input.empty() || ec != std::errc{} || ptr != end || value < min || value > max) {
          return "expected " + allowed + ", got " + input;
        }
        return {};
      },
      max == UINT64_MAX ? "UINT >= " + std::to_string(min)
                        : "UINT in [" + std::to_string(min) + " - " + std::to_string(max) + "]");
}

/// A finite number in [min, max]: nan and inf are refused whatever the bounds.
inline CLI::Validator number_in(double min, double max) {
  const auto text = [](double v) {
    char out[32];
    std::snprintf(out, sizeof out, "%g", v);
    return std::string(out);
  };
  const auto allowed = "a number from " + text(min) + " to " + text(max);
  return CLI::Validator(
      [min, max, allowed](std::string& input) -> std::string {
        double value = 0;
        const auto* end = input.data() + input.size();
        const auto [ptr, ec] = std::from_chars(input.data(), end, value);
        if (input.empty() || ec != std::errc{} || ptr != end || !std::isfinite(value) ||
            value < min || value > max) {
          return "expected " + allowed + ", got " + input;
        }
        return {};
      },
      "FLOAT in [" + text(min) + " - " + text(max) + "]");
}

enum class PortZero : bool { Refused, Allowed };

/// Why `endpoint` is not HOST:PORT (host a name, an IPv4 literal or [IPv6], port 0 or 1 to
/// 65535 as `zero` says), or empty when it is.
inline std::string endpoint_problem(std::string_view endpoint, PortZero zero) {
  const auto colon = endpoint.rfind(':');
  const auto host = endpoint.substr(0, colon == std::string_view::npos ? 0 : colon);
  const auto port_text =
      colon == std::string_view::npos ? std::string_view() : endpoint.substr(colon + 1);
  unsigned port = 0;
  const auto* end = port_text.data() + port_text.size();
  const auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  const unsigned lowest = zero == PortZero::Allowed ? 0 : 1;
  if (host.empty() || port_text.empty() || ec != std::errc{} || ptr != end || port < lowest ||
      port > 65535) {
    return "expected HOST:PORT with a port from " + std::to_string(lowest) + " to 65535, got " +
           std::string(endpoint);
  }
  return {};
}

/// HOST:PORT, or (`list`) several of them separated by commas.
inline CLI::Validator endpoints(PortZero zero, bool list = false) {
  return CLI::Validator(
      [zero, list](std::string& input) -> std::string {
        const std::string_view all = input;
        for (std::size_t begin = 0;;) {
          const auto comma = list ? all.find(',', begin) : std::string_view::npos;
          if (auto why = endpoint_problem(all.substr(begin, comma - begin), zero); !why.empty()) {
            return why;
          }
          if (comma == std::string_view::npos) return {};
          begin = comma + 1;
        }
      },
      list ? "HOST:PORT,..." : "HOST:PORT");
}

}  // namespace tailgate::tools
