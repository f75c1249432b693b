#pragma once
// Jaeger's agent protocol: one Thrift `Agent.emitBatch` oneway call per UDP datagram, in the
// compact protocol (port 6831: most Jaeger clients, OpenTelemetry's Jaeger exporter) or the binary
// protocol (port 6832: the Node.js client). Decoded with Apache Thrift's C++ library from
// proto/jaeger/jaeger_agent.thrift and mapped to the agent's span model:
//   process service name and tags → resource;  tags → typed attributes (binary as base64 text);
//   logs → events (the "event" field names them);  64-bit high/low trace ids → 128-bit ids;
//   parentSpanId, or else a CHILD_OF reference in the same trace → parent; other references →
//   links (attribute opentracing.ref_type);  tags error=true / otel.status_code → status;
//   span.kind → kind;  w3c.tracestate → trace state.
// A server or consumer span with a parent is the entry into this process (the parent is remote).
// Hostile input is bounded: no string, list or message may claim more bytes than the datagram
// holds, nesting is capped, and a datagram that fails to decode adds nothing. Pure; any thread.

#include <cstddef>
#include <span>
#include <string>

#include "model/span.hpp"
#include "receivers/udp_receiver.hpp"

namespace tailgate::receivers::jaeger {

enum class Protocol { Compact, Binary };

struct DecodeResult {
  std::size_t spans = 0;      ///< appended to the batch
  std::size_t malformed = 0;  ///< 1 for a datagram that did not decode, else spans refused
  std::string error;          ///< why, for the log (first problem only)
};

/// Decodes one datagram and appends its spans to `out` (nothing, if the datagram is malformed).
DecodeResult decode_emit_batch(std::span<const std::byte> datagram, Protocol protocol,
                               model::SpanBatch& out);

/// decode_emit_batch as a UDP receiver's decoder (the Jaeger twin of native_decoder()).
[[nodiscard]] DatagramDecoder decoder(Protocol protocol);

}  // namespace tailgate::receivers::jaeger
