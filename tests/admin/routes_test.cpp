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
  CHECK_THAT(f.get("/metrics", f.at(131)).body, Contains("tailgate_export_failing_seconds 31"));
  f.counters.export_failing_since_ns = 0;  // a success came back
  CHECK(nlohmann::json::parse(f.get("/ready", f.at(132)).body)["warnings"].empty());
  CHECK_THAT(f.get("/metrics", f.at(132)).body, Contains("tailgate_export_failing_seconds 0"));

  auto full = f.at(140);
  full.gauges.export_queue_spans = 900;
  const auto backed_up = f.get("/ready", full);
  CHECK(backed_up.status == 200);
  CHECK_THAT(backed_up.body, Contains("export_queue_above_high_water"));
}

TEST_CASE("/ready is 503 while the ring directory is refused, and says why", "[admin]") {
  Fixture f;
  auto refused = f.at(100);
  refused.ring_directory_problem =
      "mode 2777 (owner uid 65534, group gid 65534) lets other users in";
  const auto r = f.get("/ready", refused);
  CHECK(r.status == 503);
  const auto body = nlohmann::json::parse(r.body);
  CHECK(body["reasons"][0] == "ring_directory_refused");
  CHECK(body["ring_directory"] == refused.ring_directory_problem);
}

TEST_CASE("/metrics shows a refused ring directory as 1 under its reason, 0 under the others",
          "[admin]") {
  Fixture f;
  auto refused = f.at(100);
  refused.ring_directory_refused = {{"open_to_others", true}, {"foreign_owner", false}};
  const auto body = f.get("/metrics", refused).body;
  CHECK_THAT(body, Contains("# TYPE tailgate_ring_directory_refused gauge"));
  CHECK_THAT(body, Contains("tailgate_ring_directory_refused{reason=\"open_to_others\"} 1\n"));
  CHECK_THAT(body, Contains("tailgate_ring_directory_refused{reason=\"foreign_owner\"} 0\n"));
  // Without a ring receiver there is no directory to refuse: no family at all.
  CHECK_THAT(f.get("/metrics", f.at(100)).body, !Contains("tailgate_ring_directory_refused"));
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
  // Drops after decode: of the 100,000 spans received, not besides them.
  CHECK(body["windows"]["1m"]["drop_rate"].get<double>() == Approx(50.0 / 100000));

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

namespace {

model::TraceId trace(std::uint8_t n) {
  model::TraceId id{};
  id[0] = 0x4b;
  id[15] = n;
  return id;
}

lookup::Decided decided(std::uint8_t n, bool kept, std::uint64_t at_s) {
  lookup::Decided d;
  d.id = trace(n);
  d.kept = kept;
  d.trigger = telemetry::DecisionTrigger::Root;
  d.policy = 0;
  d.probability = kept ? 1.0 : 0.01;
  d.decided_ns = at_s * kSecond;
  d.first_arrival_ns = d.decided_ns - kSecond / 2;
  d.spans = 4;
  d.root_seen = true;
  d.add_producer(std::make_shared<const model::Resource>(
      model::Resource{{{"service.name", std::string("<pricer>")}}, {}}));
  d.policy_names = std::make_shared<lookup::PolicyNames>(lookup::PolicyNames{"base"});
  d.export_state = kept ? lookup::ExportState::Queued : lookup::ExportState::None;
  return d;
}

}  // namespace

TEST_CASE("/debug/trace answers from the trace log, then the pipeline, and says what it forgot",
          "[admin][lookup]") {
  Fixture f;
  lookup::TraceLog log(8);
  log.record(decided(1, true, 90));
  const std::vector<model::TraceId> ids{trace(1)};
  log.set_export_state(ids, lookup::ExportState::Spooled);
  auto s = f.at(100);
  s.now_unix_ns = 1'700'000'000 * kSecond;
  s.trace_log = &log;
  int asked = 0;
  s.probe = [&](const model::TraceId& id) -> std::optional<lookup::Probe> {
    ++asked;
    lookup::Probe p;
    if (id == trace(2)) p.buffered = true, p.spans = 2;
    if (id == trace(3)) p.in_decision_cache = true, p.kept = false, p.policy = "base";
    return p;
  };
  const auto hex = [](std::uint8_t n) { return "/debug/trace/" + lookup::to_hex(trace(n)); };

  const auto kept = nlohmann::json::parse(f.get(hex(1), s).body);
  CHECK(kept["status"] == "kept");
  CHECK(kept["export"] == "spooled");
  CHECK(kept["decision"]["trigger"] == "root");
  CHECK(kept["decision"]["decided_seconds_ago"] == 10.0);
  CHECK(kept["decision"]["decided_at"] == "2023-11-14T22:13:10.000Z");
  CHECK(kept["producers"][0]["service.name"] == "<pricer>");
  CHECK(asked == 0);  // the log knew: the pipeline thread was not disturbed

  CHECK(nlohmann::json::parse(f.get(hex(2), s).body)["status"] == "buffered");
  const auto forgotten = nlohmann::json::parse(f.get(hex(3), s).body);
  CHECK(forgotten["status"] == "sampled_out");
  CHECK(forgotten["remembered"] == "decision_only");
  const auto unknown = nlohmann::json::parse(f.get(hex(4), s).body);
  CHECK(unknown["status"] == "unknown");
  CHECK(unknown["window"]["held"] == 1);

  s.probe = [](const model::TraceId&) { return std::optional<lookup::Probe>(); };  // no answer
  CHECK_THAT(nlohmann::json::parse(f.get(hex(4), s).body)["note"].get<std::string>(),
             Contains("did not answer"));
  CHECK(f.get("/debug/trace/4b", s).status == 400);
}

TEST_CASE("the status page is self-contained HTML with the agent's state, names escaped",
          "[admin][lookup]") {
  Fixture f;
  f.config.jaeger_ui_url = "http://jaeger.example:16686/";
  lookup::TraceLog log(8);
  log.record(decided(1, true, 90));
  auto s = f.at(100);
  s.trace_log = &log;
  s.policies = {{"base", 5, 7}, {"<b>bold</b>", 1, 0}};
  s.status.policies_last_minute = {{"base", 2, 3}, {"<b>bold</b>", 1, 0}};
  s.status.producers = {{4242, "pricer", "quotes", 8, 1000, 3, 0.25}};
  s.status.last_errors = {"2026-01-01T00:00:00 error event=export_failed <x>"};
  const auto page = f.get("/", s);
  CHECK(page.status == 200);
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK_THAT(page.body, Contains("<meta http-equiv=\"refresh\""));
  CHECK_THAT(page.body, Contains("<td>4242</td><td>pricer</td><td>quotes</td>"));
  CHECK_THAT(page.body, Contains("&lt;b&gt;bold&lt;/b&gt;"));
  CHECK_THAT(page.body, Contains("event=export_failed &lt;x&gt;"));
  CHECK_THAT(page.body, Contains("href=\"http://jaeger.example:16686/trace/" +
                                 lookup::to_hex(trace(1)) + "\""));
  // Offline: nothing loaded from elsewhere, no script.
  CHECK(page.body.find("<script") == std::string::npos);
  CHECK(page.body.find("src=") == std::string::npos);
  CHECK(page.body.find("<link") == std::string::npos);

  const auto metrics = f.get("/metrics", s).body;
  CHECK_THAT(metrics, Contains("tailgate_ring_fill_ratio{pid=\"4242\",process=\"pricer\"} 0.25"));
}
