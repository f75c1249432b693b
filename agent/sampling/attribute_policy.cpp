#include "sampling/attribute_policy.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <type_traits>
#include <variant>

#include "wire/decode.hpp"

namespace tailgate::sampling {
namespace {

// The value as YAML would write it, so the configured text compares as a user expects; an array
// matches when one of its elements does.
bool value_equals(const wire::ValueRef& value, const std::string& text) {
  if (const auto* array = std::get_if<wire::ArrayRef>(&value)) {
    return std::visit(
        [&text](const auto& elements) {
          return std::any_of(elements.begin(), elements.end(), [&text](const auto& e) {
            using E = typename std::decay_t<decltype(elements)>::value_type;
            if constexpr (std::is_same_v<E, std::string>)
              return value_equals(std::string_view(e), text);
            else
              return value_equals(static_cast<E>(e), text);
          });
        },
        array->value());
  }
  if (const auto* s = std::get_if<std::string_view>(&value)) return *s == text;
  if (const auto* b = std::get_if<bool>(&value)) return text == (*b ? "true" : "false");
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    std::int64_t parsed = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    return ec == std::errc{} && end == text.data() + text.size() && parsed == *i;
  }
  double parsed = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  return ec == std::errc{} && end == text.data() + text.size() && parsed == std::get<double>(value);
}

}  // namespace

AttributePolicy::AttributePolicy(const Config& config)
    : key_(config.key), values_(config.values), probability_(config.probability) {
  assert(!key_.empty() && !values_.empty());
}

std::optional<double> AttributePolicy::keep_probability(const model::Trace& trace) const noexcept {
  const bool matched = model::any_span(trace, [this](const model::SpanView& span) {
    wire::AttributeCursor attributes(span);  // packed (ring, UDP) or decoded alike
    while (const auto a = attributes.next()) {
      if (a->key == key_ && std::any_of(values_.begin(), values_.end(), [&a](const auto& v) {
            return value_equals(a->value, v);
          })) {
        return true;
      }
    }
    return false;
  });
  if (!matched) return std::nullopt;
  return probability_;
}

}  // namespace tailgate::sampling
