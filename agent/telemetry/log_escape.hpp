#pragma once
// Text from outside in the agent's log lines. Lines are logfmt (`event=x key=value key="text"`),
// read by people, by journald and by log_json.hpp, and a value a sender controls (a Thrift method
// name, a service name, a backend's error text, a segment's file name) must stay one value on one
// line (both found by an outside attack):
//  - in a "quoted" value, `"` and `\` are escaped with a backslash: a quote cannot end the value
//    early and add fields of the sender's making (`x" event=admin_login user="root`);
//  - everywhere, control characters, the line separators U+0085, U+2028 and U+2029 (log viewers,
//    journald consumers and browsers break lines on them) and bytes that are not UTF-8 become
//    escapes: \n \r \t \xHH \u2028.
// log_json.hpp reads the escapes of quoted values back. Pure functions; any thread.

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace tailgate::telemetry {

/// A value in a logfmt line. Only as an argument of the log call itself
/// (`spdlog::warn("event=x error={}", telemetry::quoted(e.what()))`): it refers to the text.
/// Named with its namespace: for a std::string, a bare `quoted` would also find std::quoted.
struct LogValue {
  std::string_view text;
  bool always_quoted = true;
};
/// Written in quotes, whatever it holds.
[[nodiscard]] constexpr LogValue quoted(std::string_view text) noexcept {
  return {text, true};
}
/// Written bare when nothing in it needs quoting (a path, a name), else in quotes.
[[nodiscard]] constexpr LogValue bare_or_quoted(std::string_view text) noexcept {
  return {text, false};
}

/// The length of the well-formed UTF-8 sequence at the start of `s` (Unicode table 3-7), or 0.
[[nodiscard]] std::size_t utf8_length(std::string_view s) noexcept;

/// The escape of one line separator (U+0085, U+2028, U+2029: `\u2028`) at the start of the
/// well-formed UTF-8 sequence `s`, or empty when it is another character.
[[nodiscard]] std::string_view line_separator_escape(std::string_view s) noexcept;

/// Appends `text` with control characters, line separators and bytes that are not UTF-8 escaped;
/// with `in_quotes`, `"` and `\` too (the body of a quoted value, without its quotes).
void append_log_escaped(std::string_view text, bool in_quotes, std::string& out);

/// `"text"` escaped; or, unless always_quoted, `text` itself when it is not empty and nothing in
/// it is escaped nor a space.
[[nodiscard]] std::string format_log_value(LogValue value);

}  // namespace tailgate::telemetry

template <>
struct fmt::formatter<tailgate::telemetry::LogValue> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <typename FormatContext>
  auto format(tailgate::telemetry::LogValue value, FormatContext& ctx) const {
    const auto text = tailgate::telemetry::format_log_value(value);
    return std::copy(text.begin(), text.end(), ctx.out());
  }
};
