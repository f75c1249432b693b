#include "scrub/value_text.hpp"

#include <charconv>
#include <cmath>
#include <string_view>
#include <type_traits>

#include "telemetry/log_json.hpp"

namespace tailgate::scrub {
namespace {

void append_json(std::string& out, std::string_view s) {
  out += '"';
  telemetry::append_json_escaped(s, out);
  out += '"';
}

void append_json(std::string& out, std::int64_t v) {
  out += std::to_string(v);
}

void append_json(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";  // JSON has no form for them
    return;
  }
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, v);  // shortest round trip
  out.append(text, ec == std::errc{} ? end : text);
}

void append_json(std::string& out, bool v) {
  out += v ? "true" : "false";
}

std::string json_text(const model::ArrayValue& array) {
  return std::visit(
      [](const auto& elements) {
        std::string out = "[";
        for (std::size_t i = 0; i < elements.size(); ++i) {
          if (i != 0) out += ',';
          using Element = typename std::decay_t<decltype(elements)>::value_type;
          if constexpr (std::is_same_v<Element, std::string>) {
            append_json(out, std::string_view(elements[i]));
          } else {
            append_json(out, static_cast<Element>(elements[i]));
          }
        }
        out += ']';
        return out;
      },
      array);
}

}  // namespace

std::string to_text(const model::AttributeValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>)
          return v;
        else if constexpr (std::is_same_v<T, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, model::ArrayValue>)
          return json_text(v);
        else
          return std::to_string(v);
      },
      value);
}

}  // namespace tailgate::scrub
