#pragma once
// The pieces of the Jaeger → span model mapping (jaeger_thrift.hpp's header comment) that both
// Jaeger decoders use, so that they cannot drift apart: ids from Jaeger's signed 64-bit halves,
// microseconds to saturated nanoseconds, and span.kind's words. Pure.

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>

#include "model/span.hpp"

namespace tailgate::receivers::jaeger {

inline void put_be64(std::uint64_t v, std::uint8_t* out) noexcept {
  static_assert(std::endian::native == std::endian::little, "swaps to big-endian");
  v = __builtin_bswap64(v);
  std::memcpy(out, &v, sizeof v);
}

[[nodiscard]] inline model::TraceId trace_id_of(std::int64_t high, std::int64_t low) noexcept {
  model::TraceId id{};
  put_be64(static_cast<std::uint64_t>(high), id.data());
  put_be64(static_cast<std::uint64_t>(low), id.data() + 8);
  return id;
}

[[nodiscard]] inline model::SpanId span_id_of(std::int64_t v) noexcept {
  model::SpanId id{};
  put_be64(static_cast<std::uint64_t>(v), id.data());
  return id;
}

/// Jaeger's microseconds as nanoseconds: 0 before the epoch, saturated past 2^64.
[[nodiscard]] inline std::uint64_t micros_to_nanos(std::int64_t micros) noexcept {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max() / 1000;
  if (micros <= 0) return 0;
  const auto m = static_cast<std::uint64_t>(micros);
  return m > kMax ? kMax * 1000 : m * 1000;
}

/// Start and end of a span from Jaeger's start time and duration, the end saturated.
inline void set_times(std::int64_t start_micros, std::int64_t duration_micros,
                      model::Span& span) noexcept {
  span.start_unix_ns = micros_to_nanos(start_micros);
  const auto duration = micros_to_nanos(duration_micros);
  span.end_unix_ns = duration > std::numeric_limits<std::uint64_t>::max() - span.start_unix_ns
                         ? std::numeric_limits<std::uint64_t>::max()
                         : span.start_unix_ns + duration;
}

/// The kind a span.kind tag's text names; Unspecified for any other text.
[[nodiscard]] inline model::SpanKind kind_of(std::string_view v) noexcept {
  return v == "client"     ? model::SpanKind::Client
         : v == "server"   ? model::SpanKind::Server
         : v == "producer" ? model::SpanKind::Producer
         : v == "consumer" ? model::SpanKind::Consumer
         : v == "internal" ? model::SpanKind::Internal
                           : model::SpanKind::Unspecified;
}

/// A server or consumer span with a parent is the entry into this process (the parent is remote).
[[nodiscard]] inline bool parent_is_remote(const model::Span& span) noexcept {
  return !span.is_root() &&
         (span.kind == model::SpanKind::Server || span.kind == model::SpanKind::Consumer);
}

/// The value of a reference's opentracing.ref_type attribute.
[[nodiscard]] inline std::string_view ref_type_name(bool follows_from) noexcept {
  return follows_from ? "follows_from" : "child_of";
}

}  // namespace tailgate::receivers::jaeger
