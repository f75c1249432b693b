// What decoding one OTLP request may cost (receivers/decode_budget.hpp): requests of many small
// items, each costing a few hundred bytes once decoded however small on the wire, are refused
// whole before they are decoded, with the budget's words and counted as malformed requests; a
// request under the bound is decoded whole.
#include "receivers/decode_budget.hpp"

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "receivers/otlp_decode.hpp"
#include "receivers/otlp_http_receiver.hpp"
#include "receivers/otlp_packed.hpp"
#include "support/protobuf_raw.hpp"

using namespace tailgate;
namespace pb = opentelemetry::proto;
using receivers::otlp::DecodeBudget;

namespace {

// Raw protobuf (support/protobuf_raw.hpp): protobuf's own classes would take the memory under
// test to build these.
using testing::len;
std::string repeated(std::uint32_t field, const std::string& body, std::size_t times) {
  std::string one = len(field, body), out;
  out.reserve(one.size() * times);
  for (std::size_t i = 0; i < times; ++i) out += one;
  return out;
}
std::string span_with(const std::string& fields) {
  return len(1, std::string(16, '\x01')) + len(2, std::string(8, '\x02')) + len(5, "s") + fields;
}
// A request of one resource (its fields given) and one span (its fields given after the ids).
std::string request_of(const std::string& resource_fields, const std::string& span_fields) {
  return len(1, len(1, resource_fields) + len(2, len(2, span_with(span_fields))));
}

struct Decoded {
  std::string why;
  model::SpanBatch spans;
};
Decoded decode(const std::string& request) {
  Decoded out;
  receivers::otlp::IngestResult result;
  out.why = receivers::otlp::from_otlp_bytes(request, out.spans, result);
  return out;
}

// Posted to the OTLP/HTTP handler: its status, and the requests it counted as malformed.
std::pair<int, std::uint64_t> posted(const std::string& body, std::string_view content_type) {
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  const auto answer = receivers::handle_otlp_http("POST", "/v1/traces", content_type, "", body,
                                                  std::size_t{8} << 20, queue, counters);
  return {answer.status, counters.requests_rejected_of(telemetry::Receiver::OtlpHttp,
                                                       telemetry::RejectReason::Malformed)};
}

std::string json_with_resource_attributes(std::size_t empty_attributes) {
  std::string json = R"({"resourceSpans":[{"resource":{"attributes":[)";
  for (std::size_t i = 0; i < empty_attributes; ++i) json += i == 0 ? "{}" : ",{}";
  return json + R"(]},"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",)"
                R"("spanId":"0102030405060708","name":"s"}]}]}]})";
}

}  // namespace

TEST_CASE("a request of many empty resource attributes is refused before it is decoded",
          "[receivers][otlp]") {
  // 200,000 attributes of 2 bytes: ~400 KB on the wire, ~50 MB decoded.
  const auto refused = request_of(repeated(1, "", 200'000), "");
  const auto out = decode(refused);
  CHECK(out.why == DecodeBudget::kItemsRefusal);
  CHECK(out.spans.empty());
  CHECK(posted(refused, "application/x-protobuf") == std::pair<int, std::uint64_t>{400, 1});

  // Under the bound (12 MiB, 192 B per attribute): decoded whole, as are many empty resources.
  const auto accepted = decode(request_of(repeated(1, "", 60'000), ""));
  CHECK(accepted.why.empty());
  REQUIRE(accepted.spans.size() == 1);
  CHECK(accepted.spans[0].resource->attributes.size() == 60'000);
  CHECK(decode(request_of(repeated(1, "", 70'000), "")).why == DecodeBudget::kItemsRefusal);
  const auto empty_resources = decode(repeated(1, len(1, ""), 100'000) + request_of("", ""));
  CHECK(empty_resources.why.empty());
  CHECK(empty_resources.spans.size() == 1);
}

TEST_CASE("a span of too many empty attributes, events or event attributes is refused whole",
          "[receivers][otlp]") {
  // More items than the packed encoding counts: such spans are kept decoded, and were decoded
  // item by item (a 3.7 MB request: +258 MiB of attributes, +273 MiB of events).
  const auto attributes = request_of("", repeated(9, "", 100'000));
  CHECK(decode(attributes).why == DecodeBudget::kItemsRefusal);
  CHECK(posted(attributes, "application/x-protobuf") == std::pair<int, std::uint64_t>{400, 1});
  CHECK(decode(request_of("", repeated(11, "", 100'000))).why == DecodeBudget::kItemsRefusal);
  const auto event_attributes = len(11, len(2, "e") + repeated(3, "", 300'000));
  CHECK(decode(request_of("", event_attributes)).why == DecodeBudget::kItemsRefusal);
  // An array value of empty values, parsed and mapped value by value.
  const auto array = len(9, len(1, "a") + len(2, len(5, repeated(1, "", 300'000))));
  CHECK(decode(request_of("", array)).why == DecodeBudget::kItemsRefusal);

  // A span kept decoded for a long value, and an event of a few hundred attributes: decoded.
  const auto long_value = len(9, len(1, "k") + len(2, len(1, std::string(70'000, 'v'))));
  const auto kept = decode(request_of("", long_value + repeated(11, repeated(3, "", 300), 2)));
  CHECK(kept.why.empty());
  REQUIRE(kept.spans.size() == 1);
  CHECK(kept.spans[0].attributes.size() == 1);
  CHECK(kept.spans[0].events.size() == 2);
}

TEST_CASE("an OTLP/JSON request of many empty objects is refused before it is decoded",
          "[receivers][otlp]") {
  // `{}`: 3 bytes of text, a document node, a protobuf message and an attribute once decoded.
  const auto refused = json_with_resource_attributes(200'000);
  pb::collector::trace::v1::ExportTraceServiceRequest request;
  CHECK(receivers::otlp::parse_json(refused, request) == DecodeBudget::kJsonRefusal);
  CHECK(posted(refused, "application/json") == std::pair<int, std::uint64_t>{400, 1});

  pb::collector::trace::v1::ExportTraceServiceRequest accepted;
  CHECK(receivers::otlp::parse_json(json_with_resource_attributes(5'000), accepted).empty());
  CHECK(accepted.resource_spans(0).resource().attributes_size() == 5'000);
}

TEST_CASE("a protobuf request past 4 MiB may cost 3 times its size to decode, no more",
          "[receivers]") {
  // For users who allow requests larger than the default max_request_bytes: the fixed 12 MiB
  // would refuse their ordinary large requests.
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  auto small = DecodeBudget::for_protobuf(kMiB);
  CHECK(small.spend_decoded(0, 6 * kMiB));  // 12 MiB, the fixed allowance
  CHECK_FALSE(small.spend_decoded(0, 1));
  auto large = DecodeBudget::for_protobuf(16 * kMiB);
  CHECK(large.spend_decoded(0, 24 * kMiB));  // 48 MiB
  CHECK_FALSE(large.spend_decoded(0, 1));
}
