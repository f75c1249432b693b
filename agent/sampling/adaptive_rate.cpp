#include "sampling/adaptive_rate.hpp"

#include <algorithm>

namespace tailgate::sampling {

AdaptiveRate::AdaptiveRate(double initial_probability, double target_spans_per_second)
    : probability_(initial_probability), target_(target_spans_per_second) {}

void AdaptiveRate::reset(double initial_probability, double target_spans_per_second) noexcept {
  *this = AdaptiveRate(initial_probability, target_spans_per_second);
}

void AdaptiveRate::update(double offered_base_spans, double kept_other_spans,
                          double seconds) noexcept {
  if (!adaptive() || seconds <= 0) return;
  const double offered = offered_base_spans / seconds;
  const double other = kept_other_spans / seconds;
  if (!primed_) {
    offered_rate_ = offered;
    other_rate_ = other;
    primed_ = true;
  } else {
    offered_rate_ += kSmoothing * (offered - offered_rate_);
    other_rate_ += kSmoothing * (other - other_rate_);
  }
  if (offered_rate_ <= 0) return;  // nothing to steer by: keep the last probability
  const double budget = target_ - other_rate_;
  probability_ = std::clamp(budget / offered_rate_, kMinProbability, 1.0);
}

}  // namespace tailgate::sampling
