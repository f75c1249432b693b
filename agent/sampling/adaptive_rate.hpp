#pragma once
// The base policy's probability. Fixed when no budget is set; with target_spans_per_second it
// follows the traffic: each tick it smooths the offered rate of traces only the base policy
// matched, and the rate of spans other policies kept, and sets
//   p = (target - kept by others) / offered to the base policy,
// so that errors, slow and critical traces are kept on top and the rest fills what is left.
// Owned by the Sampler on the pipeline thread; the base policy reads it (const).

namespace tailgate::sampling {

class AdaptiveRate final {
 public:
  AdaptiveRate(double initial_probability, double target_spans_per_second);

  [[nodiscard]] double probability() const noexcept { return probability_; }
  [[nodiscard]] bool adaptive() const noexcept { return target_ > 0; }

  /// One interval's observations; `seconds` is its length.
  void update(double offered_base_spans, double kept_other_spans, double seconds) noexcept;
  /// A reload: new start value and budget, smoothing restarted.
  void reset(double initial_probability, double target_spans_per_second) noexcept;

  static constexpr double kMinProbability = 1e-6;
  static constexpr double kSmoothing = 0.3;  ///< weight of the newest interval (settles in ~10)

 private:
  double probability_;
  double target_;
  double offered_rate_ = 0;
  double other_rate_ = 0;
  bool primed_ = false;
};

}  // namespace tailgate::sampling
