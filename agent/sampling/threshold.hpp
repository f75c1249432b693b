#pragma once
// Consistent keep/drop by trace id: the OpenTelemetry threshold method. A trace is kept at
// probability p when the low 56 bits of its id (its W3C "randomness") are at least the rejection
// threshold T = (1 - p) * 2^56. The decision depends on the id and p alone, so every agent in a
// fleet, and one agent across restarts, keeps the same traces; and a trace kept at 1% is also kept
// at 10%. Pure functions; any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "model/span.hpp"

namespace tailgate::sampling {

inline constexpr std::uint64_t kThresholdScale = std::uint64_t{1} << 56;

/// The low 56 bits of the trace id, read big-endian from its last 7 bytes.
[[nodiscard]] std::uint64_t randomness(const model::TraceId& id) noexcept;
/// T for probability p in [0, 1]: 0 keeps everything, 2^56 nothing.
[[nodiscard]] std::uint64_t rejection_threshold(double probability) noexcept;
[[nodiscard]] bool keep(const model::TraceId& id, double probability) noexcept;
/// T as OpenTelemetry's `th` value: 14 hex digits with trailing zeros removed ("0" for p = 1).
[[nodiscard]] std::string threshold_hex(double probability);
/// `tracestate` with `ot=th:<hex>` set, replacing an older th and keeping every other entry.
[[nodiscard]] std::string with_threshold(std::string_view tracestate, std::string_view th);

}  // namespace tailgate::sampling
