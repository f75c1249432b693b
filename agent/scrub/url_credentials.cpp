#include "scrub/url_credentials.hpp"

namespace tailgate::scrub {
namespace {

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
// Ends a URL written inside other text: whitespace, quotes, brackets.
bool ends_url(char c) noexcept {
  return is_space(c) || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`';
}

/// Whether the text before "://" at `sep` ends in a scheme (RFC 3986: ALPHA *( ALPHA / DIGIT /
/// "+" / "-" / "." )).
bool scheme_before(std::string_view text, std::size_t sep) noexcept {
  std::size_t i = sep;
  while (i > 0) {
    const char c = text[i - 1];
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) break;
    --i;
  }
  return i < sep && is_alpha(text[i]);
}

struct Range {
  std::size_t begin = 0;
  std::size_t end = 0;
};

/// The password of the URL whose authority starts at `start`, if it has one. The authority ends
/// at '/', '?' or '#' (RFC 3986) and its last '@' ends the userinfo. Passwords are often written
/// with those characters unescaped (p/ss, p#ss): when the authority has no '@' and what follows
/// its ':' is not a port, the userinfo runs to the next '@' of the URL.
std::optional<Range> password_at(std::string_view text, std::size_t start) noexcept {
  std::size_t url_end = start;
  while (url_end < text.size() && !ends_url(text[url_end])) ++url_end;
  const auto url = text.substr(start, url_end - start);
  const auto authority = url.substr(0, std::min(url.find_first_of("/?#"), url.size()));
  auto at = authority.rfind('@');
  const auto colon = url.find(':');
  if (colon == std::string_view::npos || colon >= authority.size()) return std::nullopt;
  if (at == std::string_view::npos) {
    const auto after = authority.substr(colon + 1);
    bool port = true;
    for (const char c : after) port = port && is_digit(c);
    if (port) return std::nullopt;  // host:port/path, no userinfo
    at = url.find('@', colon);
    if (at == std::string_view::npos) return std::nullopt;
  } else if (colon > at) {
    return std::nullopt;  // user@host:port
  }
  if (at == colon + 1) return std::nullopt;  // empty password
  return Range{start + colon + 1, start + at};
}

}  // namespace

bool may_hold_url_credentials(std::string_view text) noexcept {
  return text.find('@') != std::string_view::npos && text.find("://") != std::string_view::npos;
}

std::size_t redact_url_credentials(std::string& text) {
  if (!may_hold_url_credentials(text)) return 0;
  std::size_t replaced = 0;
  for (auto sep = text.find("://"); sep != std::string::npos; sep = text.find("://", sep + 3)) {
    if (!scheme_before(text, sep)) continue;
    const auto password = password_at(text, sep + 3);
    if (!password) continue;
    const auto length = password->end - password->begin;
    if (std::string_view(text).substr(password->begin, length) == kRedactedPassword) continue;
    text.replace(password->begin, length, kRedactedPassword);
    sep = password->begin;  // go on after the replacement
    ++replaced;
  }
  return replaced;
}

std::optional<std::string> without_url_credentials(std::string_view text) {
  if (!may_hold_url_credentials(text)) return std::nullopt;
  std::string out(text);
  if (redact_url_credentials(out) == 0) return std::nullopt;
  return out;
}

}  // namespace tailgate::scrub
