#pragma once
// OTLP trace requests into the agent's span model: shared by the gRPC and HTTP receivers (and the
// fuzz target). A span with an id of the wrong length or all zeros is rejected (and counted by the
// caller as OTLP's partial success); the rest of the request is kept. Attribute values that the
// model has no type for follow OpenTelemetry's rule for such exporters: arrays and maps as JSON
// text, bytes as base64. Pure; any thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/span.hpp"
#include "model/span_queue.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "telemetry/counters.hpp"

namespace tailgate::receivers::otlp {

namespace pb = opentelemetry::proto::collector::trace::v1;

struct IngestResult {
  std::size_t spans = 0;     ///< appended
  std::size_t rejected = 0;  ///< refused (bad ids)
  std::size_t zero_ids = 0;  ///< of them, refused for an all-zero trace or span id
  std::string error;         ///< why the first was refused
};

/// Appends the request's valid spans to `out`. The reference for otlp_packed.hpp's decoder.
IngestResult from_otlp(const pb::ExportTraceServiceRequest& request, model::SpanBatch& out);

/// An attribute value as the model holds it: the one conversion of OTLP's AnyValue, which the
/// packed decoder uses too for the values it does not read itself (arrays, maps, bytes).
model::AttributeValue value_of(const opentelemetry::proto::common::v1::AnyValue& v);

using Attributes = google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>;
/// `in` as model attributes, with room for `room` more.
std::vector<model::Attribute> attributes_of(const Attributes& in, std::size_t room = 0);

/// Why a span was refused.
struct Refusal {
  const char* why;
  telemetry::RejectReason reason;
};
/// A span's ids into `span`, or why they refuse it (checked in this order: trace, span, parent).
std::optional<Refusal> map_ids(std::string_view trace_id, std::string_view span_id,
                               std::string_view parent_span_id, model::Span& span);
/// OTLP's flags, kind and status code into `span` (after its ids): codes outside the model's
/// range become unspecified and unset.
void map_codes(std::uint32_t flags, int kind, int status_code, model::Span& span);
/// An id of exactly N bytes, not all zero, into `out`.
template <std::size_t N>
bool id_of(std::string_view bytes, std::array<std::uint8_t, N>& out);

/// One span as from_otlp maps it (resource apart), or why it is refused.
std::optional<Refusal> map_span(const opentelemetry::proto::trace::v1::Span& in, model::Span& span);

/// A refused span, counted into `result`.
void note_refusal(const Refusal& refusal, IngestResult& result);

/// What accept() does once a request is decoded into `batch`: queue, count, answer.
std::optional<pb::ExportTraceServiceResponse> respond(model::SpanBatch& batch,
                                                      const IngestResult& result,
                                                      model::SpanQueue& out,
                                                      telemetry::Counters& counters,
                                                      telemetry::Receiver receiver);

/// What both OTLP receivers do with a parsed request: its valid spans go to the pipeline's queue,
/// counted as received from `receiver`, and rejected spans are counted (spans_rejected, by
/// reason) and answered as OTLP's partial success. While the queue is full nothing is taken and
/// nothing counted but the refusal: returns nullopt, and the caller tells the sender to retry.
std::optional<pb::ExportTraceServiceResponse> accept(const pb::ExportTraceServiceRequest& request,
                                                     model::SpanQueue& out,
                                                     telemetry::Counters& counters,
                                                     telemetry::Receiver receiver);

/// OTLP/JSON (ids as hex, enums as numbers, lowerCamelCase names) into a request. Returns an
/// empty string, or why the text is not an OTLP trace request.
std::string parse_json(std::string_view text, pb::ExportTraceServiceRequest& request);

/// The response in OTLP/JSON.
std::string to_json(const pb::ExportTraceServiceResponse& response);

/// Routes protobuf's own log lines (it logs each string field of invalid UTF-8 it parses) into the
/// agent's log, at most one line a second: a sender of bad requests must not flood stderr.
void route_protobuf_logs();

}  // namespace tailgate::receivers::otlp
