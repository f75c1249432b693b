#pragma once
// The one mapping from configured policies to Policy objects: a std::visit, so a new
// PolicyConfig alternative without a case here fails to compile. No registry, no factories.

#include <vector>

#include "config/config.hpp"
#include "sampling/adaptive_rate.hpp"
#include "sampling/policy.hpp"

namespace tailgate::sampling {

[[nodiscard]] NamedPolicy make_policy(const config::PolicyConfig& config, const AdaptiveRate& rate);

}  // namespace tailgate::sampling
