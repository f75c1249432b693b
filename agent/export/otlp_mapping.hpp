#pragma once
// The one mapping from the agent's span model to OTLP protobuf, grouped as OTLP wants it: one
// ResourceSpans per distinct resource, one ScopeSpans inside it. Pure; callable from any thread.

#include <span>

#include "model/span.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace tailgate::exporter {

namespace otlp = opentelemetry::proto;

/// The instrumentation scope named on exported spans: our producers' client library.
inline constexpr const char* kScopeName = "tailgate";

/// Appends `spans` to `request`, grouping them by resource (equal resources share one group).
void append_spans(std::span<const model::Span> spans,
                  otlp::collector::trace::v1::ExportTraceServiceRequest& request);

/// One span, without its resource.
void to_otlp(const model::Span& span, otlp::trace::v1::Span& out);

}  // namespace tailgate::exporter
