#include "sampling/sampler.hpp"

#include <algorithm>
#include <cassert>
#include <type_traits>

#include "sampling/make_policy.hpp"
#include "sampling/threshold.hpp"

namespace tailgate::sampling {
namespace {

double base_start(const config::SamplingConfig& config) {
  for (const auto& p : config.policies) {
    if (const auto* base = std::get_if<config::BasePolicyConfig>(&p)) return base->probability;
  }
  return 0.0;
}

}  // namespace

Sampler::Sampler(const config::SamplingConfig& config)
    : rate_(base_start(config), config.target_spans_per_second) {
  set_policies(config);
}

void Sampler::set_policies(const config::SamplingConfig& config) {
  assert(config.policies.size() <= 15);
  rate_.reset(base_start(config), config.target_spans_per_second);
  policies_.clear();
  probabilities_.clear();
  early_.clear();
  stats_.clear();
  for (const auto& c : config.policies) {
    policies_.push_back(make_policy(c, rate_));
    probabilities_.push_back(std::visit([](const auto& p) { return p.probability; }, c));
    // A rule at 1.0 that applies to the spans so far keeps applying as more arrive (errors and
    // duration only grow, a matched name stays matched), and nothing outranks 1.0: safe to act
    // on at once. The base rule always applies, so it never decides early.
    early_.push_back(probabilities_.back() >= 1.0 && !policies_.back().is_base);
    stats_.push_back({policies_.back().name, 0, 0});
  }
}

Decision Sampler::decide(const model::Trace& trace) noexcept {
  Decision best;
  double best_p = -1;
  bool others_matched = false;
  for (std::size_t i = 0; i < policies_.size(); ++i) {
    const auto p = policies_[i].policy->keep_probability(trace);
    if (!p) continue;
    if (!policies_[i].is_base) others_matched = true;
    // Strictly greater: on a tie the policy listed first names the decision. The keep/drop
    // outcome does not depend on the order, only the recorded name does.
    if (*p > best_p) {
      best_p = *p;
      best.policy = i;
    }
  }
  if (best.policy != Decision::kNoPolicy) {
    best.probability = best_p;
    best.keep = keep(trace, best_p);
  }
  count(best, trace.spans.size(), others_matched);
  return best;
}

std::optional<Decision> Sampler::decide_early(const model::Trace& trace) noexcept {
  for (std::size_t i = 0; i < policies_.size(); ++i) {
    if (!early_[i]) continue;
    if (const auto p = policies_[i].policy->keep_probability(trace); p && *p >= 1.0) {
      Decision d{true, i, 1.0};
      count(d, trace.spans.size(), true);
      return d;
    }
  }
  return std::nullopt;
}

Decision Sampler::decide_on_arrival(const model::Trace& trace) noexcept {
  if (auto early = decide_early(trace)) return *early;
  Decision d;
  for (std::size_t i = 0; i < policies_.size(); ++i) {
    if (policies_[i].is_base) {
      d.policy = i;
      d.probability = rate_.probability();
      d.keep = keep(trace, d.probability);
    }
  }
  count(d, trace.spans.size(), false);
  return d;
}

Decision Sampler::recall(bool kept, std::size_t policy) const noexcept {
  Decision d{kept, policy < policies_.size() ? policy : Decision::kNoPolicy, 0};
  if (d.policy != Decision::kNoPolicy) {
    // Exact for fixed policies; for the adaptive base rate, its value now.
    d.probability = policies_[policy].is_base ? rate_.probability() : probabilities_[policy];
  }
  return d;
}

void Sampler::count(const Decision& d, std::size_t spans, bool others_matched) noexcept {
  if (d.policy != Decision::kNoPolicy) {
    auto& s = stats_[d.policy];
    (d.keep ? s.kept_traces : s.sampled_out_traces) += 1;
  }
  const auto n = static_cast<double>(spans);
  if (!others_matched)
    offered_base_spans_ += n;
  else if (d.keep)
    kept_other_spans_ += n;
}

void Sampler::tick(double seconds) noexcept {
  rate_.update(offered_base_spans_, kept_other_spans_, seconds);
  offered_base_spans_ = 0;
  kept_other_spans_ = 0;
}

void Sampler::annotate(model::Span& span, const Decision& decision) const {
  if (!decision.peer_policy.empty()) {
    span.attributes.push_back({"sampling.policy", "peer:" + std::string(decision.peer_policy)});
  } else if (decision.policy == Decision::kNoPolicy) {
    return;
  } else {
    span.attributes.push_back({"sampling.policy", policies_[decision.policy].name});
  }
  span.attributes.push_back({"sampling.probability", decision.probability});
  // A downstream sampler may raise the threshold an upstream one applied, never lower it
  // (specification): a span head-sampled at 10% and kept here at 100% still counts 10 times.
  const auto threshold = std::max(rejection_threshold(decision.probability),
                                  tracestate_threshold(span.trace_state).value_or(0));
  span.trace_state = with_threshold(span.trace_state, threshold_hex(threshold));
}

const std::string& Sampler::policy_name(std::size_t index) const {
  static const std::string none = "none";
  return index < policies_.size() ? policies_[index].name : none;
}

}  // namespace tailgate::sampling
