#pragma once
// The admin endpoints as plain functions, Snapshot in and Response out, so they are tested
// without sockets: /health (liveness), /ready (readiness), /metrics (Prometheus text),
// /drop-rate (JSON over sliding windows). Unknown paths 404, other methods 405.
// Any thread; the snapshot holds everything they read.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "spanmetrics/span_metrics.hpp"
#include "telemetry/counters.hpp"
#include "telemetry/drop_rate.hpp"
#include "telemetry/prometheus_text.hpp"

namespace tailgate::admin {

struct Snapshot {
  const telemetry::Counters* counters = nullptr;
  const spanmetrics::SpanMetrics* span_metrics = nullptr;  ///< null when switched off
  std::uint64_t now_ns = 0;  ///< steady clock, as the pipeline heartbeat and export times
  bool receivers_bound = false;
  telemetry::Gauges gauges;
  std::vector<telemetry::PolicyCounts> policies;
  std::vector<telemetry::WindowRates> windows;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  ///< set on 405
};

/// `accept` is the request's Accept header: a scraper that asks for application/openmetrics-text
/// gets OpenMetrics 1.0.0 from /metrics (with exemplars), anyone else Prometheus text 0.0.4.
[[nodiscard]] Response handle(std::string_view method, std::string_view target,
                              const Snapshot& snapshot, const config::AdminConfig& config,
                              std::string_view accept = {});

}  // namespace tailgate::admin
