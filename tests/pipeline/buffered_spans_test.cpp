// Spans as each input path hands them on, buffered the way the trace table and the hold buffer
// them (model::PackedSpans, keys interned) and taken out for a keep: field for field what
// wire::unpack made of them before, on every path (ring, UDP, OTLP protobuf for gRPC and HTTP,
// OTLP/JSON's decoded spans, Jaeger), including spans the item encoding cannot hold (kept aside)
// and keys past the key table's bound.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "export/otlp_mapping.hpp"
#include "jaeger/Agent.h"
#include "pipeline/hold.hpp"
#include "pipeline/trace_table.hpp"
#include "receivers/jaeger_thrift.hpp"
#include "receivers/otlp_decode.hpp"
#include "receivers/otlp_packed.hpp"
#include "sampling/threshold.hpp"
#include "support/jaeger_datagrams.hpp"
#include "support/packed_span.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"
#include "wire/pack.hpp"

using namespace tailgate;
namespace idl = tailgate::jaeger_idl;

namespace {

model::TraceId trace_id(std::uint8_t n) {
  model::TraceId id{};
  id[0] = 0xA0;
  id[15] = n;
  return id;
}

model::Span span_of(std::uint8_t trace, std::uint8_t n, std::shared_ptr<const model::Resource> r) {
  model::Span s;
  s.trace_id = trace_id(trace);
  s.span_id[7] = n;
  if (n > 1) s.parent_span_id[7] = 1;
  s.start_unix_ns = 1'700'000'000'000'000'000ULL + n * 1000;
  s.end_unix_ns = s.start_unix_ns + 250'000 * n;
  s.kind = static_cast<model::SpanKind>(n % 6);
  s.name = "orders.gateway.place_" + std::to_string(n);
  s.resource = std::move(r);
  return s;
}

// Every field the model has, on spans of two traces and two resources.
std::vector<model::Span> rich_spans() {
  const auto orders = std::make_shared<const model::Resource>(model::Resource{
      {{"service.name", std::string("orders")}, {"host.name", std::string("trading-1")}},
      {"io.tailgate", "1.2"}});
  const auto risk = std::make_shared<const model::Resource>(
      model::Resource{{{"service.name", std::string("risk")}}, {}});
  std::vector<model::Span> spans;
  for (std::uint8_t n = 1; n <= 5; ++n) {
    auto s = span_of(n <= 3 ? 1 : 2, n, n == 2 ? risk : orders);
    s.attributes = {{"order.symbol", std::string("BTCUSDT")},
                    {"order.quantity", std::int64_t{10 * n}},
                    {"order.price", 43250.5},
                    {"risk.passed", n % 2 == 0},
                    {"order.legs", model::ArrayValue(std::vector<std::string>{"a", "bc"})},
                    {"order.fills", model::ArrayValue(std::vector<std::int64_t>{1, -2})},
                    {"order.marks", model::ArrayValue(std::vector<double>{0.5})},
                    {"order.flags", model::ArrayValue(std::vector<bool>{true, false})}};
    if (n == 2) {
      s.status = model::StatusCode::Error;
      s.status_message = "rejected: limit";
      s.trace_state = "ot=rv:0123456789abcd,vendor=x";
      s.parent_is_remote = true;
      s.trace_flags = 1;
      s.events = {{s.start_unix_ns + 5, "retry", {{"attempt", std::int64_t{2}}}},
                  {s.start_unix_ns + 9, "gave_up", {}}};
      s.links = {
          {trace_id(9), {{1, 2, 3, 4, 5, 6, 7, 8}}, "k=v", {{"link.kind", std::string("f")}}}};
      s.dropped_attributes = 3;
      s.dropped_events = 1;
    }
    spans.push_back(std::move(s));
  }
  return spans;
}

// Every field the model has.
void require_same(const model::Span& a, const model::Span& b) {
  testing::check_same_span(a, b);
  CHECK(a.metrics_series == b.metrics_series);
  CHECK(a.links == b.links);
  CHECK(a.dropped_attributes == b.dropped_attributes);
  CHECK(a.dropped_events == b.dropped_events);
  CHECK(a.resource == b.resource);
  CHECK(a.packed.empty());
  CHECK(b.packed.empty());
}

// Buffers `received` as the pipeline does (the trace table; a trace's first spans sampled out into
// the hold as a whole and its later ones one by one), takes every trace out and compares each
// span with what unpack makes of it.
void check_round_trip(model::SpanBatch received) {
  REQUIRE(!received.empty());
  auto expected = received;
  std::vector<model::TraceId> traces;
  for (auto& s : expected) {
    REQUIRE(wire::unpack(s) == wire::DecodeError::None);
    if (std::find(traces.begin(), traces.end(), s.trace_id) == traces.end()) {
      traces.push_back(s.trace_id);
    }
  }
  model::KeyGenerations keys;
  pipeline::TraceTable table(1'000'000'000, &keys);
  pipeline::Hold hold(1'000'000'000, 1u << 30, &keys);
  for (std::size_t i = 0; i < received.size(); ++i) {
    received[i].metrics_series = static_cast<std::uint32_t>(i);
    expected[i].metrics_series = static_cast<std::uint32_t>(i);
    // Even spans to the table, odd ones straight to the hold after it (late spans).
    if (i % 2 == 0) table.add(std::move(received[i]), 0);
  }
  for (const auto& id : traces) {
    if (table.find(id) != nullptr) hold.add(id, table.take(id), 0);
  }
  for (std::size_t i = 1; i < received.size(); i += 2) {
    hold.add(received[i].trace_id, std::move(received[i]), 0);
  }
  CHECK(table.traces() == 0);
  for (const auto& id : traces) {
    const auto out = wire::take_spans(hold.take(id));
    std::vector<const model::Span*> want;
    for (std::size_t i = 0; i < expected.size(); i += 2) {
      if (expected[i].trace_id == id) want.push_back(&expected[i]);
    }
    for (std::size_t i = 1; i < expected.size(); i += 2) {
      if (expected[i].trace_id == id) want.push_back(&expected[i]);
    }
    REQUIRE(out.size() == want.size());
    for (std::size_t i = 0; i < out.size(); ++i) require_same(out[i], *want[i]);
  }
  CHECK(hold.spans() == 0);
}

}  // namespace

TEST_CASE("ring spans round-trip through the buffered form", "[pipeline][buffered]") {
  model::SpanBatch received;
  for (const auto& s : rich_spans()) received.push_back(testing::packed(s));
  check_round_trip(std::move(received));
}

TEST_CASE("UDP spans round-trip through the buffered form", "[pipeline][buffered]") {
  const auto spans = rich_spans();
  std::vector<std::byte> datagram(wire::kMaxRecordSize);
  datagram.resize(wire::encode_resource(*spans[0].resource, datagram));
  for (const auto& s : spans) {
    const auto record = testing::encoded(s);
    datagram.resize(wire::align_record(datagram.size()));
    datagram.insert(datagram.end(), record.begin(), record.end());
  }
  model::SpanBatch received;
  const auto result = wire::decode_datagram(datagram, received, wire::Items::Packed);
  REQUIRE(result.spans == spans.size());
  check_round_trip(std::move(received));
}

TEST_CASE("OTLP protobuf spans (gRPC, HTTP) round-trip through the buffered form",
          "[pipeline][buffered]") {
  auto spans = rich_spans();
  // Too long for the item encoding: the receiver keeps it decoded, the buffer its span aside.
  spans[3].attributes.push_back({"order.note", std::string(70'000, 'n')});
  const auto request = exporter::encode_request(spans);
  model::SpanBatch received;
  receivers::otlp::IngestResult result;
  REQUIRE(receivers::otlp::from_otlp_bytes(request, received, result).empty());
  REQUIRE(received.size() == spans.size());
  check_round_trip(std::move(received));
}

TEST_CASE("OTLP/JSON's decoded spans round-trip through the buffered form",
          "[pipeline][buffered]") {
  auto spans = rich_spans();
  spans[1].events.push_back({1, "wide", std::vector<model::Attribute>(300, {"k", true})});
  spans[4].attributes.push_back({std::string(300, 'k'), std::string("a key past the table's")});
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  REQUIRE(request.ParseFromString(exporter::encode_request(spans)));
  model::SpanBatch received;
  receivers::otlp::from_otlp(request, received);
  REQUIRE(received.size() == spans.size());
  check_round_trip(std::move(received));
}

TEST_CASE("Jaeger spans round-trip through the buffered form", "[pipeline][buffered]") {
  using testing::jaeger_datagrams::tag;
  idl::Batch batch;
  batch.process.serviceName = "pricer";
  for (std::int64_t n = 1; n <= 4; ++n) {
    idl::Span s;
    s.traceIdHigh = 7;
    s.traceIdLow = n <= 2 ? 1 : 2;
    s.spanId = n;
    s.parentSpanId = n % 2 == 0 ? n - 1 : 0;
    s.operationName = "quote." + std::to_string(n);
    s.flags = 1;
    s.startTime = 1'700'000'000'000'000 + n;
    s.duration = 100 * n;
    s.__set_tags({tag("venue", std::string("XNAS")), tag("qty", std::int64_t{n}), tag("px", 101.5),
                  tag("error", n == 3)});
    idl::Log log;
    log.timestamp = s.startTime + 1;
    log.fields = {tag("event", std::string("cache_miss"))};
    s.__set_logs({log});
    batch.spans.push_back(s);
  }
  model::SpanBatch received;
  receivers::jaeger::decode_emit_batch(
      testing::jaeger_datagrams::emit_batch(receivers::jaeger::Protocol::Compact, batch),
      receivers::jaeger::Protocol::Compact, received);
  REQUIRE(received.size() == 4);
  check_round_trip(std::move(received));
}

TEST_CASE("keys past the key table's bound stay inline and still round-trip",
          "[pipeline][buffered]") {
  model::KeyGenerations keys;
  auto& table = keys.current();
  for (std::size_t i = 0; i < model::KeyTable::kMaxKeys; ++i) {
    REQUIRE(table.intern("filler." + std::to_string(i)));
  }
  CHECK_FALSE(table.intern("order.symbol"));
  CHECK(table.intern("filler.7") == std::uint16_t{7});
  auto spans = rich_spans();
  wire::PackScratch scratch;
  model::PackedSpans trace;
  auto expected = spans[0];
  wire::pack(testing::packed(spans[0]), trace, keys, scratch);
  const auto out = wire::take_spans(std::move(trace));
  REQUIRE(out.size() == 1);
  require_same(out[0], expected);
}

// Found by an outside attack: ring, UDP, OTLP protobuf and Jaeger spans carry their trace state as
// an item, which the sampler never read, so an incoming `ot=rv:` did not decide the coin (an
// inverse rv kept what it should drop, and the span left saying ot=th:8;rv:00...).
TEST_CASE("the sampler reads a buffered span's ot=rv whichever path the span came by",
          "[pipeline][buffered]") {
  auto s = span_of(1, 1, std::make_shared<const model::Resource>());
  s.trace_state = "vendor=x,ot=rv:0123456789abcd";
  s.attributes = {{"order.symbol", std::string("BTCUSDT")}};
  model::SpanBatch paths;
  paths.push_back(testing::packed(s));  // ring, UDP: the trace state among the items
  receivers::otlp::IngestResult result;
  REQUIRE(receivers::otlp::from_otlp_bytes(
              exporter::encode_request(std::span<const model::Span>(&s, 1)), paths, result)
              .empty());
  paths.push_back(s);  // decoded (OTLP/JSON)
  REQUIRE(paths.size() == 3);
  CHECK_FALSE(paths[0].packed.empty());
  for (auto& span : paths) {
    model::KeyGenerations keys;
    pipeline::TraceTable table(1'000'000'000, &keys);
    table.add(std::move(span), 0);
    const auto* trace = table.find(s.trace_id);
    REQUIRE(trace != nullptr);
    const auto view = trace->view(s.trace_id);
    for (const auto buffered : view.spans) CHECK(buffered.trace_state() == s.trace_state);
    CHECK(sampling::randomness(view) == 0x0123456789abcdULL);
    const auto out = wire::take_spans(table.take(s.trace_id));
    REQUIRE(out.size() == 1);
    CHECK(out[0].trace_state == s.trace_state);
    CHECK(out[0].attributes == s.attributes);
  }
}
