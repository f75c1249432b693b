#include "telemetry/log_json.hpp"

#include <fmt/format.h>

#include <optional>
#include <vector>

#include <spdlog/common.h>

#include "telemetry/log_escape.hpp"

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

// The value of hex digits, or -1.
int hex_value(std::string_view digits) noexcept {
  int v = 0;
  for (const char c : digits) {
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

void append_utf8(int code_point, std::string& out) {
  const auto byte = [&](int b) { out += static_cast<char>(b); };
  if (code_point < 0x80) {
    byte(code_point);
  } else if (code_point < 0x800) {
    byte(0xC0 | code_point >> 6);
    byte(0x80 | (code_point & 0x3F));
  } else {
    byte(0xE0 | code_point >> 12);
    byte(0x80 | (code_point >> 6 & 0x3F));
    byte(0x80 | (code_point & 0x3F));
  }
}

// The escape at the start of `s` (after its backslash) as the text it stands for, appended to
// `out`; returns the characters it took. An escape log_escape.hpp does not write is kept as is.
std::size_t append_unescaped(std::string_view s, std::string& out) {
  if (s.empty()) {
    out += '\\';
    return 0;
  }
  switch (s[0]) {
    case '"':
    case '\\':
      out += s[0];
      return 1;
    case 'n':
      out += '\n';
      return 1;
    case 'r':
      out += '\r';
      return 1;
    case 't':
      out += '\t';
      return 1;
    case 'x':
      if (const auto v = hex_value(s.substr(1, 2)); s.size() >= 3 && v >= 0) {
        out += static_cast<char>(v);
        return 3;
      }
      break;
    case 'u':
      if (const auto v = hex_value(s.substr(1, 4)); s.size() >= 5 && v >= 0) {
        append_utf8(v, out);
        return 5;
      }
      break;
    default:
      break;
  }
  out += '\\';
  return 0;
}

// The quoted value at the start of `m` ("..." with escapes) read back, `m` left after it; nothing
// when it has no closing quote.
std::optional<std::string> read_quoted(std::string_view& m) {
  std::string value;
  for (std::size_t i = 1; i < m.size(); ++i) {
    if (m[i] == '"') {
      m.remove_prefix(i + 1);
      return value;
    }
    if (m[i] == '\\')
      i += append_unescaped(m.substr(i + 1), value);
    else
      value += m[i];
  }
  return std::nullopt;
}

struct Field {
  std::string_view key;
  std::string value;
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
    if (m.starts_with('"')) {
      // Up to the first quote not escaped (log_escape.hpp); it must end the message or a pair.
      auto value = read_quoted(m);
      if (!value) return std::nullopt;
      fields.push_back({key, std::move(*value), true});
    } else {
      const auto end = m.find(' ');
      fields.push_back({key, std::string(m.substr(0, end)), false});
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
      // U+2028, U+2029 and U+0085 escaped too: JavaScript and log viewers end lines there.
      const auto n = utf8_length(text.substr(i));
      if (n == 0) {
        out += "\\ufffd";
      } else {
        const auto separator = line_separator_escape(text.substr(i, n));
        out += separator.empty() ? text.substr(i, n) : separator;
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
