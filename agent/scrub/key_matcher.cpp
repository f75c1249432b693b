#include "scrub/key_matcher.hpp"

#include <algorithm>

#include "sampling/span_name_policy.hpp"  // glob_match

namespace tailgate::scrub {

std::string canonical_key(std::string_view key) {
  std::string out(key);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '.' || c == '-') c = '_';
  }
  return out;
}

KeyMatcher::KeyMatcher(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) patterns_.push_back(canonical_key(p));
}

bool KeyMatcher::matches(std::string_view key) const {
  if (patterns_.empty()) return false;
  const auto canonical = canonical_key(key);
  return std::any_of(patterns_.begin(), patterns_.end(),
                     [&](const std::string& p) { return sampling::glob_match(p, canonical); });
}

}  // namespace tailgate::scrub
