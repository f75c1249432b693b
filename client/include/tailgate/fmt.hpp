#pragma once
// Trace and span ids in fmt (and so spdlog) messages:
//
//   #include <tailgate/fmt.hpp>
//   spdlog::info("order {} filled [{}]", id, tailgate::current_context());
//     -> order 42 filled [trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7]
//
// Format specs: {} both ids as above, {:t} the trace id, {:s} the span id, {:p} the traceparent.
// Ids are lowercase hex, as Jaeger shows them; an invalid context (outside any span) prints
// empty ids. Header-only: it needs fmt, libtailgate does not.

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "tailgate/tailgate.hpp"

namespace tailgate::detail {
template <std::size_t N>
std::string_view hex(const std::array<std::uint8_t, N>& bytes, std::array<char, 2 * N>& out) {
  constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return {out.data(), out.size()};
}
}  // namespace tailgate::detail

template <>
struct fmt::formatter<tailgate::SpanContext> {
  char presentation = 'c';  // c: both ids, t: trace id, s: span id, p: traceparent

  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && (*it == 't' || *it == 's' || *it == 'p')) presentation = *it++;
    if (it != ctx.end() && *it != '}') throw fmt::format_error("tailgate::SpanContext: {:t|s|p}");
    return it;
  }

  template <typename FormatContext>
  auto format(const tailgate::SpanContext& c, FormatContext& ctx) const -> decltype(ctx.out()) {
    std::array<char, 32> trace{};
    std::array<char, 16> span{};
    const bool valid = c.valid();
    const auto trace_hex = valid ? tailgate::detail::hex(c.trace_id, trace) : std::string_view();
    const auto span_hex = valid ? tailgate::detail::hex(c.span_id, span) : std::string_view();
    switch (presentation) {
      case 't':
        return fmt::format_to(ctx.out(), "{}", trace_hex);
      case 's':
        return fmt::format_to(ctx.out(), "{}", span_hex);
      case 'p':
        return valid ? fmt::format_to(ctx.out(), "00-{}-{}-{:02x}", trace_hex, span_hex,
                                      c.trace_flags)
                     : ctx.out();
      default:
        return fmt::format_to(ctx.out(), "trace_id={} span_id={}", trace_hex, span_hex);
    }
  }
};
