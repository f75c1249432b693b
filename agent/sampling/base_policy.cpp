#include "sampling/base_policy.hpp"

namespace tailgate::sampling {

BasePolicy::BasePolicy(const Config& /*config: its probability seeds the AdaptiveRate*/,
                       const AdaptiveRate& rate)
    : rate_(rate) {}

std::optional<double> BasePolicy::keep_probability(const model::Trace& /*trace*/) const noexcept {
  return rate_.probability();
}

}  // namespace tailgate::sampling
