#pragma once
// Keeps traces with any span whose status is ERROR: the trace that explains a bad fill.

#include "config/config.hpp"
#include "sampling/policy.hpp"

namespace tailgate::sampling {

class ErrorPolicy final : public Policy {
 public:
  using Config = config::ErrorPolicyConfig;
  explicit ErrorPolicy(const Config& config);
  [[nodiscard]] std::optional<double> keep_probability(
      const model::Trace& trace) const noexcept override;

 private:
  double probability_;
};

}  // namespace tailgate::sampling
