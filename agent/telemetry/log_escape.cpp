#include "telemetry/log_escape.hpp"

namespace tailgate::telemetry {

std::size_t utf8_length(std::string_view s) noexcept {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto c0 = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    n = 2;
  } else if (c0 >= 0xE0 && c0 <= 0xEF) {
    n = 3;
    if (c0 == 0xE0) lo = 0xA0;
    if (c0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    n = 4;
    if (c0 == 0xF0) lo = 0x90;
    if (c0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i)
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  return n;
}

std::string_view line_separator_escape(std::string_view s) noexcept {
  if (s.starts_with("\xC2\x85")) return "\\u0085";
  if (s.starts_with("\xE2\x80\xA8")) return "\\u2028";
  if (s.starts_with("\xE2\x80\xA9")) return "\\u2029";
  return {};
}

void append_log_escaped(std::string_view text, bool in_quotes, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto hex_escape = [&](unsigned char u) { out += {'\\', 'x', kHex[u >> 4], kHex[u & 0xF]}; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const auto n = utf8_length(text.substr(i));
      if (n == 0) {
        hex_escape(u);
        continue;
      }
      const auto sequence = text.substr(i, n);
      const auto separator = line_separator_escape(sequence);
      out += separator.empty() ? sequence : separator;
      i += n - 1;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      hex_escape(u);
    } else if (in_quotes && (c == '"' || c == '\\')) {
      out += {'\\', c};
    } else {
      out += c;
    }
  }
}

std::string format_log_value(LogValue value) {
  std::string out = "\"";
  append_log_escaped(value.text, true, out);
  // Nothing escaped (the same length) and no space: bare reads the same.
  if (!value.always_quoted && !value.text.empty() && out.size() == value.text.size() + 1 &&
      value.text.find(' ') == std::string_view::npos) {
    return std::string(value.text);
  }
  out += '"';
  return out;
}

}  // namespace tailgate::telemetry
