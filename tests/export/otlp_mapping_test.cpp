#include "export/otlp_mapping.hpp"

#include <catch2/catch.hpp>

#include "support/span_builder.hpp"

using namespace tailgate;
namespace collector = opentelemetry::proto::collector::trace::v1;

TEST_CASE("every field of a span maps to its OTLP field", "[export]") {
  auto span = testing::make_span(7, 1, testing::test_resource("orders"));
  span.trace_state = "ot=th:c";
  opentelemetry::proto::trace::v1::Span out;
  exporter::to_otlp(span, out);
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
  CHECK(out.attributes(3).value().bool_value() == false);
  REQUIRE(out.events_size() == 1);
  CHECK(out.events(0).name() == "order.sent");
  CHECK(out.events(0).attributes(0).key() == "venue");
}

TEST_CASE("a root span has no parent id and an unset status is left out", "[export]") {
  auto span = testing::make_span(1, 0, nullptr);
  opentelemetry::proto::trace::v1::Span out;
  exporter::to_otlp(span, out);
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
  collector::ExportTraceServiceRequest request;
  exporter::append_spans(spans, request);
  REQUIRE(request.resource_spans_size() == 2);
  CHECK(request.resource_spans(0).resource().attributes(0).value().string_value() == "orders");
  CHECK(request.resource_spans(0).scope_spans(0).spans_size() == 2);
  CHECK(request.resource_spans(0).scope_spans(0).scope().name() == exporter::kScopeName);
  CHECK(request.resource_spans(1).resource().attributes(0).value().string_value() == "risk");
  CHECK(request.resource_spans(1).scope_spans(0).spans_size() == 2);
}

TEST_CASE("a parent in another process is flagged remote, as OTLP defines", "[export]") {
  auto span = testing::make_span(7, 1, nullptr);
  span.parent_is_remote = true;
  opentelemetry::proto::trace::v1::Span out;
  exporter::to_otlp(span, out);
  CHECK(out.flags() == (1 | 0x100 | 0x200));
  auto root = testing::make_span(7, 0, nullptr);
  exporter::to_otlp(root, out);
  CHECK(out.flags() == 1);  // a root has no parent to be remote or not
}
