#pragma once
// A span's text (service.name, span name, a dimension's value) as a label value on /metrics:
// bounded, valid UTF-8 and without URL passwords, whatever a producer sends. Without the bound a
// 1 MiB span name became a 1 MiB label, kept per series and written on every line of it.

#include <cstddef>
#include <string>
#include <string_view>

namespace tailgate::spanmetrics {

/// The truncation mark a cut label value ends in, "…" (as the scrubber's limits).
inline constexpr std::string_view kCutMark = "\xE2\x80\xA6";

struct LabelValue {
  std::string_view text;
  bool cut = false;  ///< longer than the bound: cut and marked
};

/// `raw` as a label value: at most `max_bytes` bytes once escaped for the exposition (\\, \" and
/// \n count two), cut at a UTF-8 character boundary and ended by kCutMark if longer; bytes that
/// are not UTF-8 become U+FFFD (a scraper refuses the exposition otherwise); URL passwords are
/// redacted. Returns `raw` itself when it already is such a value (the usual case: no copy),
/// else a view of `scratch`, which it overwrites. `max_bytes` must leave room for the mark.
[[nodiscard]] LabelValue label_value(std::string_view raw, std::size_t max_bytes,
                                     std::string& scratch);

}  // namespace tailgate::spanmetrics
