// Each endpoint's status code and body in the states that matter, from a Snapshot alone.
#include "admin/routes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace tailgate;
using Catch::Matchers::Contains;

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;

struct Fixture {
  telemetry::Counters counters;
  config::AdminConfig config;  // stall_after 5s, export_failing_after 30s, high water 0.8

  admin::Snapshot at(std::uint64_t now_s) {
    admin::Snapshot s;
    s.counters = &counters;
    s.now_ns = now_s * kSecond;
    s.receivers_bound = true;
    s.gauges.export_queue_capacity = 1000;
    s.gauges.pipeline_queue_capacity = 1000;
    return s;
  }
  admin::Response get(const std::string& path, const admin::Snapshot& s) {
    return admin::handle("GET", path, s, config);
  }
};

}  // namespace

TEST_CASE("/health is 200 while the pipeline thread turns and 503 once it is stuck", "[admin]") {
  Fixture f;
  f.counters.pipeline_heartbeat_ns = 100 * kSecond;
  CHECK(f.get("/health", f.at(101)).status == 200);
  const auto stalled = f.get("/health", f.at(106));
  CHECK(stalled.status == 503);
  CHECK_THAT(stalled.body, Contains("pipeline_stalled"));
  f.counters.pipeline_heartbeat_ns = 0;  // never turned at all
  CHECK(f.get("/health", f.at(1)).status == 503);
}

TEST_CASE("/ready says whether spans can be taken, and export trouble is a warning, not a 503",
          "[admin]") {
  Fixture f;
  CHECK(f.get("/ready", f.at(100)).status == 200);  // nothing sent yet: ready

  auto unbound = f.at(100);
  unbound.receivers_bound = false;
  const auto not_bound = f.get("/ready", unbound);
  CHECK(not_bound.status == 503);
  CHECK_THAT(not_bound.body, Contains("receivers_not_bound"));

  // A Jaeger outage must not take the trading pod out of its Service.
  f.counters.export_failing_since_ns = 100 * kSecond;
  CHECK(nlohmann::json::parse(f.get("/ready", f.at(129)).body)["warnings"].empty());
  const auto failing = f.get("/ready", f.at(131));
  CHECK(failing.status == 200);
  CHECK(nlohmann::json::parse(failing.body)["warnings"][0] == "export_failing");
  CHECK_THAT(f.get("/metrics", f.at(131)).body,
             Contains("tailgate_export_failing_seconds 31"));
  f.counters.export_failing_since_ns = 0;  // a success came back
  CHECK(nlohmann::json::parse(f.get("/ready", f.at(132)).body)["warnings"].empty());
  CHECK_THAT(f.get("/metrics", f.at(132)).body, Contains("tailgate_export_failing_seconds 0"));

  auto full = f.at(140);
  full.gauges.export_queue_spans = 900;
  const auto backed_up = f.get("/ready", full);
  CHECK(backed_up.status == 200);
  CHECK_THAT(backed_up.body, Contains("export_queue_above_high_water"));
}

TEST_CASE("/drop-rate reports windows and degrades past its thresholds", "[admin]") {
  Fixture f;
  auto s = f.at(60);
  s.windows = {{"1m",
                60,
                {.received = 100000,
                 .dropped = 50,
                 .sampled_out = 90000,
                 .export_requests = 100,
                 .export_failures = 0}},
               {"since_start", 60, {.received = 100000, .dropped = 50}}};
  auto body = nlohmann::json::parse(f.get("/drop-rate", s).body);
  CHECK(body["status"] == "ok");  // 0.05% < 0.1%
  CHECK(body["windows"]["1m"]["sampled_out"] == 90000);
  CHECK(body["windows"]["1m"]["drop_rate"].get<double>() == Approx(50.0 / 100050));

  s.windows[0].delta.dropped = 500;
  body = nlohmann::json::parse(f.get("/drop-rate", s).body);
  CHECK(body["status"] == "degraded");
  s.windows[0].delta.dropped = 0;
  s.windows[0].delta.export_failures = 5;  // 5% of requests failed
  CHECK(nlohmann::json::parse(f.get("/drop-rate", s).body)["windows"]["1m"]["status"] ==
        "degraded");
}

TEST_CASE("/metrics is Prometheus text with every counter", "[admin]") {
  Fixture f;
  f.counters.add_received(telemetry::Receiver::Udp, 7);
  f.counters.add_dropped(telemetry::DropReason::Malformed, 2);
  f.counters.observe_export_latency(3000);  // 3 ms
  auto s = f.at(1);
  s.policies = {{"error", 4, 0}, {"we\"ird", 1, 2}};
  const auto r = f.get("/metrics", s);
  CHECK(r.status == 200);
  CHECK_THAT(r.content_type, Contains("version=0.0.4"));
  CHECK_THAT(r.body, Contains("tailgate_spans_received_total{receiver=\"udp\"} 7"));
  CHECK_THAT(r.body, Contains("tailgate_spans_dropped_total{reason=\"malformed\"} 2"));
  CHECK_THAT(r.body,
             Contains("tailgate_traces_decided_total{policy=\"error\",outcome=\"kept\"} 4"));
  CHECK_THAT(r.body, Contains("policy=\"we\\\"ird\""));  // label values are escaped
  CHECK_THAT(r.body, Contains("tailgate_export_latency_seconds_bucket{le=\"0.0025\"} 0"));
  CHECK_THAT(r.body, Contains("tailgate_export_latency_seconds_bucket{le=\"0.005\"} 1"));
  CHECK_THAT(r.body, Contains("tailgate_export_latency_seconds_count 1"));
}

TEST_CASE("/metrics is OpenMetrics with span metrics when the scraper asks for it", "[admin]") {
  Fixture f;
  f.counters.add_received(telemetry::Receiver::Udp, 7);
  spanmetrics::SpanMetrics span_metrics(config::SpanMetricsConfig{});
  auto s = f.at(1);
  s.span_metrics = &span_metrics;
  const auto om = admin::handle(
      "GET", "/metrics", s, f.config,
      "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
  CHECK(om.content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8");
  CHECK_THAT(om.body, Contains("# TYPE tailgate_spans_received counter\n"
                               "tailgate_spans_received_total{receiver=\"udp\"} 7"));
  CHECK_THAT(om.body, Contains("# TYPE tailgate_span_duration_seconds histogram"));
  CHECK(om.body.ends_with("# EOF\n"));
  const auto text = admin::handle("GET", "/metrics", s, f.config, "text/plain");
  CHECK_THAT(text.content_type, Contains("version=0.0.4"));
  CHECK_THAT(text.body, Contains("# TYPE tailgate_spans_received_total counter"));
  CHECK(text.body.find("# EOF") == std::string::npos);
}

TEST_CASE("unknown paths are 404, other methods 405 with Allow", "[admin]") {
  Fixture f;
  CHECK(f.get("/nope", f.at(1)).status == 404);
  const auto post = admin::handle("POST", "/metrics", f.at(1), f.config);
  CHECK(post.status == 405);
  CHECK(post.allow == "GET, HEAD");
  CHECK(f.get("/health?verbose=1", f.at(1)).status != 404);  // a query string is ignored
}
