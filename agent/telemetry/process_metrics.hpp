#pragma once
// The process metrics every Prometheus exporter has (process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds ...; the names and types of the Prometheus
// client libraries, so stock dashboards and alerts work), read from /proc at scrape time, and
// tailgate_build_info. Any thread.

#include <string_view>

#include "telemetry/exposition.hpp"

namespace tailgate::telemetry {

/// Appends the process_* families (those /proc could be read for) and tailgate_build_info.
void process_metrics(Exposition& out);

/// The agent's version, as `tailgate --version` prints it.
[[nodiscard]] std::string_view build_version() noexcept;

}  // namespace tailgate::telemetry
