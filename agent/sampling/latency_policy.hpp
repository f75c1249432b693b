#pragma once
// Keeps traces whose duration (earliest span start to latest span end) reaches a threshold. A
// trace of many short spans spread over time counts by its whole extent, not its longest span.

#include <cstdint>

#include "config/config.hpp"
#include "sampling/policy.hpp"

namespace tailgate::sampling {

class LatencyPolicy final : public Policy {
 public:
  using Config = config::LatencyPolicyConfig;
  explicit LatencyPolicy(const Config& config);
  [[nodiscard]] std::optional<double> keep_probability(
      const model::Trace& trace) const noexcept override;
  [[nodiscard]] std::uint64_t threshold_ns() const noexcept { return threshold_ns_; }

 private:
  std::uint64_t threshold_ns_;
  double probability_;
};

}  // namespace tailgate::sampling
