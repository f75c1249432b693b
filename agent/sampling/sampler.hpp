#pragma once
// The sampling decision for one trace: every policy says with what probability it would keep the
// trace, the highest wins, and the threshold method turns that probability into keep or drop by
// trace id, once. The winner's name and probability are recorded on kept spans
// (sampling.policy, sampling.probability, and ot=th in the tracestate), so a backend can
// re-weight counts. Owns the adaptive base rate. Owned by the pipeline thread; not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "model/trace.hpp"
#include "sampling/adaptive_rate.hpp"
#include "sampling/policy.hpp"

namespace tailgate::sampling {

struct Decision {
  static constexpr std::size_t kNoPolicy = static_cast<std::size_t>(-1);
  bool keep = false;
  std::size_t policy = kNoPolicy;  ///< the winning policy's index; kNoPolicy when none applied
  double probability = 0;
  /// Set when another agent of the fleet decided (peers): its policy's name, recorded on kept
  /// spans as "peer:<name>". The text outlives the decision (the pipeline keeps it).
  std::string_view peer_policy;
};

struct PolicyStats {
  std::string name;
  std::uint64_t kept_traces = 0;
  std::uint64_t sampled_out_traces = 0;
};

class Sampler final {
 public:
  explicit Sampler(const config::SamplingConfig& config);
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  /// The full decision for a finished (or force-decided) trace.
  [[nodiscard]] Decision decide(const model::Trace& trace) noexcept;
  /// The fast path: a keep decision already certain from the spans so far (a policy at
  /// probability 1.0 applies: an error, a slow trace...), else nothing.
  [[nodiscard]] std::optional<Decision> decide_early(const model::Trace& trace) noexcept;
  /// Load shedding: the fast path, else the base probability by trace id alone.
  [[nodiscard]] Decision decide_on_arrival(const model::Trace& trace) noexcept;

  /// Once per interval: feeds the adaptive base rate.
  void tick(double seconds) noexcept;
  /// Replaces the policies (SIGHUP). Stats restart with the new policy list.
  void set_policies(const config::SamplingConfig& config);

  /// Records the decision on a kept span: attributes and the tracestate threshold.
  void annotate(model::Span& span, const Decision& decision) const;

  [[nodiscard]] const std::string& policy_name(std::size_t index) const;
  /// Whether policy `index` is the base rate: its coin by trace id is the same at every agent, so
  /// its keeps need no sharing.
  [[nodiscard]] bool is_base(std::size_t index) const noexcept {
    return index < policies_.size() && policies_[index].is_base;
  }
  [[nodiscard]] std::size_t policy_count() const noexcept { return policies_.size(); }
  [[nodiscard]] double base_probability() const noexcept { return rate_.probability(); }
  [[nodiscard]] const std::vector<PolicyStats>& stats() const noexcept { return stats_; }
  /// A previously made decision for a late span (policy index from the decision cache).
  [[nodiscard]] Decision recall(bool kept, std::size_t policy) const noexcept;

 private:
  void count(const Decision& d, std::size_t spans, bool others_matched) noexcept;

  AdaptiveRate rate_;
  std::vector<NamedPolicy> policies_;
  std::vector<double> probabilities_;  ///< as configured
  std::vector<bool> early_;            ///< policies whose 1.0 may decide on the fast path
  std::vector<PolicyStats> stats_;
  double offered_base_spans_ = 0;
  double kept_other_spans_ = 0;
};

}  // namespace tailgate::sampling
