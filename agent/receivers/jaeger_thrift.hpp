#pragma once
// Jaeger's agent protocol: one Thrift `Agent.emitBatch` oneway call per UDP datagram, in the
// compact protocol (port 6831: most Jaeger clients, OpenTelemetry's Jaeger exporter) or the binary
// protocol (port 6832: the Node.js client). Read straight into spans with packed items by
// jaeger_packed.hpp (the receivers' decoder), or, as its reference, decoded with Apache Thrift's
// C++ library from proto/jaeger/jaeger_agent.thrift; both map to the agent's span model so:
//   process service name and tags → resource;  tags → typed attributes (binary as base64 text);
//   logs → events (the "event" field names them);  64-bit high/low trace ids → 128-bit ids;
//   parentSpanId, or else a CHILD_OF reference in the same trace → parent; other references →
//   links (attribute opentracing.ref_type);  tags error=true / otel.status_code → status;
//   span.kind → kind;  w3c.tracestate → trace state.
// A server or consumer span with a parent is the entry into this process (the parent is remote).
// The spans a client says it dropped (Batch.stats: its queue full, spans too large, sends that
// failed; totals since it started) count as producer losses, per client (process tag
// client-uuid), as what is new since its last report; the UDP receiver credits at most
// kMaxLossPerDatagram of it per datagram (a report is the client's word, and anyone can send one).
// Hostile input is bounded: no string, list or message may claim more bytes than the datagram
// holds, nesting is capped, and a datagram that fails to decode adds nothing. Pure; any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "model/span.hpp"
#include "receivers/udp_receiver.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::receivers::jaeger {

enum class Protocol { Compact, Binary };

/// A client's own drop counts (Jaeger's ClientStats), totals since the client started.
struct ClientStats {
  std::string client_uuid;  ///< the process tag client-uuid
  std::uint64_t full_queue = 0;
  std::uint64_t too_large = 0;
  std::uint64_t failed_to_emit = 0;
  /// Saturating: the counts are the client's word, up to 2^63 each.
  [[nodiscard]] std::uint64_t total() const noexcept {
    return telemetry::saturating_add(telemetry::saturating_add(full_queue, too_large),
                                     failed_to_emit);
  }
};

struct DecodeResult {
  std::size_t spans = 0;              ///< appended to the batch
  std::size_t malformed = 0;          ///< 1 for a datagram that did not decode
  std::size_t zero_ids = 0;           ///< spans refused: an all-zero trace or span id
  bool empty = false;                 ///< a batch without spans (and without client stats)
  std::string error;                  ///< why, for the log (first problem only)
  std::optional<ClientStats> client;  ///< the batch's stats, if it had them and a client-uuid
};

/// Turns the totals clients report into what each lost since its previous report. The first
/// report of a client counts its totals whole; a total that went down is a client that started
/// again under the same id, and counts whole too. Remembers up to kMaxClients clients (past it,
/// one is forgotten: its next report counts whole, an overcount rather than a loss unsaid).
/// Not thread-safe: one per receiver thread.
class ClientLosses final {
 public:
  static constexpr std::size_t kMaxClients = 4096;
  /// Spans `stats` reports lost since the client's previous report.
  std::uint64_t add(const ClientStats& stats);

 private:
  std::unordered_map<std::string, std::uint64_t> last_total_;
};

/// Decodes one datagram and appends its spans to `out` (nothing, if the datagram is malformed),
/// their items packed (jaeger_packed.hpp).
DecodeResult decode_emit_batch(std::span<const std::byte> datagram, Protocol protocol,
                               model::SpanBatch& out);

/// The same with Apache Thrift's generated objects, each span decoded: the reference the packed
/// decoder is checked against (tests, fuzz_jaeger_packed).
DecodeResult decode_emit_batch_thrift(std::span<const std::byte> datagram, Protocol protocol,
                                      model::SpanBatch& out);

/// decode_emit_batch as a UDP receiver's decoder, its buffers kept between datagrams (the Jaeger
/// twin of native_decoder()), its clients' reported drops as producer losses.
[[nodiscard]] DatagramDecoder decoder(Protocol protocol);

}  // namespace tailgate::receivers::jaeger
