#pragma once
// What decoding one OTLP request may cost in memory, counted by both OTLP decoders (the packed
// one for protobuf, otlp_packed.cpp, and OTLP/JSON's parse_json and from_otlp) before they
// allocate, so that a request is refused whole instead of decoded past a bound.
// - Resource copies: each scope's spans get the resource with the scope in it, a copy of the
//   resource's attributes. One request of many scopes under a large resource would otherwise
//   hold gigabytes (outside attack: a 1.1 MB request, +1 GB RSS): the resource's encoded bytes
//   are counted once per scope with spans, at most 32 MiB.
// - Decoded items: what the decoders build item by item (a resource's attributes, a span they
//   cannot pack, OTLP/JSON's document) costs a few hundred bytes per item, however small the
//   item on the wire (outside attack: a 3.7 MB request of 1.87 M empty resource attributes,
//   2 bytes each, +416 MiB). Counted per message before it is parsed: protobuf at most 12 MiB
//   (with the request itself, 4 x the default max_request_bytes, the README memory rule's term
//   per request; a fixed bound, as requests of many small resources, relayed by a collector,
//   cost several times their size); OTLP/JSON at most 1 MiB + 8 x its text.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace tailgate::receivers::otlp {

class DecodeBudget {
 public:
  static constexpr std::size_t kMaxResourceCopies = std::size_t{32} << 20;
  /// What one decoded protobuf message costs (its parsed object and the model's item): measured
  /// 233 B per empty resource attribute (parsed, mapped and copied for the scope), 145 per empty
  /// span attribute, 153 per empty event of a span kept decoded; an attribute with its value (two
  /// messages) about 300 B.
  static constexpr std::size_t kMessageCost = 192;
  /// What one JSON object or array costs: its document node, then the protobuf message and the
  /// model's item made of it (about 300 B per `{}` measured, all three at once).
  static constexpr std::size_t kJsonContainerCost = 128;
  /// An array or map value of more messages is not packed: its span is kept decoded, counted
  /// whole (packed values are not counted: a check per attribute on every span).
  static constexpr std::size_t kMaxPackedValueMessages = 4096;
  static constexpr std::size_t kProtobufAllowance = std::size_t{12} << 20;
  static constexpr std::size_t kBaseAllowance = std::size_t{1} << 20;
  /// An OTLP/JSON request is decoded through a document first (about 6x its size, README).
  static constexpr std::size_t kJsonAllowancePerRequestByte = 8;

  /// Why a request past the budget is refused: it is well formed, only too costly, so the
  /// receivers give it without their "not an OTLP request" prefix (refusal_text()).
  static constexpr std::string_view kRefusal =
      "refused as too costly: its resource, repeated once for each of its scopes, would take "
      "more than 32 MiB";
  static constexpr std::string_view kItemsRefusal =
      "refused as too costly: decoding its items would take more than 12 MiB (or 3 times its "
      "size, for a request past 4 MiB)";
  static constexpr std::string_view kJsonRefusal =
      "refused as too costly: decoding its JSON would take more than 1 MiB + 8 times its size";

  /// A budget for a protobuf request of `request_bytes`: a fixed allowance, which grows with
  /// requests past the default max_request_bytes (4 MiB) for users who allow larger ones.
  [[nodiscard]] static DecodeBudget for_protobuf(std::size_t request_bytes) noexcept {
    return DecodeBudget(std::max(kProtobufAllowance, 3 * request_bytes));
  }
  /// A budget for an OTLP/JSON request of `request_bytes` (its text).
  [[nodiscard]] static DecodeBudget for_json(std::size_t request_bytes) noexcept {
    return DecodeBudget(kBaseAllowance + kJsonAllowancePerRequestByte * request_bytes);
  }

  /// Counts one more copy of a resource of `resource_bytes`; false once past 32 MiB of copies.
  [[nodiscard]] bool spend_resource_copy(std::size_t resource_bytes) noexcept {
    copies_ += resource_bytes;
    return copies_ <= kMaxResourceCopies;
  }

  /// Counts a message about to be decoded: `messages` parsed and mapped (those in it), `bytes`
  /// its encoding (its strings are copied twice: parsed, then mapped). False once past the
  /// allowance.
  [[nodiscard]] bool spend_decoded(std::size_t messages, std::size_t bytes) noexcept {
    return spend(messages * kMessageCost + 2 * bytes);
  }
  /// Counts JSON objects and arrays about to be made; false once past the allowance.
  [[nodiscard]] bool spend_json_containers(std::size_t containers) noexcept {
    return spend(containers * kJsonContainerCost);
  }

  /// A refusal of this budget's, which says on its own why the request was refused.
  [[nodiscard]] static bool is_refusal(std::string_view why) noexcept {
    return why == kRefusal || why == kItemsRefusal || why == kJsonRefusal;
  }

 private:
  explicit DecodeBudget(std::size_t allowance) noexcept : allowance_(allowance) {}
  bool spend(std::size_t cost) noexcept {
    items_ += cost;
    return items_ <= allowance_;
  }

  std::size_t allowance_;
  std::size_t copies_ = 0;
  std::size_t items_ = 0;
};

/// What a receiver says of a refused request: `why` under `not_a_request` ("not an OTLP
/// ExportTraceServiceRequest: ..."), except a request refused as too costly, which is one.
[[nodiscard]] inline std::string refusal_text(std::string_view not_a_request,
                                              std::string_view why) {
  if (DecodeBudget::is_refusal(why)) return std::string(why);
  return std::string(not_a_request) + ": " + std::string(why);
}

}  // namespace tailgate::receivers::otlp
