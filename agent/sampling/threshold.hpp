#pragma once
// Consistent keep/drop by trace id: the OpenTelemetry threshold method. A trace is kept at
// probability p when its randomness R (the explicit `ot=rv:` of its tracestate, else the low 56
// bits of its id) is at least the rejection threshold T = (1 - p) * 2^56, rounded as the
// specification's tracestate-probability-sampling does (4 significant hex digits, to nearest).
// The decision uses the very T that `ot=th:` records, so an exported span never contradicts its
// own tracestate. It depends on R and p alone, so every agent in a fleet, and one agent across
// restarts, keeps the same traces; and a trace kept at 1% is also kept at 10%. Pure functions;
// any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/span.hpp"
#include "model/trace.hpp"

namespace tailgate::sampling {

inline constexpr std::uint64_t kThresholdScale = std::uint64_t{1} << 56;

/// The low 56 bits of the trace id, read big-endian from its last 7 bytes.
[[nodiscard]] std::uint64_t randomness(const model::TraceId& id) noexcept;
/// `rv` of the tracestate's `ot` member: exactly 14 hex digits, else nothing.
[[nodiscard]] std::optional<std::uint64_t> explicit_randomness(
    std::string_view tracestate) noexcept;
/// `th` of the tracestate's `ot` member (1 to 14 hex digits, trailing zeros implied), else nothing.
[[nodiscard]] std::optional<std::uint64_t> tracestate_threshold(
    std::string_view tracestate) noexcept;
/// R for a trace: the first valid `ot=rv` among its spans (the root sets it and every child
/// inherits it), else the trace id's low 56 bits.
[[nodiscard]] std::uint64_t randomness(const model::Trace& trace) noexcept;
/// T for probability p in [0, 1]: 0 keeps everything, 2^56 nothing. p is rounded to 4
/// significant hex digits (more for p near 0, as the specification's precision adjustment says).
[[nodiscard]] std::uint64_t rejection_threshold(double probability) noexcept;
[[nodiscard]] bool keep(const model::TraceId& id, double probability) noexcept;
[[nodiscard]] bool keep(const model::Trace& trace, double probability) noexcept;
/// T as OpenTelemetry's `th` value: hex with trailing zeros removed ("0" for p = 1).
[[nodiscard]] std::string threshold_hex(std::uint64_t threshold);
[[nodiscard]] std::string threshold_hex(double probability);
/// `tracestate` with `ot=th:<hex>` set, replacing an older th and keeping every other entry.
[[nodiscard]] std::string with_threshold(std::string_view tracestate, std::string_view th);

}  // namespace tailgate::sampling
