#pragma once
// The agent's self-telemetry: one struct of relaxed atomic counters, written by every stage's
// thread and read by the logs (and later /metrics). Counters are monotonic; relaxed order is
// enough because no reader infers anything about other memory from a counter's value.
//
// Accounting, for decoded spans: received = exported + sampled_out + dropped(after decode)
// + in flight (buffered, queued, or waiting in the peers hold). Records lost before they were spans
// (malformed, kernel buffer, producer LOSS records) are dropped too, but were never "received". Bad
// input refused by a receiver (a request that does not parse, a span with a zero id) is neither
// received nor dropped: it is counted as rejected, apart, and left out of the drop rate (nothing
// good was lost).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tailgate::telemetry {

enum class Receiver : std::uint8_t {
  Udp,            ///< tailgate's own datagrams
  Ring,           ///< shared-memory segments
  JaegerCompact,  ///< Jaeger Thrift, compact protocol (UDP 6831)
  JaegerBinary,   ///< Jaeger Thrift, binary protocol (UDP 6832)
  OtlpGrpc,       ///< OTLP/gRPC (4317)
  OtlpHttp,       ///< OTLP/HTTP (4318)
  kCount
};
[[nodiscard]] std::string_view to_string(Receiver r) noexcept;

enum class DropReason : std::uint8_t {
  Malformed,        ///< a record that did not decode (before it was a span)
  KernelBuffer,     ///< datagrams the kernel dropped: the socket receive buffer was full
  ProducerLoss,     ///< spans a producer dropped and reported in a LOSS record
  PipelineFull,     ///< the pipeline's inbox was full
  ExportQueueFull,  ///< the exporter's queue was full
  ExportFailed,     ///< export gave up: non-retryable error, or retries exhausted
  ExportRejected,   ///< the backend accepted the request but rejected these spans
  SpoolFull,        ///< undeliverable now, and the spool was full (or unwritable, or off)
  TraceLimit,       ///< a kept trace's spans past limits.max_spans_per_trace
  SpoolCorrupt,     ///< in a spool file found damaged (count from its name or header), removed
  kCount
};
[[nodiscard]] std::string_view to_string(DropReason r) noexcept;
/// Whether the reason loses spans that were counted as received (see the identity above).
[[nodiscard]] bool after_decode(DropReason r) noexcept;

/// Why a receiver refused a request (a datagram, an HTTP or gRPC request) or a span in one.
enum class RejectReason : std::uint8_t {
  Malformed,    ///< did not decode
  Empty,        ///< a zero-length datagram, a Jaeger batch without spans
  TooLarge,     ///< past max_request_bytes (HTTP 413, gRPC RESOURCE_EXHAUSTED)
  Unsupported,  ///< another path, method, content type or encoding (HTTP 404, 405, 415)
  ZeroId,       ///< a span whose trace id or span id is all zeros
  kCount
};
[[nodiscard]] std::string_view to_string(RejectReason r) noexcept;

/// a + b, stopping at the largest value instead of wrapping: for counts that come from outside.
[[nodiscard]] constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/// What made the pipeline decide a trace.
enum class DecisionTrigger : std::uint8_t {
  Root,      ///< root span seen, decision_wait passed
  Timeout,   ///< max_trace_age passed without a root
  TraceCap,  ///< the trace hit max_spans_per_trace or max_bytes_per_trace
  Memory,    ///< max_buffered_bytes reached: oldest decided early
  Stress,    ///< load shedding: decided on arrival by trace id
  Shutdown,  ///< the agent is stopping
  FastPath,  ///< kept at once: an error or a slow trace
  Peer,      ///< another agent of the fleet kept it (peers)
  kCount
};
[[nodiscard]] std::string_view to_string(DecisionTrigger t) noexcept;

/// What limits.* cut from kept spans.
enum class Limit : std::uint8_t {
  AttributeValueBytes,  ///< string values cut
  AttributesPerSpan,    ///< attributes left out
  EventsPerSpan,        ///< events left out
  SpanNameBytes,        ///< span names cut
  kCount
};
[[nodiscard]] std::string_view to_string(Limit l) noexcept;

/// How a keep shared between agents (peers, docs/fleet.md) was lost.
enum class PeerLoss : std::uint8_t {
  PublishQueueFull,  ///< keeps to publish: the queue was full (Redis slow or down)
  PublishFailed,     ///< Redis refused the keep, or the connection broke while sending it
  FollowQueueFull,   ///< peers' keeps: the pipeline's queue was full
  Malformed,         ///< a stream entry that is not a keep
  /// Another agent's keeps never read here: gaps in its numbering (trimmed from the stream, past
  /// max_stream_length, before this agent read them; or refused by Redis)
  Missed,
  kCount
};
[[nodiscard]] std::string_view to_string(PeerLoss l) noexcept;

/// The peers stage's two Redis connections.
enum class PeerConnection : std::uint8_t { Publish, Follow, kCount };
[[nodiscard]] std::string_view to_string(PeerConnection c) noexcept;

using Counter = std::atomic<std::uint64_t>;

/// Upper bounds of the export latency histogram, in seconds (Prometheus `le`); one more bucket
/// holds everything slower.
inline constexpr std::size_t kExportLatencyBuckets = 12;
inline constexpr std::array<double, kExportLatencyBuckets> kExportLatencyBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

struct Counters {
  std::array<Counter, static_cast<std::size_t>(Receiver::kCount)> spans_received{};
  Counter datagrams_received{0};
  std::array<Counter, static_cast<std::size_t>(DropReason::kCount)> dropped{};
  Counter spans_sampled_out{0};
  Counter spans_kept{0};  ///< decided kept and accepted by the exporter's queue (incl. late)
  std::array<Counter, static_cast<std::size_t>(DecisionTrigger::kCount)> decisions{};
  Counter late_spans_kept{0};           ///< arrived after their trace was kept
  Counter late_spans_sampled_out{0};    ///< arrived after their trace was sampled out
  Counter attributes_redacted{0};       ///< values removed or hashed by redaction
  Counter url_credentials_redacted{0};  ///< passwords in URLs (scheme://user:pass@host) redacted
  /// Strings of kept spans (and their resources) with invalid UTF-8, made valid (U+FFFD) before
  /// export: a backend refuses a whole request over one.
  Counter utf8_strings_repaired{0};
  std::array<Counter, static_cast<std::size_t>(Limit::kCount)> limits_applied{};
  // Gauges, set by the pipeline thread at each tick.
  Counter traces_buffered{0};
  Counter spans_buffered{0};
  Counter bytes_buffered{0};
  Counter key_tables_live{0};     ///< attribute-key tables buffered spans refer to (at most 3)
  Counter key_tables_renewed{0};  ///< a counter: tables replaced once full of keys seen once
  Counter stressed{0};            ///< 1 while shedding load
  Counter base_probability_ppm{0};
  Counter pipeline_heartbeat_ns{0};  ///< steady-clock ns of the pipeline loop's last turn
  // Export health, for /ready: steady-clock ns of the last success, and of the first failure
  // since then (0: not failing).
  Counter export_last_success_ns{0};
  Counter export_failing_since_ns{0};
  /// Export request latency: cumulative-free buckets (le = kExportLatencyBounds), sum in µs.
  std::array<Counter, kExportLatencyBuckets + 1> export_latency{};
  Counter export_latency_sum_us{0};
  // The disk spool. Spans recovered from an earlier run's spool count as received again, so the
  // identity becomes received + recovered = exported + sampled_out + dropped + spooled + in
  // flight. Spans of a corrupt spool file count as recovered (when its name or header says how
  // many) and as dropped spool_corrupt; corrupt files whose count is unknown are counted in
  // files and bytes only.
  Counter spool_spans_written{0};
  Counter spool_spans_recovered{0};
  Counter spool_batches_replayed{0};
  Counter spool_corrupt_files{0};
  Counter spool_corrupt_bytes{0};
  /// Default spool/state locations passed over at start-up (unusable, or another agent's).
  Counter spool_location_fallbacks{0};
  Counter spool_bytes{0};             ///< gauge
  Counter spool_spans{0};             ///< gauge
  Counter ring_segments_attached{0};  ///< gauge
  Counter ring_segments_refused{0};   ///< bad header, mode, owner or name; or over max_segments
  /// Attached segments given up because their file shrank under the agent (their unread spans
  /// are lost with them, uncountable: the bytes are gone).
  Counter ring_segments_lost{0};
  Counter ring_producers_reaped{0};  ///< producers found dead, drained and removed
  /// OTLP requests answered "retry later" (gRPC UNAVAILABLE, HTTP 503) because the pipeline's
  /// queue was full: not received, not lost; the sender retries.
  Counter otlp_requests_refused{0};
  static constexpr std::size_t kReceivers = static_cast<std::size_t>(Receiver::kCount);
  static constexpr std::size_t kRejectReasons = static_cast<std::size_t>(RejectReason::kCount);
  /// Requests (datagrams, HTTP and gRPC requests) refused whole, and spans (or wire records)
  /// refused one by one from requests otherwise taken: by receiver, then reason.
  std::array<std::array<Counter, kRejectReasons>, kReceivers> requests_rejected{};
  std::array<std::array<Counter, kRejectReasons>, kReceivers> spans_rejected{};
  /// Loss reports (UDP loss records, Jaeger client stats, ring loss counts) that claimed more than
  /// their sender could have lost, credited only up to that bound (see each receiver).
  std::array<Counter, kReceivers> loss_reports_capped{};
  /// OTLP/gRPC requests answered retry-later because max_inflight_requests were being decoded.
  Counter otlp_requests_throttled{0};
  // Crash accounting (telemetry/run_state.hpp): what an earlier run that died held in memory.
  // Not in this run's identity: those spans were received by that run, not this one.
  Counter unclean_stops{0};
  Counter spans_lost_in_crash{0};
  Counter state_files_torn{0};
  // Peers (docs/fleet.md). Spans in the hold are in flight until rescued (then kept) or
  // released (then sampled out).
  Counter peer_keeps_published{0};
  Counter peer_keeps_received{0};  ///< other agents' keeps read from Redis
  std::array<Counter, static_cast<std::size_t>(PeerLoss::kCount)> peer_keeps_lost{};
  Counter peer_traces_followed{0};  ///< traces kept here because a peer kept them
  Counter peer_spans_rescued{0};    ///< sampled-out spans brought back from the hold by a keep
  Counter peer_spans_too_late{0};   ///< spans the hold had let go when their keep came
  std::array<Counter, static_cast<std::size_t>(PeerConnection::kCount)> peer_connected{};  ///< 0/1
  std::array<Counter, static_cast<std::size_t>(PeerConnection::kCount)> peer_reconnects{};
  std::array<Counter, static_cast<std::size_t>(PeerConnection::kCount)> peer_errors{};
  Counter hold_spans{0};  ///< gauge
  Counter hold_bytes{0};  ///< gauge
  // The hold also keeps spans sampled out before their trace was whole (stress, memory): a later
  // error or slow span revives them. Spans let go before a keep came were counted sampled out
  // then; the keep counts them again here (not in the identity), so a partial trace shows.
  Counter hold_spans_revived{0};
  Counter traces_kept_incomplete{0};
  Counter kept_spans_missing{0};
  void add_peer_loss(PeerLoss l, std::uint64_t n = 1) noexcept {
    peer_keeps_lost[static_cast<std::size_t>(l)].fetch_add(n, std::memory_order_relaxed);
  }
  Counter config_reloads_ok{0};
  Counter config_reloads_failed{0};
  // Jaeger remote sampling (receivers/jaeger_sampling.hpp): strategies answered, requests refused.
  Counter jaeger_sampling_served{0};
  Counter jaeger_sampling_refused{0};

  void observe_export_latency(std::uint64_t micros) noexcept;
  Counter spans_exported{0};
  Counter export_requests_ok{0};
  Counter export_requests_failed{0};  ///< each failed attempt, retried or not
  Counter export_retries{0};

  void add_received(Receiver r, std::uint64_t n) noexcept {
    spans_received[static_cast<std::size_t>(r)].fetch_add(n, std::memory_order_relaxed);
  }
  void add_rejected_requests(Receiver r, RejectReason why, std::uint64_t n = 1) noexcept {
    requests_rejected[static_cast<std::size_t>(r)][static_cast<std::size_t>(why)].fetch_add(
        n, std::memory_order_relaxed);
  }
  void add_rejected_spans(Receiver r, RejectReason why, std::uint64_t n) noexcept {
    spans_rejected[static_cast<std::size_t>(r)][static_cast<std::size_t>(why)].fetch_add(
        n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t requests_rejected_of(Receiver r, RejectReason why) const noexcept {
    return requests_rejected[static_cast<std::size_t>(r)][static_cast<std::size_t>(why)].load(
        std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t spans_rejected_of(Receiver r, RejectReason why) const noexcept {
    return spans_rejected[static_cast<std::size_t>(r)][static_cast<std::size_t>(why)].load(
        std::memory_order_relaxed);
  }
  void add_dropped(DropReason r, std::uint64_t n) noexcept {
    dropped[static_cast<std::size_t>(r)].fetch_add(n, std::memory_order_relaxed);
  }
  void add_decision(DecisionTrigger t) noexcept {
    decisions[static_cast<std::size_t>(t)].fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t decisions_of(DecisionTrigger t) const noexcept {
    return decisions[static_cast<std::size_t>(t)].load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t received() const noexcept;
  [[nodiscard]] std::uint64_t dropped_of(DropReason r) const noexcept {
    return dropped[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t dropped_after_decode() const noexcept;
};

}  // namespace tailgate::telemetry
