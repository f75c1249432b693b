#pragma once
// JSON log lines: the agent logs `event=<name> key=value key="text" ...` (logfmt), and with
// log.format json each pair becomes a field of its own, so that Loki, Elasticsearch or jq select
// on `event` and `error` without parsing a string inside a string. Pure functions; any thread.

#include <string>
#include <string_view>

namespace tailgate::telemetry {

/// The level names of the config (log.level), used in every log line: spdlog's own say
/// "warning" and "critical". Critical (the agent cannot start) is an error.
[[nodiscard]] std::string_view level_name(int spdlog_level) noexcept;

/// Appends `text` as the body of a JSON string (no quotes): ", \, control characters and the line
/// separators U+0085, U+2028, U+2029 escaped; bytes that are not UTF-8 become U+FFFD.
void append_json_escaped(std::string_view text, std::string& out);

/// Appends the fields of a logfmt message as JSON members, without braces: `"event":"x","n":3`.
/// Integers and decimals become numbers, true/false booleans, everything else strings; a quoted
/// value ends at its first quote not escaped, and its escapes (log_escape.hpp) are read back, so
/// the JSON string is the value that was logged. A message that is not logfmt (a quote that does
/// not end the message or a pair, say) becomes `"msg":"..."`.
/// Keys named time or level (the line's own) are written as field.time, field.level.
void append_logfmt_as_json(std::string_view message, std::string& out);

}  // namespace tailgate::telemetry
