#include "scrub/json_secrets.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace tailgate::scrub {
namespace {

using Json = nlohmann::json;

constexpr int kMaxNesting = 64;

// The deepest nesting of objects and arrays (strings skipped), stopping once past `limit`:
// checked before parsing, as the JSON library's recursion would let a value of a million '['
// overflow the pipeline thread's stack.
int nesting(std::string_view text, int limit) noexcept {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size() && deepest <= limit; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

std::string text_of(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::size_t redact(Json& node, const JsonRedaction& how) {
  std::size_t n = 0;
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end();) {
      if (how.secret(it.key())) {
        ++n;
        if (how.remove) {
          it = node.erase(it);
          continue;
        }
        it.value() = how.replacement(text_of(it.value()));
      } else {
        n += redact(it.value(), how);
      }
      ++it;
    }
  } else if (node.is_array()) {
    for (auto& element : node) n += redact(element, how);
  }
  return n;
}

}  // namespace

std::size_t redact_json_secrets(std::string& text, const JsonRedaction& how) {
  if (text.empty() || (text.front() != '{' && text.front() != '[')) return 0;
  if (nesting(text, kMaxNesting) > kMaxNesting) return 0;
  auto parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return 0;
  const auto n = redact(parsed, how);
  if (n != 0) text = parsed.dump(-1, ' ', false, Json::error_handler_t::replace);
  return n;
}

}  // namespace tailgate::scrub
