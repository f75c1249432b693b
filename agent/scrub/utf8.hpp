#pragma once
// UTF-8 checks for text that leaves the agent. OTLP's string fields must be valid UTF-8: a
// backend's protobuf refuses a whole request over one bad byte, so one producer's bad name would
// cost every other producer's spans in the batch. Used by the scrubber and span metrics.

#include <cstddef>
#include <string>
#include <string_view>

namespace tailgate::scrub {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

/// Bytes of the UTF-8 character `s` starts with, or 0 if it does not start with one (a stray
/// continuation byte, a truncated, overlong or surrogate sequence, past U+10FFFF). `s` not empty.
[[nodiscard]] std::size_t utf8_length(std::string_view s) noexcept;

/// Replaces each byte that does not begin a valid UTF-8 character by U+FFFD; false when `text`
/// was valid already (then it is left untouched, without a copy).
bool make_valid_utf8(std::string& text);

}  // namespace tailgate::scrub
