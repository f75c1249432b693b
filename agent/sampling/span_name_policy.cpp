#include "sampling/span_name_policy.hpp"

#include <cassert>

namespace tailgate::sampling {

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Iterative matching with one backtrack point: linear in practice, no recursion to overflow.
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

SpanNamePolicy::SpanNamePolicy(const Config& config)
    : patterns_(config.patterns), probability_(config.probability) {
  assert(!patterns_.empty() && probability_ >= 0.0 && probability_ <= 1.0);
}

std::optional<double> SpanNamePolicy::keep_probability(const model::Trace& trace) const noexcept {
  const bool matched = model::any_span(trace, [this](const model::SpanView& span) {
    for (const auto& pattern : patterns_) {
      if (glob_match(pattern, span.name())) return true;
    }
    return false;
  });
  if (!matched) return std::nullopt;
  return probability_;
}

}  // namespace tailgate::sampling
