// Span metrics counted from spans as the pipeline hands them over, and rendered as a scraper
// reads them.
#include "spanmetrics/span_metrics.hpp"

#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "scrub/scrubber.hpp"
#include "support/packed_span.hpp"
#include "support/span_builder.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

const auto kOrders = testing::test_resource("orders");
const auto kRisk = testing::test_resource("risk");

model::Span span_of(std::shared_ptr<const model::Resource> resource, std::string name,
                    std::uint64_t duration_ns, bool error, std::uint64_t id) {
  auto s = testing::make_span(id, 0, std::move(resource));
  s.name = std::move(name);
  s.kind = model::SpanKind::Server;
  s.status = error ? model::StatusCode::Error : model::StatusCode::Unset;
  s.end_unix_ns = s.start_unix_ns + duration_ns;
  s.attributes.clear();
  return s;
}

const spanmetrics::Series* series(const spanmetrics::Snapshot& m, std::string_view needle) {
  for (const auto& s : m.series)
    if (s.labels.find(needle) != std::string::npos) return &s;
  return nullptr;
}

std::string render(const spanmetrics::SpanMetrics& metrics, telemetry::Format format) {
  telemetry::Exposition out(format);
  spanmetrics::render(metrics.snapshot(), out);
  return out.take();
}

}  // namespace

TEST_CASE("every span is counted once, in the bucket its duration falls in", "[spanmetrics]") {
  config::SpanMetricsConfig config;
  config.buckets = {1ms, 10ms, 100ms};
  spanmetrics::SpanMetrics metrics(config);
  // Durations chosen around the bounds: a bound itself belongs to its bucket (le).
  const std::vector<std::uint64_t> durations = {500'000,    1'000'000,   1'000'001,    10'000'000,
                                                50'000'000, 100'000'000, 2'000'000'000};
  model::SpanBatch batch;
  std::uint64_t id = 1, orders = 0;
  for (int round = 0; round < 3; ++round) {
    for (const auto d : durations) {
      const bool error = orders++ % 5 == 4;  // 4 of the 21
      batch.push_back(span_of(kOrders, "genesis.order.place", d, error, id++));
    }
    batch.push_back(span_of(kRisk, "risk.check", 2'000'000, false, id++));
  }
  metrics.record(batch);
  const auto m = metrics.snapshot();
  REQUIRE(m.series.size() == 3);  // orders ok, orders error, risk
  std::uint64_t calls = 0, errors = 0;
  std::vector<std::uint64_t> buckets(4, 0);
  for (const auto& s : m.series) {
    if (s.labels.find("genesis.order.place") == std::string::npos) continue;
    calls += s.calls;
    errors += s.errors;
    for (std::size_t b = 0; b < 4; ++b) buckets[b] += s.buckets[b];
  }
  CHECK(calls == 21);
  CHECK(errors == 4);
  CHECK(buckets == std::vector<std::uint64_t>{6, 6, 6, 3});
  const auto* risk = series(m, R"(service_name="risk")");
  REQUIRE(risk != nullptr);
  CHECK(risk->labels ==
        R"(service_name="risk",span_name="risk.check",span_kind="SPAN_KIND_SERVER",)"
        R"(status_code="STATUS_CODE_UNSET")");
  CHECK(risk->calls == 3);
  CHECK(risk->buckets == std::vector<std::uint64_t>{0, 3, 0, 0});
  CHECK(risk->sum_seconds == Approx(0.006));
  const auto* failed = series(m, "STATUS_CODE_ERROR");
  REQUIRE(failed != nullptr);
  CHECK(failed->errors == failed->calls);
}

TEST_CASE("configured attributes become labels, whatever their type", "[spanmetrics]") {
  config::SpanMetricsConfig config;
  config.dimensions = {"order.type", "order.urgent", "order.lots"};
  spanmetrics::SpanMetrics metrics(config);
  auto limit = span_of(kOrders, "genesis.order.place", 1000, false, 1);
  limit.attributes = {{"order.type", std::string("limit")},
                      {"order.urgent", true},
                      {"order.lots", std::int64_t{3}}};
  auto bare = span_of(kOrders, "genesis.order.place", 1000, false, 2);
  // The third as the ring and UDP receivers hand it on: its items still packed.
  metrics.record({limit, bare, testing::packed(limit)});
  const auto m = metrics.snapshot();
  REQUIRE(m.series.size() == 2);
  const auto* with = series(m, R"(order_type="limit")");
  REQUIRE(with != nullptr);
  CHECK_THAT(with->labels, Contains(R"(order_type="limit",order_urgent="true",order_lots="3")"));
  CHECK(with->calls == 2);
  const auto* without = series(m, R"(order_type="")");
  REQUIRE(without != nullptr);
  CHECK(without->calls == 1);
}

TEST_CASE("exemplars come only from kept spans the exporter took", "[spanmetrics]") {
  config::SpanMetricsConfig config;
  config.buckets = {1ms, 10ms};
  spanmetrics::SpanMetrics metrics(config);
  const auto kept = span_of(kOrders, "genesis.order.place", 5'000'000, false, 42);
  const auto refused = span_of(kOrders, "genesis.order.place", 5'000'001, false, 43);
  const auto sampled_out = span_of(kOrders, "genesis.order.place", 5'000'002, false, 44);
  metrics.record({kept, refused, sampled_out});

  metrics.stage_exemplars({refused});
  metrics.commit_exemplars(false);  // the export queue was full: never in Jaeger
  CHECK_FALSE(metrics.snapshot().series[0].exemplars[1].has_value());
  metrics.stage_exemplars({kept});
  metrics.commit_exemplars(true);
  const auto m = metrics.snapshot();
  REQUIRE(m.series[0].exemplars[1].has_value());
  CHECK(m.series[0].exemplars[1]->trace_id == kept.trace_id);
  CHECK(m.series[0].exemplars[1]->value_seconds == Approx(0.005));
  CHECK_FALSE(m.series[0].exemplars[0].has_value());

  const auto om = render(metrics, telemetry::Format::OpenMetrics);
  const auto hex = [](const auto& bytes) {
    std::string out;
    for (const auto b : bytes) out += fmt::format("{:02x}", b);
    return out;
  };
  CHECK_THAT(om, Contains(R"(le="0.01"} 3 # {trace_id=")" + hex(kept.trace_id) + R"(",span_id=")" +
                          hex(kept.span_id) + R"("} 0.005 )"));
  CHECK(om.find(hex(refused.trace_id)) == std::string::npos);
  CHECK(om.find(hex(sampled_out.trace_id)) == std::string::npos);
  CHECK_THAT(om, Contains("# TYPE tailgate_span_calls counter\n"));
  CHECK(om.ends_with("# EOF\n"));
  // Prometheus text has no exemplars and keeps _total on the family.
  const auto text = render(metrics, telemetry::Format::Prometheus);
  CHECK(text.find(" # {") == std::string::npos);
  CHECK_THAT(text, Contains("# TYPE tailgate_span_calls_total counter\n"));
  CHECK_THAT(text, Contains(R"(tailgate_span_duration_seconds_bucket{service_name="orders",)"
                            R"(span_name="genesis.order.place",span_kind="SPAN_KIND_SERVER",)"
                            R"(status_code="STATUS_CODE_UNSET",le="+Inf"} 3)"));
  CHECK(text.find("# EOF") == std::string::npos);
}

TEST_CASE("past max_series new label sets fold into one other series, counted", "[spanmetrics]") {
  config::SpanMetricsConfig config;
  config.max_series = 50;
  spanmetrics::SpanMetrics metrics(config);
  constexpr std::uint64_t kSpans = 100'000;  // each with a name of its own
  model::SpanBatch batch;
  for (std::uint64_t i = 0; i < kSpans; ++i) {
    batch.push_back(span_of(kOrders, "order." + std::to_string(i), 1000, false, i + 1));
    if (batch.size() == 1000) {
      metrics.record(batch);
      batch.clear();
    }
  }
  metrics.record(batch);  // a known name again is counted in its own series
  metrics.record({span_of(kOrders, "order.7", 1000, false, 7)});
  const auto m = metrics.snapshot();
  CHECK(m.series.size() == 51);
  CHECK(m.folded_spans == kSpans - 50);
  std::uint64_t calls = 0;
  for (const auto& s : m.series) calls += s.calls;
  CHECK(calls == kSpans + 1);
  const auto* other = series(m, R"(span_name="other")");
  REQUIRE(other != nullptr);
  CHECK(other->calls == kSpans - 50);
  CHECK(series(m, R"(span_name="order.7")")->calls == 2);
  CHECK_THAT(render(metrics, telemetry::Format::Prometheus),
             Contains("tailgate_span_metrics_folded_spans_total 99950"));
}

TEST_CASE("label values are escaped", "[spanmetrics]") {
  spanmetrics::SpanMetrics metrics(config::SpanMetricsConfig{});
  metrics.record({span_of(kOrders, "say \"hi\"\\\nnow", 1000, false, 1)});
  CHECK_THAT(render(metrics, telemetry::Format::Prometheus),
             Contains(R"(span_name="say \"hi\"\\\nnow")"));
}

TEST_CASE("a 1 MiB span name or dimension value becomes a bounded, marked label, scrape bounded",
          "[spanmetrics]") {
  config::SpanMetricsConfig config;
  config.dimensions = {"order.type"};
  config.max_series = 20;
  spanmetrics::SpanMetrics metrics(config);
  for (int i = 0; i < 25; ++i) {
    auto s = span_of(kOrders, std::string(1 << 20, static_cast<char>('a' + i)), 1000, false,
                     static_cast<std::uint64_t>(i + 1));
    s.attributes.push_back({"order.type", std::string(1 << 20, 'x')});
    model::SpanBatch batch;
    batch.push_back(std::move(s));
    metrics.record(batch);
  }
  const auto text = render(metrics, telemetry::Format::Prometheus);
  // Per series: (buckets + 5) lines of at most 300 bytes plus its label values.
  const std::size_t per_series = (config.buckets.size() + 5) * (300 + 3 * 128);
  CHECK(text.size() < (config.max_series + 1) * per_series);
  CHECK_THAT(text, Contains(std::string(125, 'a') + "\xE2\x80\xA6\""));
  CHECK_THAT(text, Contains(std::string(125, 'x') + "\xE2\x80\xA6\""));
  CHECK_THAT(text, Contains("tailgate_span_metrics_label_values_cut_total 25"));
}

TEST_CASE("label values: escaped, and bytes that are not UTF-8 replaced", "[spanmetrics]") {
  spanmetrics::SpanMetrics metrics(config::SpanMetricsConfig{});
  metrics.record(model::SpanBatch{span_of(kOrders, "a\\b\"c\nd\xff", 1000, false, 1)});
  const auto text = render(metrics, telemetry::Format::Prometheus);
  CHECK_THAT(text, Contains("span_name=\"a\\\\b\\\"c\\nd\xEF\xBF\xBD\""));
}

TEST_CASE("a dimension whose key is redacted shows the scrubber's keyed hash, never the value",
          "[spanmetrics]") {
  telemetry::Counters counters;
  config::RedactionConfig redaction;
  redaction.hash_key = "k";
  scrub::Scrubber scrubber(redaction, config::LimitsConfig{}, counters);
  config::SpanMetricsConfig config;
  config.dimensions = {"api_key", "db.url"};
  spanmetrics::SpanMetrics metrics(config, &scrubber);
  auto s = span_of(kOrders, "place", 1000, false, 1);
  s.attributes.push_back({"api_key", std::string("sk-live-SECRET")});
  s.attributes.push_back({"db.url", std::string("postgres://u:SECRET@h/db")});
  metrics.record(model::SpanBatch{s});
  const auto text = render(metrics, telemetry::Format::Prometheus);
  CHECK(text.find("SECRET") == std::string::npos);
  CHECK_THAT(text, Contains("api_key=\"" + scrubber.keyed_hash("sk-live-SECRET") + "\""));
  CHECK_THAT(text, Contains("db_url=\"postgres://u:REDACTED@h/db\""));
}

TEST_CASE("an array dimension is a JSON label, a secret one its elements' hashes",
          "[spanmetrics]") {
  telemetry::Counters counters;
  config::RedactionConfig redaction;
  redaction.hash_key = "k";
  scrub::Scrubber scrubber(redaction, config::LimitsConfig{}, counters);
  config::SpanMetricsConfig config;
  config.dimensions = {"order.venues", "order.lots", "api_key"};
  spanmetrics::SpanMetrics metrics(config, &scrubber);
  auto s = span_of(kOrders, "place", 1000, false, 1);
  s.attributes.push_back(
      {"order.venues", model::ArrayValue(std::vector<std::string>{"binance", "o\"kx"})});
  s.attributes.push_back({"order.lots", model::ArrayValue(std::vector<double>{0.5, 2})});
  s.attributes.push_back(
      {"api_key", model::ArrayValue(std::vector<std::string>{"sk-SECRET-1", "sk-SECRET-2"})});
  metrics.record({s, testing::packed(s)});  // decoded, and packed as the ring hands it on
  const auto m = metrics.snapshot();
  REQUIRE(m.series.size() == 1);
  CHECK(m.series[0].calls == 2);
  const auto text = render(metrics, telemetry::Format::Prometheus);
  CHECK(text.find("SECRET") == std::string::npos);
  CHECK_THAT(text, Contains(R"(order_venues="[\"binance\",\"o\\\"kx\"]")"));
  CHECK_THAT(text, Contains(R"(order_lots="[0.5,2]")"));
  CHECK_THAT(text, Contains(R"(api_key="[\")" + scrubber.keyed_hash("sk-SECRET-1") + R"(\",\")" +
                            scrubber.keyed_hash("sk-SECRET-2") + R"(\"]")"));
}
