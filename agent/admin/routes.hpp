#pragma once
// The admin endpoints as plain functions, Snapshot in and Response out, so they are tested
// without sockets: /health (liveness), /ready (readiness), /metrics (Prometheus text),
// /drop-rate (JSON over sliding windows), /debug/trace/<id> (JSON: what became of one trace,
// trace_route.cpp) and / (the status page, status_page.cpp). Unknown paths 404, other methods 405.
// Any thread; the snapshot holds everything they read.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "lookup/trace_log.hpp"
#include "spanmetrics/span_metrics.hpp"
#include "telemetry/counters.hpp"
#include "telemetry/drop_rate.hpp"
#include "telemetry/prometheus_text.hpp"

namespace tailgate::admin {

/// A producer (ring segment) as the status page shows it.
struct ProducerView {
  std::int64_t pid = 0;
  std::string process;  ///< /proc/<pid>/comm
  std::string service;  ///< service.name of its resource
  std::uint32_t lanes = 0;
  std::uint64_t spans = 0;
  std::uint64_t dropped = 0;  ///< records it dropped because a lane was full
  double fill = 0;            ///< its fullest lane's fill, 0..1
};

/// Read only by the status page: limits and what the other routes do not need.
struct StatusExtras {
  std::vector<ProducerView> producers;
  std::uint64_t max_buffered_bytes = 0;
  std::uint64_t spool_max_bytes = 0;  ///< 0: no spool
  std::vector<std::string> last_errors;
  /// Per receiver: spans a second over the last minute (or since start), by Receiver index.
  std::vector<double> receiver_rates;
  /// Per policy: traces kept and sampled out over the last minute (as `policies` is ordered).
  std::vector<telemetry::PolicyCounts> policies_last_minute;
  double rate_window_seconds = 0;
};

struct Snapshot {
  const telemetry::Counters* counters = nullptr;
  const spanmetrics::SpanMetrics* span_metrics = nullptr;  ///< null when switched off
  std::uint64_t now_ns = 0;  ///< steady clock, as the pipeline heartbeat and export times
  bool receivers_bound = false;
  std::string ring_directory_problem;  ///< why the ring directory is refused, or empty
  /// Every reason a ring directory can be refused for, true for the one it is refused for now
  /// (tailgate_ring_directory_refused); empty without a ring receiver.
  std::vector<std::pair<std::string_view, bool>> ring_directory_refused;
  telemetry::Gauges gauges;
  std::vector<telemetry::PolicyCounts> policies;
  std::vector<telemetry::WindowRates> windows;
  std::uint64_t now_unix_ns = 0;  ///< the same moment on the wall clock, for "decided at"
  const lookup::TraceLog* trace_log = nullptr;  ///< null when there is none
  /// Asks the pipeline thread about a trace (buffered? in the decision cache?); may be empty.
  std::function<std::optional<lookup::Probe>(const model::TraceId&)> probe;
  StatusExtras status;  ///< what only the status page reads
};

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  ///< set on 405
};

/// `accept` is the request's Accept header: a scraper that asks for application/openmetrics-text
/// gets OpenMetrics 1.0.0 from /metrics (with exemplars), anyone else Prometheus text 0.0.4.
/// GET /debug/trace/<32 hex digits>: what the agent knows of that trace (trace_route.cpp).
[[nodiscard]] Response trace_route(std::string_view id_text, const Snapshot& snapshot);
/// GET /: the status page, HTML, refreshing itself (status_page.cpp).
[[nodiscard]] Response status_page(const Snapshot& snapshot, const config::AdminConfig& config);

[[nodiscard]] Response handle(std::string_view method, std::string_view target,
                              const Snapshot& snapshot, const config::AdminConfig& config,
                              std::string_view accept = {});

}  // namespace tailgate::admin
