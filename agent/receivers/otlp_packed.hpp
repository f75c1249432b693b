#pragma once
// OTLP trace requests' protobuf bytes straight into spans, without protobuf's objects: each span's
// items (attributes, events, links, status message, trace state) are written in the record
// format's item encoding (model::PackedItems), as the ring's spans arrive, and decoded only when
// the span is kept. The result is from_otlp's (otlp_decode.hpp), field for field once unpacked:
// the same spans refused for the same ids, the same requests refused as malformed (protowire.hpp
// holds to what protobuf accepts), and attribute values without a type in the item encoding
// (arrays, maps, bytes) made by the same value_of(). What the item encoding cannot hold (a string
// over 65,535 bytes, an event or link of over 255 attributes, a value sent twice in one
// attribute) is mapped by from_otlp's own map_span, so the span arrives decoded instead of
// packed. Resources are made once per ScopeSpans as from_otlp makes them, and shared by equal
// ones of the same request. Pure; any thread.

#include <optional>
#include <string>
#include <string_view>

#include "receivers/otlp_decode.hpp"

namespace tailgate::receivers::otlp {

/// Appends the request's valid spans to `out`, counting them (and the refused) in `result`.
/// Returns an empty string, or why `bytes` are not an ExportTraceServiceRequest: then nothing
/// is appended.
std::string from_otlp_bytes(std::string_view bytes, model::SpanBatch& out, IngestResult& result);

struct BytesAnswer {
  std::string malformed;  ///< why the request was refused, or empty
  /// The answer; nullopt with `malformed` empty: the queue was full (nothing taken), retry.
  std::optional<pb::ExportTraceServiceResponse> response;
};

/// accept() for a request's bytes, decoded by from_otlp_bytes. A malformed request is neither
/// queued nor counted here: the receivers count and answer it in their own protocol.
BytesAnswer accept_bytes(std::string_view bytes, model::SpanQueue& out,
                         telemetry::Counters& counters, telemetry::Receiver receiver);

}  // namespace tailgate::receivers::otlp
