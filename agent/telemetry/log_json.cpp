#include "telemetry/log_json.hpp"

#include <fmt/format.h>

#include <optional>
#include <vector>

#include <spdlog/common.h>

namespace tailgate::telemetry {
namespace {

bool is_key_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// The length of a `key=` at the start of `s`, or 0.
std::size_t key_length(std::string_view s) noexcept {
  std::size_t n = 0;
  while (n < s.size() && is_key_char(s[n])) ++n;
  return n > 0 && n < s.size() && s[n] == '=' ? n : 0;
}

// A JSON number as the agent prints them: -12, 0.25; not 007 (an id), nor too long to be exact.
bool is_number(std::string_view v) noexcept {
  if (v.starts_with('-')) v.remove_prefix(1);
  const auto dot = v.find('.');
  const auto integer = v.substr(0, dot);
  if (integer.empty() || integer.size() > 15 || (integer.size() > 1 && integer[0] == '0'))
    return false;
  for (const char c : integer)
    if (c < '0' || c > '9') return false;
  if (dot == std::string_view::npos) return true;
  const auto fraction = v.substr(dot + 1);
  if (fraction.empty()) return false;
  for (const char c : fraction)
    if (c < '0' || c > '9') return false;
  return true;
}

struct Field {
  std::string_view key, value;
  bool quoted = false;  ///< "..." in the message: a string, whatever it looks like
};
using Fields = std::vector<Field>;

// key=value pairs separated by single spaces; nothing if the message is not entirely logfmt.
std::optional<Fields> parse(std::string_view m) {
  Fields fields;
  while (!m.empty()) {
    const auto k = key_length(m);
    if (k == 0) return std::nullopt;
    const auto key = m.substr(0, k);
    m.remove_prefix(k + 1);
    std::size_t end = 0;
    if (m.starts_with('"')) {
      // The closing quote: one followed by the end, or by a space and the next key=.
      for (end = 1;; ++end) {
        end = m.find('"', end);
        if (end == std::string_view::npos) return std::nullopt;
        if (end + 1 == m.size() || (m[end + 1] == ' ' && key_length(m.substr(end + 2)) > 0)) break;
      }
      fields.push_back({key, m.substr(1, end - 1), true});
      m.remove_prefix(end + 1);
    } else {
      end = m.find(' ');
      fields.push_back({key, m.substr(0, end), false});
      m.remove_prefix(end == std::string_view::npos ? m.size() : end);
    }
    if (!m.empty()) {
      if (m[0] != ' ') return std::nullopt;
      m.remove_prefix(1);
    }
  }
  if (fields.empty()) return std::nullopt;
  return fields;
}

// The length of the well-formed UTF-8 sequence at the start of `s` (Unicode table 3-7), or 0.
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

}  // namespace

std::string_view level_name(int spdlog_level) noexcept {
  switch (static_cast<spdlog::level::level_enum>(spdlog_level)) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
    case spdlog::level::critical:
      return "error";
    default:
      return "off";
  }
}

void append_json_escaped(std::string_view text, std::string& out) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Bytes that are not UTF-8 (a producer's service name...) would make the whole line
      // invalid JSON for the log shipper: each becomes U+FFFD.
      const auto n = utf8_length(text.substr(i));
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out += text.substr(i, n);
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        else
          out += c;
    }
  }
}

void append_logfmt_as_json(std::string_view message, std::string& out) {
  const auto fields = parse(message);
  if (!fields) {
    out += "\"msg\":\"";
    append_json_escaped(message, out);
    out += '"';
    return;
  }
  bool first = true;
  for (const auto& [key, value, quoted] : *fields) {
    if (!first) out += ',';
    first = false;
    out += '"';
    if (key == "time" || key == "level" || key == "msg") out += "field.";
    append_json_escaped(key, out);
    out += "\":";
    if (!quoted && (is_number(value) || value == "true" || value == "false")) {
      out += value;
    } else {
      out += '"';
      append_json_escaped(value, out);
      out += '"';
    }
  }
}

}  // namespace tailgate::telemetry
