#pragma once
// The exporter's request, shared by its two halves: otlp_exporter.cpp (batching, sending) and
// spool_replay.cpp (the spool, the probe, the order).

#include <cstdint>
#include <string>
#include <vector>

#include "export/otlp_exporter.hpp"

namespace tailgate::exporter {

struct OtlpExporter::Request {
  std::string body;  ///< a serialized ExportTraceServiceRequest
  std::size_t spans = 0;
  /// Its place in the order batches were cut (a spool sequence; 0 without a spool).
  std::uint64_t sequence = 0;
  std::uint64_t spool_sequence = 0;  ///< its file when it came from the spool; 0 otherwise
  int attempts = 0;
  bool probe = false;  ///< sent to learn whether the backend is back
  /// The traces its spans belong to, for the trace log (empty without one).
  std::vector<model::TraceId> traces;
  Clock::time_point first_attempt{};
  Clock::time_point next_attempt{};
};

}  // namespace tailgate::exporter
