#include "export/otlp_mapping.hpp"

#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "support/otlp_reference.hpp"
#include "support/span_builder.hpp"

using namespace tailgate;
namespace collector = opentelemetry::proto::collector::trace::v1;
namespace otlp = opentelemetry::proto;

namespace {

collector::ExportTraceServiceRequest parsed(const std::string& bytes) {
  collector::ExportTraceServiceRequest request;
  REQUIRE(request.ParseFromString(bytes));
  return request;
}

/// One span through the encoder, as protobuf's generated classes read it back.
otlp::trace::v1::Span encoded(const model::Span& span) {
  const auto request = parsed(exporter::encode_request(std::span(&span, 1)));
  REQUIRE(request.resource_spans_size() == 1);
  REQUIRE(request.resource_spans(0).scope_spans(0).spans_size() == 1);
  return request.resource_spans(0).scope_spans(0).spans(0);
}

model::Span unusual_span(std::uint64_t seed, std::shared_ptr<const model::Resource> resource) {
  auto span = testing::make_span(seed, seed % 3, std::move(resource));
  span.trace_state = seed % 2 ? "ot=th:c,vendor=x" : "";
  span.parent_is_remote = seed % 5 == 1;
  span.trace_flags = static_cast<std::uint8_t>(seed % 3 == 0 ? 0 : 1);
  span.kind = static_cast<model::SpanKind>(seed % 6);
  span.dropped_attributes = static_cast<std::uint32_t>(seed % 4 == 0 ? 300 : 0);
  span.dropped_events = static_cast<std::uint32_t>(seed % 4 == 1 ? 1 : 0);
  if (seed % 4 == 2) span.start_unix_ns = 0;
  if (seed % 11 == 3) span.status = model::StatusCode::Ok;
  if (seed % 13 == 4) span.status_message = "no code, a message";
  // Values at their default are still set values (AnyValue's oneof); a long string needs a
  // multi-byte length; negative integers take ten bytes.
  span.attributes.push_back({"zero", std::int64_t{0}});
  span.attributes.push_back({"negative", std::numeric_limits<std::int64_t>::min()});
  span.attributes.push_back({"false", false});
  span.attributes.push_back({"empty", std::string()});
  span.attributes.push_back({"", std::string("no key")});
  span.attributes.push_back({"nan", std::numeric_limits<double>::quiet_NaN()});
  span.attributes.push_back({"long", std::string(200 + seed * 37, 'x')});
  // Arrays: each element an AnyValue of its own, an empty one still set.
  span.attributes.push_back(
      {"texts", model::ArrayValue(std::vector<std::string>{"", std::string(150, 'y')})});
  span.attributes.push_back({"ints", model::ArrayValue(std::vector<std::int64_t>{
                                         0, -1, static_cast<std::int64_t>(seed)})});
  span.attributes.push_back({"doubles", model::ArrayValue(std::vector<double>{0.0, 1.5})});
  span.attributes.push_back({"bools", model::ArrayValue(std::vector<bool>{false, true})});
  span.attributes.push_back({"none", model::ArrayValue{}});
  span.events.push_back({0, "", {}});
  span.events.push_back({span.end_unix_ns,
                         "exception",
                         {{"exception.type", std::string("E")},
                          {"fills", model::ArrayValue(std::vector<std::int64_t>{5, 7})}}});
  span.links.push_back({testing::trace_id_of(seed + 1), testing::span_id_of(seed), "", {}});
  span.links.push_back({testing::trace_id_of(seed + 2),
                        testing::span_id_of(seed + 1),
                        "k=v",
                        {{"opentracing.ref_type", std::string("follows_from")}}});
  return span;
}

}  // namespace

TEST_CASE("the encoded request is byte for byte what protobuf writes for the same message",
          "[export]") {
  const auto orders = testing::test_resource("orders");
  const auto scoped = std::make_shared<const model::Resource>(
      model::Resource{{{"service.name", std::string("node")}}, {"io.opentelemetry.js", "1.30.1"}});
  const auto bare = std::make_shared<const model::Resource>();
  std::vector<model::Span> spans;
  for (std::uint64_t seed = 0; seed < 60; ++seed) {
    const auto& resource = seed % 4 == 0   ? orders
                           : seed % 4 == 1 ? scoped
                           : seed % 4 == 2 ? bare
                                           : nullptr;
    spans.push_back(unusual_span(seed, resource));
  }
  const auto want = testing::reference_request(spans);
  const auto got = exporter::encode_request(spans);
  CHECK(got.size() == want.size());
  CHECK(got == want);
  const auto request = parsed(got);
  REQUIRE(request.resource_spans_size() == 4);  // orders, scoped, bare, none
  CHECK(request.resource_spans(0).scope_spans(0).spans(0).attributes_size() == 16);
}

TEST_CASE("every field of a span maps to its OTLP field", "[export]") {
  auto span = testing::make_span(7, 1, testing::test_resource("orders"));
  span.trace_state = "ot=th:c";
  const auto out = encoded(span);
  CHECK(out.trace_id() == std::string(span.trace_id.begin(), span.trace_id.end()));
  CHECK(out.span_id() == std::string(span.span_id.begin(), span.span_id.end()));
  CHECK(out.parent_span_id() ==
        std::string(span.parent_span_id.begin(), span.parent_span_id.end()));
  CHECK(out.trace_state() == "ot=th:c");
  CHECK(out.flags() == (1 | 0x100));  // sampled; has-is-remote, and the parent is local
  CHECK(out.name() == span.name);
  CHECK(out.kind() == opentelemetry::proto::trace::v1::Span::SPAN_KIND_CLIENT);
  CHECK(out.start_time_unix_nano() == span.start_unix_ns);
  CHECK(out.end_time_unix_nano() == span.end_unix_ns);
  CHECK(out.status().code() == opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  CHECK(out.status().message() == span.status_message);
  REQUIRE(out.attributes_size() == 4);
  CHECK(out.attributes(0).value().string_value() == "BTCUSDT");
  CHECK(out.attributes(1).value().int_value() == 71);
  CHECK(out.attributes(2).value().double_value() == 43251.5);
  CHECK(out.attributes(3).value().has_bool_value());
  CHECK(out.attributes(3).value().bool_value() == false);
  REQUIRE(out.events_size() == 1);
  CHECK(out.events(0).name() == "order.sent");
  CHECK(out.events(0).attributes(0).key() == "venue");
}

TEST_CASE("a root span has no parent id and an unset status is left out", "[export]") {
  auto span = testing::make_span(1, 0, nullptr);
  const auto out = encoded(span);
  CHECK(out.parent_span_id().empty());
  CHECK_FALSE(out.has_status());
}

TEST_CASE("spans are grouped by resource value, not by pointer", "[export]") {
  const auto orders_a = testing::test_resource("orders");
  const auto orders_b = testing::test_resource("orders");  // equal, separately decoded
  const auto risk = testing::test_resource("risk");
  const std::vector<model::Span> spans = {
      testing::make_span(1, 0, orders_a), testing::make_span(2, 0, risk),
      testing::make_span(3, 0, orders_b), testing::make_span(4, 0, risk)};
  const auto request = parsed(exporter::encode_request(spans));
  REQUIRE(request.resource_spans_size() == 2);
  CHECK(request.resource_spans(0).resource().attributes(0).value().string_value() == "orders");
  CHECK(request.resource_spans(0).scope_spans(0).spans_size() == 2);
  CHECK(request.resource_spans(0).scope_spans(0).scope().name() == exporter::kScopeName);
  CHECK(request.resource_spans(1).resource().attributes(0).value().string_value() == "risk");
  CHECK(request.resource_spans(1).scope_spans(0).spans_size() == 2);
}

TEST_CASE("an encoder is empty again after encode and writes an empty request for no spans",
          "[export]") {
  exporter::RequestEncoder encoder;
  CHECK(encoder.encode().empty());
  const auto span = testing::make_span(3, 0, nullptr);
  encoder.add(span);
  CHECK(encoder.spans() == 1);
  CHECK(parsed(encoder.encode()).resource_spans_size() == 1);
  CHECK(encoder.spans() == 0);
  CHECK(encoder.encode().empty());
}

TEST_CASE("a parent in another process is flagged remote, as OTLP defines", "[export]") {
  auto span = testing::make_span(7, 1, nullptr);
  span.parent_is_remote = true;
  CHECK(encoded(span).flags() == (1 | 0x100 | 0x200));
  auto root = testing::make_span(7, 0, nullptr);
  CHECK(encoded(root).flags() == 1);  // a root has no parent to be remote or not
}

TEST_CASE("an array attribute maps to an OTLP ArrayValue of its type", "[export]") {
  auto span = testing::make_span(1, 0, nullptr);
  span.attributes = {
      {"venues", model::ArrayValue(std::vector<std::string>{"binance", "okx"})},
      {"fills", model::ArrayValue(std::vector<std::int64_t>{5, -7})},
      {"prices", model::ArrayValue(std::vector<double>{0.25})},
      {"checks", model::ArrayValue(std::vector<bool>{false})},
      {"empty", model::ArrayValue{}},
  };
  const auto out = encoded(span);
  REQUIRE(out.attributes_size() == 5);
  for (const auto& a : out.attributes()) {
    INFO(a.key());
    CHECK(a.value().has_array_value());
  }
  const auto& venues = out.attributes(0).value().array_value();
  REQUIRE(venues.values_size() == 2);
  CHECK(venues.values(0).string_value() == "binance");
  CHECK(venues.values(1).string_value() == "okx");
  const auto& fills = out.attributes(1).value().array_value();
  REQUIRE(fills.values_size() == 2);
  CHECK(fills.values(0).int_value() == 5);
  CHECK(fills.values(1).int_value() == -7);
  CHECK(out.attributes(2).value().array_value().values(0).double_value() == 0.25);
  const auto& checks = out.attributes(3).value().array_value();
  REQUIRE(checks.values_size() == 1);
  CHECK(checks.values(0).has_bool_value());
  CHECK(checks.values(0).bool_value() == false);
  CHECK(out.attributes(4).value().array_value().values_size() == 0);
}
