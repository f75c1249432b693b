#include "sampling/error_policy.hpp"

#include <cassert>

namespace tailgate::sampling {

ErrorPolicy::ErrorPolicy(const Config& config) : probability_(config.probability) {
  assert(probability_ >= 0.0 && probability_ <= 1.0);
}

std::optional<double> ErrorPolicy::keep_probability(const model::Trace& trace) const noexcept {
  if (!trace.has_error) return std::nullopt;
  return probability_;
}

}  // namespace tailgate::sampling
