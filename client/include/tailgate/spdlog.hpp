#pragma once
// The current span's ids in every spdlog line, through two pattern flags:
//
//   #include <tailgate/spdlog.hpp>
//   spdlog::set_formatter(tailgate::log::pattern_formatter(
//       "%Y-%m-%d %H:%M:%S.%e %l [%&/%*] %v"));   // %& trace id, %* span id
//   spdlog::info("order filled");   // ... info [4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7]
//   ...
//
// The flags read the current span of the thread that formats the line: the logging thread for
// spdlog's usual (synchronous) loggers. An async logger formats on its own thread and would print
// empty ids; with one, put tailgate::current_context() in the message instead (tailgate/fmt.hpp).
// Header-only: it needs spdlog, libtailgate does not.

#include <array>
#include <memory>
#include <string>

#include <spdlog/pattern_formatter.h>

#include "tailgate/fmt.hpp"

namespace tailgate::log {

/// A pattern flag printing the current span's trace id (%&) or span id (%*); nothing outside a
/// span.
template <bool TraceId>
class IdFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const auto c = current_context();
    if (!c.valid()) return;
    std::array<char, TraceId ? 32 : 16> text{};
    std::string_view hex;
    if constexpr (TraceId) {
      hex = detail::hex(c.trace_id, text);
    } else {
      hex = detail::hex(c.span_id, text);
    }
    dest.append(hex.data(), hex.data() + hex.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<IdFlag>();
  }
};
using TraceIdFlag = IdFlag<true>;
using SpanIdFlag = IdFlag<false>;

/// A spdlog pattern formatter that knows %& (trace id) and %* (span id) besides spdlog's flags.
inline std::unique_ptr<spdlog::pattern_formatter> pattern_formatter(std::string pattern) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<TraceIdFlag>('&').add_flag<SpanIdFlag>('*').set_pattern(std::move(pattern));
  return formatter;
}

}  // namespace tailgate::log
