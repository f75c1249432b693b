#pragma once
// A tail-sampling rule and its configured name. Policies are pure: they look at a trace and say
// with what probability to keep it, or that they have no opinion. They never flip a coin (that is
// threshold.hpp's job, once per trace) and hold no mutable state. Called on the pipeline thread.

#include <memory>
#include <optional>
#include <string>

#include "model/trace.hpp"

namespace tailgate::sampling {

class Policy {
 public:
  virtual ~Policy() = default;
  /// The keep probability in [0, 1] if this rule applies to `trace`, nullopt if it does not.
  [[nodiscard]] virtual std::optional<double> keep_probability(
      const model::Trace& trace) const noexcept = 0;
};

/// A policy as configured: the YAML name travels with it into metrics and onto kept spans.
struct NamedPolicy {
  std::string name;
  std::unique_ptr<Policy> policy;
  bool is_base = false;  ///< the base policy: its probability follows the adaptive rate
};

}  // namespace tailgate::sampling
