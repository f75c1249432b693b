#include "sampling/make_policy.hpp"

#include <type_traits>

#include "sampling/attribute_policy.hpp"
#include "sampling/base_policy.hpp"
#include "sampling/error_policy.hpp"
#include "sampling/latency_policy.hpp"
#include "sampling/span_name_policy.hpp"

namespace tailgate::sampling {

NamedPolicy make_policy(const config::PolicyConfig& config, const AdaptiveRate& rate) {
  return std::visit(
      [&rate](const auto& c) -> NamedPolicy {
        using C = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<C, config::ErrorPolicyConfig>) {
          return {c.name, std::make_unique<ErrorPolicy>(c)};
        } else if constexpr (std::is_same_v<C, config::LatencyPolicyConfig>) {
          return {c.name, std::make_unique<LatencyPolicy>(c)};
        } else if constexpr (std::is_same_v<C, config::SpanNamePolicyConfig>) {
          return {c.name, std::make_unique<SpanNamePolicy>(c)};
        } else if constexpr (std::is_same_v<C, config::AttributePolicyConfig>) {
          return {c.name, std::make_unique<AttributePolicy>(c)};
        } else {
          static_assert(std::is_same_v<C, config::BasePolicyConfig>, "a policy without a case");
          return {c.name, std::make_unique<BasePolicy>(c, rate), true};
        }
      },
      config);
}

}  // namespace tailgate::sampling
