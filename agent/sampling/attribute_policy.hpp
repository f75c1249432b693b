#pragma once
// Keeps traces with a span attribute equal to one of a list of values, compared as text
// (`risk.passed: ["false"]` matches the bool false, `order.type: ["market"]` the string).

#include <string>
#include <vector>

#include "config/config.hpp"
#include "sampling/policy.hpp"

namespace tailgate::sampling {

class AttributePolicy final : public Policy {
 public:
  using Config = config::AttributePolicyConfig;
  explicit AttributePolicy(const Config& config);
  [[nodiscard]] std::optional<double> keep_probability(
      const model::Trace& trace) const noexcept override;

 private:
  std::string key_;
  std::vector<std::string> values_;
  double probability_;
};

}  // namespace tailgate::sampling
