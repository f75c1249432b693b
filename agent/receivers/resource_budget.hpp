#pragma once
// What copying a request's resource once per scope may cost it. Each scope's spans get the
// resource with the scope in it: a copy of the resource's attributes. One request of many scopes
// under a large resource would otherwise hold gigabytes and take the CPU for an hour (found by an
// outside attack: a 1.1 MB request, +1 GB RSS), so both OTLP decoders, the packed one (protobuf)
// and from_otlp (OTLP/JSON), count the resource's encoded bytes once per scope with spans and
// refuse the request whole past 32 MiB.

#include <cstddef>
#include <string>
#include <string_view>

namespace tailgate::receivers::otlp {

class ResourceBudget {
 public:
  static constexpr std::size_t kMaxCost = std::size_t{32} << 20;
  /// Why a request past the budget is refused: it is well formed, only too costly, so the
  /// receivers give it without their "not an OTLP request" prefix (refusal_text()).
  static constexpr std::string_view kRefusal =
      "refused as too costly: its resource, repeated once for each of its scopes, would take "
      "more than 32 MiB";

  /// Counts one more copy of a resource of `resource_bytes`; false once past the budget.
  [[nodiscard]] bool spend(std::size_t resource_bytes) noexcept {
    cost_ += resource_bytes;
    return cost_ <= kMaxCost;
  }

 private:
  std::size_t cost_ = 0;
};

/// What a receiver says of a refused request: `why` under `not_a_request` ("not an OTLP
/// ExportTraceServiceRequest: ..."), except a request refused as too costly, which is one.
[[nodiscard]] inline std::string refusal_text(std::string_view not_a_request,
                                              std::string_view why) {
  if (why == ResourceBudget::kRefusal) return std::string(why);
  return std::string(not_a_request) + ": " + std::string(why);
}

}  // namespace tailgate::receivers::otlp
