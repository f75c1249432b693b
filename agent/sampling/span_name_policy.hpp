#pragma once
// Keeps traces with a span whose name matches one of a list of glob patterns ("genesis.order.*",
// "api.exchange.*", "order_execution"): the operations a desk calls critical.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "sampling/policy.hpp"

namespace tailgate::sampling {

/// Glob match where `*` matches any run of characters (including none); nothing else is special.
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view text) noexcept;

class SpanNamePolicy final : public Policy {
 public:
  using Config = config::SpanNamePolicyConfig;
  explicit SpanNamePolicy(const Config& config);
  [[nodiscard]] std::optional<double> keep_probability(
      const model::Trace& trace) const noexcept override;

 private:
  std::vector<std::string> patterns_;
  double probability_;
};

}  // namespace tailgate::sampling
