#include "scrub/json_secrets.hpp"

#include <nlohmann/json.hpp>

#include "scrub/json_nesting.hpp"

namespace tailgate::scrub {
namespace {

using Json = nlohmann::json;

constexpr int kMaxNesting = 64;

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
  if (json_nesting(text, kMaxNesting) > kMaxNesting) return 0;
  auto parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return 0;
  const auto n = redact(parsed, how);
  if (n != 0) text = parsed.dump(-1, ' ', false, Json::error_handler_t::replace);
  return n;
}

}  // namespace tailgate::scrub
