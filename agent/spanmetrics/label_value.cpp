#include "spanmetrics/label_value.hpp"

#include <cstdint>
#include <optional>

#include "scrub/url_credentials.hpp"
#include "scrub/utf8.hpp"

namespace tailgate::spanmetrics {
namespace {

constexpr std::string_view kReplacement = scrub::kReplacementCharacter;
using scrub::utf8_length;

bool plain_ascii(std::string_view s) noexcept {
  for (const char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::size_t escaped_width(char c) noexcept {
  return c == '\\' || c == '"' || c == '\n' ? 2 : 1;
}

/// Whether `s` is valid UTF-8 of at most `max_bytes` once escaped: then it is its own label value.
bool fits_as_is(std::string_view s, std::size_t max_bytes) noexcept {
  std::size_t width = 0;
  while (!s.empty()) {
    const auto n = utf8_length(s);
    if (n == 0) return false;
    width += n == 1 ? escaped_width(s[0]) : n;
    if (width > max_bytes) return false;
    s.remove_prefix(n);
  }
  return true;
}

}  // namespace

LabelValue label_value(std::string_view raw, std::size_t max_bytes, std::string& scratch) {
  // Short ASCII fits whatever it escapes to: the per-span path stays a scan of a few bytes.
  if (2 * raw.size() <= max_bytes && plain_ascii(raw) && !scrub::may_hold_url_credentials(raw))
    return {raw, false};
  const auto redacted = scrub::without_url_credentials(raw);
  if (!redacted && fits_as_is(raw, max_bytes)) return {raw, false};  // e.g. short non-ASCII
  std::string_view rest = redacted ? std::string_view(*redacted) : raw;
  std::string out;
  std::size_t width = 0;        // of `out` as written on /metrics
  std::size_t before_mark = 0;  // bytes of `out` that leave room for the mark
  while (!rest.empty()) {
    const auto n = utf8_length(rest);
    const auto piece = n > 0 ? rest.substr(0, n) : kReplacement;
    width += n == 1 ? escaped_width(rest[0]) : piece.size();
    if (width > max_bytes) {
      out.resize(before_mark);
      out += kCutMark;
      scratch = std::move(out);
      return {scratch, true};
    }
    out += piece;
    if (width + kCutMark.size() <= max_bytes) before_mark = out.size();
    rest.remove_prefix(n > 0 ? n : 1);
  }
  scratch = std::move(out);
  return {scratch, false};
}

}  // namespace tailgate::spanmetrics
