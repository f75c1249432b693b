#pragma once
// Renders the agent's counters in the Prometheus text exposition format 0.0.4. Names follow the
// Prometheus conventions: tailgate_<noun>_<unit>_total for counters, base units (seconds,
// bytes), closed label sets. Pure: any thread, given a consistent-enough snapshot.

#include <cstdint>
#include <string>
#include <vector>

#include "telemetry/counters.hpp"
#include "telemetry/exposition.hpp"

namespace tailgate::telemetry {

struct PolicyCounts {
  std::string name;
  std::uint64_t kept_traces = 0;
  std::uint64_t sampled_out_traces = 0;
};

/// Values read from the stages at scrape time.
struct Gauges {
  std::uint64_t pipeline_queue_spans = 0;
  std::uint64_t pipeline_queue_capacity = 0;
  std::uint64_t export_queue_spans = 0;
  std::uint64_t export_queue_capacity = 0;
  std::uint64_t export_queue_bytes = 0;
  double start_time_unix_seconds = 0;
  std::uint64_t pipeline_queue_bytes = 0;
};

/// Appends the agent's own families to `out` (Prometheus text or OpenMetrics).
void prometheus_text(Exposition& out, const Counters& counters, const Gauges& gauges,
                     const std::vector<PolicyCounts>& policies);

}  // namespace tailgate::telemetry
