#pragma once
// Applies to every trace, at the current base probability: fixed, or following the spans/s
// budget (adaptive_rate.hpp). Holds no state of its own.

#include "config/config.hpp"
#include "sampling/adaptive_rate.hpp"
#include "sampling/policy.hpp"

namespace tailgate::sampling {

class BasePolicy final : public Policy {
 public:
  using Config = config::BasePolicyConfig;
  BasePolicy(const Config& config, const AdaptiveRate& rate);
  [[nodiscard]] std::optional<double> keep_probability(
      const model::Trace& trace) const noexcept override;

 private:
  const AdaptiveRate& rate_;
};

}  // namespace tailgate::sampling
