#include "sampling/latency_policy.hpp"

#include <cassert>
#include <chrono>

namespace tailgate::sampling {

LatencyPolicy::LatencyPolicy(const Config& config)
    : threshold_ns_(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(config.threshold).count())),
      probability_(config.probability) {
  assert(threshold_ns_ > 0 && probability_ >= 0.0 && probability_ <= 1.0);
}

std::optional<double> LatencyPolicy::keep_probability(const model::Trace& trace) const noexcept {
  if (trace.duration_ns < threshold_ns_) return std::nullopt;
  return probability_;
}

}  // namespace tailgate::sampling
