#pragma once
// The read-only view of one buffered trace that sampling policies look at: its spans so far and
// the summary the trace table keeps as they arrive. Built by the pipeline thread for one decision.
// Spans are seen through SpanViews: buffered (packed) or decoded alike, never decoded for it.

#include <cstdint>

#include "model/packed_spans.hpp"
#include "model/span.hpp"

namespace tailgate::model {

struct Trace {
  TraceId trace_id{};
  SpanList spans;
  bool has_error = false;  ///< any span with status ERROR
  bool root_seen = false;
  std::uint64_t duration_ns = 0;  ///< earliest start to latest end over the spans so far
};

/// Whether any span of `trace` satisfies `predicate` (contrib's hasSpanWithCondition).
template <typename Predicate>
bool any_span(const Trace& trace, Predicate&& predicate) {
  for (const auto span : trace.spans) {
    if (predicate(span)) return true;
  }
  return false;
}

}  // namespace tailgate::model
