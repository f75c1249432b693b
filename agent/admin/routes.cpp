#include "admin/routes.hpp"

#include <fmt/format.h>

#include <chrono>

#include <nlohmann/json.hpp>

namespace tailgate::admin {
namespace {

std::uint64_t to_ns(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

Response json(unsigned status, const nlohmann::json& body) {
  return {status, "application/json", body.dump() + "\n", {}};
}

Response health(const Snapshot& s, const config::AdminConfig& config) {
  const auto beat = s.counters->pipeline_heartbeat_ns.load(std::memory_order_relaxed);
  const auto age_ns = s.now_ns > beat ? s.now_ns - beat : 0;
  const bool alive = beat != 0 && age_ns < to_ns(config.stall_after);
  nlohmann::json body = {{"status", alive ? "ok" : "pipeline_stalled"},
                         {"pipeline_heartbeat_age_seconds", static_cast<double>(age_ns) / 1e9}};
  return json(alive ? 200 : 503, body);
}

std::uint64_t export_failing_ns(const Snapshot& s) {
  const auto since = s.counters->export_failing_since_ns.load(std::memory_order_relaxed);
  return since != 0 && s.now_ns > since ? s.now_ns - since : 0;
}

// Readiness gates the trading pod's traffic (a sidecar shares its pod's readiness), so it says
// only whether the agent can take spans. A Jaeger outage or a backed-up export queue must not
// take every trading pod out of its Service: they are reported here as warnings (200) and
// belong on /metrics, /drop-rate and alerts.
Response ready(const Snapshot& s, const config::AdminConfig& config) {
  std::vector<std::string> reasons;
  if (!s.receivers_bound) reasons.emplace_back("receivers_not_bound");
  // Producers write there and nothing reads it: this agent takes no spans from the ring.
  if (!s.ring_directory_problem.empty()) reasons.emplace_back("ring_directory_refused");
  std::vector<std::string> warnings;
  const auto failing_ns = export_failing_ns(s);
  if (failing_ns != 0 && failing_ns >= to_ns(config.export_failing_after)) {
    warnings.emplace_back("export_failing");
  }
  const double fill = s.gauges.export_queue_capacity == 0
                          ? 0.0
                          : static_cast<double>(s.gauges.export_queue_spans) /
                                static_cast<double>(s.gauges.export_queue_capacity);
  if (fill > config.queue_high_water) warnings.emplace_back("export_queue_above_high_water");
  nlohmann::json body = {{"status", reasons.empty() ? "ready" : "not_ready"},
                         {"reasons", reasons},
                         {"warnings", warnings},
                         {"export_failing_seconds", static_cast<double>(failing_ns) / 1e9},
                         {"export_queue_fill", fill}};
  if (!s.ring_directory_problem.empty()) body["ring_directory"] = s.ring_directory_problem;
  return json(reasons.empty() ? 200 : 503, body);
}

Response drop_rate(const Snapshot& s, const config::AdminConfig& config) {
  nlohmann::json windows = nlohmann::json::object();
  std::string overall = "ok";
  for (const auto& w : s.windows) {
    const bool drop_ok = w.drop_rate() <= config.drop_rate_threshold;
    const bool export_ok = w.export_failure_rate() <= config.export_failure_threshold;
    const std::string status = drop_ok && export_ok ? "ok" : "degraded";
    if (w.name == "1m") overall = status;  // the status answers "now", not the whole history
    windows[w.name] = {{"seconds", w.seconds},
                       {"received", w.delta.received},
                       {"dropped", w.delta.dropped},
                       {"rejected_requests", w.delta.rejected_requests},
                       {"rejected_spans", w.delta.rejected_spans},
                       {"sampled_out", w.delta.sampled_out},
                       {"drop_rate", w.drop_rate()},
                       {"export_requests", w.delta.export_requests},
                       {"export_failures", w.delta.export_failures},
                       {"export_failure_rate", w.export_failure_rate()},
                       {"status", status}};
  }
  return json(200, {{"status", overall},
                    {"thresholds",
                     {{"drop_rate", config.drop_rate_threshold},
                      {"export_failure_rate", config.export_failure_threshold}}},
                    {"windows", windows}});
}

}  // namespace

namespace {
Response metrics(const Snapshot& s, std::string_view accept) {
  const bool openmetrics = accept.find("application/openmetrics-text") != std::string_view::npos;
  telemetry::Exposition out(openmetrics ? telemetry::Format::OpenMetrics
                                        : telemetry::Format::Prometheus);
  telemetry::prometheus_text(out, *s.counters, s.gauges, s.policies);
  out.gauge("tailgate_export_failing_seconds",
            "How long exports have failed without a success (0: not failing); alert on it.",
            static_cast<double>(export_failing_ns(s)) / 1e9);
  // A closed label set: every reason, 1 on the one that holds (/ready says the same, 503).
  if (!s.ring_directory_refused.empty()) {
    out.family("tailgate_ring_directory_refused", "gauge",
               "1 while the ring directory is refused (no spans are read from it), under the "
               "reason why; 0 under every other reason.");
    for (const auto& [reason, refused] : s.ring_directory_refused) {
      out.sample("tailgate_ring_directory_refused", fmt::format("reason=\"{}\"", reason),
                 refused ? 1.0 : 0.0);
    }
  }
  // Per attached producer: a lane that fills is where it starts dropping; alert before it does.
  // The label values are bounded by receivers.ring.max_segments at any time.
  out.family("tailgate_ring_fill_ratio", "gauge",
             "Fill of each producer segment's fullest lane, 0 to 1 (drops start at 1).");
  for (const auto& p : s.status.producers) {
    out.sample(
        "tailgate_ring_fill_ratio",
        fmt::format("pid=\"{}\",process=\"{}\"", p.pid, telemetry::escape_label_value(p.process)),
        p.fill);
  }
  if (s.span_metrics != nullptr) spanmetrics::render(s.span_metrics->snapshot(), out);
  return {200,
          openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                      : "text/plain; version=0.0.4; charset=utf-8",
          out.take(),
          {}};
}
}  // namespace

Response handle(std::string_view method, std::string_view target, const Snapshot& snapshot,
                const config::AdminConfig& config, std::string_view accept) {
  const auto path = target.substr(0, target.find('?'));
  Response (*route)(const Snapshot&, const config::AdminConfig&) = nullptr;
  constexpr std::string_view kTrace = "/debug/trace/";
  const bool trace = path.starts_with(kTrace);
  if (path == "/" || path == "/index.html")
    route = status_page;
  else if (trace)
    route = nullptr;
  else if (path == "/health")
    route = health;
  else if (path == "/ready")
    route = ready;
  else if (path == "/drop-rate")
    route = drop_rate;
  else if (path == "/metrics")
    route = nullptr;
  else {
    return {404,
            "text/plain; charset=utf-8",
            "not found; try / /health /ready /metrics /drop-rate /debug/trace/<trace id>\n",
            {}};
  }
  if (method != "GET" && method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "method not allowed\n", "GET, HEAD"};
  }
  if (trace) return trace_route(path.substr(kTrace.size()), snapshot);
  return route != nullptr ? route(snapshot, config) : metrics(snapshot, accept);
}

}  // namespace tailgate::admin
