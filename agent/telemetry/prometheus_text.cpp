#include "telemetry/prometheus_text.hpp"

#include <fmt/format.h>

#include "telemetry/process_metrics.hpp"

namespace tailgate::telemetry {
namespace {

using Writer = Exposition;

std::uint64_t get(const Counter& c) {
  return c.load(std::memory_order_relaxed);
}

// A counter family with one sample per value of an enum (receiver, drop reason, trigger): the
// label set is closed because the enum is.
template <typename Enum, std::size_t N>
void per_enum(Writer& w, std::string_view name, std::string_view help, std::string_view label,
              const std::array<Counter, N>& counters) {
  w.family(name, "counter", help);
  for (std::size_t i = 0; i < N; ++i) {
    w.sample(name, fmt::format("{}=\"{}\"", label, to_string(static_cast<Enum>(i))),
             get(counters[i]));
  }
}

// A family by receiver and reason: every pair, so the label set is closed and a series exists
// before its first refusal.
void per_receiver_reason(
    Writer& w, std::string_view name, std::string_view help,
    const std::array<std::array<Counter, Counters::kRejectReasons>, Counters::kReceivers>& c) {
  w.family(name, "counter", help);
  for (std::size_t r = 0; r < c.size(); ++r) {
    for (std::size_t why = 0; why < c[r].size(); ++why) {
      w.sample(name,
               fmt::format("receiver=\"{}\",reason=\"{}\"", to_string(static_cast<Receiver>(r)),
                           to_string(static_cast<RejectReason>(why))),
               get(c[r][why]));
    }
  }
}

// Label values are our own names, but a policy name comes from the config: escape it.
std::string escape(std::string_view v) {
  return escape_label_value(v);
}

// Keep decisions shared between agents through Redis (peers.*, docs/fleet.md).
void peers(Writer& w, const Counters& c) {
  w.family("tailgate_peer_keeps_total", "counter",
           "Keep decisions shared between agents: published to Redis, received from peers.");
  w.sample("tailgate_peer_keeps_total", "direction=\"published\"", get(c.peer_keeps_published));
  w.sample("tailgate_peer_keeps_total", "direction=\"received\"", get(c.peer_keeps_received));
  per_enum<PeerLoss>(w, "tailgate_peer_keeps_lost_total",
                     "Shared keep decisions lost, by reason (the agent then decides alone).",
                     "reason", c.peer_keeps_lost);
  w.counter("tailgate_peer_traces_followed_total",
            "Traces kept here because another agent kept them.", get(c.peer_traces_followed));
  w.counter("tailgate_peer_spans_rescued_total",
            "Sampled-out spans brought back from the hold by a peer's keep.",
            get(c.peer_spans_rescued));
  w.counter("tailgate_peer_spans_too_late_total",
            "Spans the hold had already let go when a peer's keep for them came.",
            get(c.peer_spans_too_late));
  w.family("tailgate_peer_redis_connected", "gauge", "1 while the Redis connection is up.");
  for (std::size_t i = 0; i < c.peer_connected.size(); ++i) {
    w.sample("tailgate_peer_redis_connected",
             fmt::format("connection=\"{}\"", to_string(static_cast<PeerConnection>(i))),
             static_cast<double>(get(c.peer_connected[i])));
  }
  per_enum<PeerConnection>(w, "tailgate_peer_redis_reconnects_total",
                           "Redis connections made again after one was lost.", "connection",
                           c.peer_reconnects);
  per_enum<PeerConnection>(w, "tailgate_peer_redis_errors_total",
                           "Failed Redis connects and commands.", "connection", c.peer_errors);
  w.gauge("tailgate_hold_spans",
          "Sampled-out spans held in case their trace is kept after all (a later error or slow "
          "span, a peer's keep).",
          static_cast<double>(get(c.hold_spans)));
  w.gauge("tailgate_hold_bytes", "Memory of the held spans.",
          static_cast<double>(get(c.hold_bytes)));
  w.counter("tailgate_hold_spans_revived_total",
            "Sampled-out spans brought back from the hold by a later error or slow span of their "
            "trace.",
            get(c.hold_spans_revived));
  w.counter("tailgate_traces_kept_incomplete_total",
            "Kept traces missing spans this agent had sampled out and let go of before the keep.",
            get(c.traces_kept_incomplete));
  w.counter("tailgate_kept_spans_missing_total",
            "Spans of kept traces that this agent had let go of before the keep.",
            get(c.kept_spans_missing));
}

}  // namespace

void prometheus_text(Exposition& w, const Counters& c, const Gauges& g,
                     const std::vector<PolicyCounts>& policies) {
  per_enum<Receiver>(w, "tailgate_spans_received_total", "Spans decoded, by receiver.", "receiver",
                     c.spans_received);
  w.counter("tailgate_datagrams_received_total", "UDP datagrams received.",
            get(c.datagrams_received));
  w.gauge("tailgate_ring_segments", "Producer segments the ring receiver drains.",
          static_cast<double>(get(c.ring_segments_attached)));
  w.counter("tailgate_ring_segments_refused_total",
            "Segments refused: bad header, sizes, mode, owner or name, or over max_segments.",
            get(c.ring_segments_refused));
  w.counter("tailgate_ring_segments_lost_total",
            "Segments given up because their file shrank under the agent; their unread spans "
            "are lost.",
            get(c.ring_segments_lost));
  w.counter("tailgate_otlp_requests_refused_total",
            "OTLP requests answered retry-later because the pipeline queue was full.",
            get(c.otlp_requests_refused));
  per_receiver_reason(w, "tailgate_requests_rejected_total",
                      "Requests (datagrams, HTTP and gRPC requests) refused whole as bad input; "
                      "not drops.",
                      c.requests_rejected);
  per_receiver_reason(w, "tailgate_spans_rejected_total",
                      "Spans (udp: wire records) refused one by one as bad input; not drops.",
                      c.spans_rejected);
  per_enum<Receiver>(w, "tailgate_loss_reports_capped_total",
                     "Loss reports claiming more than their sender could have lost, credited to "
                     "spans_dropped_total{reason=\"producer_loss\"} only up to that bound.",
                     "receiver", c.loss_reports_capped);
  w.counter("tailgate_otlp_requests_throttled_total",
            "OTLP/gRPC requests answered retry-later because max_inflight_requests were being "
            "decoded.",
            get(c.otlp_requests_throttled));
  w.counter("tailgate_jaeger_sampling_requests_total",
            "Jaeger clients' sampling-strategy requests answered (probabilistic 1.0).",
            get(c.jaeger_sampling_served));
  w.counter("tailgate_jaeger_sampling_requests_refused_total",
            "Requests to the Jaeger sampling endpoint refused (no service, wrong path or method).",
            get(c.jaeger_sampling_refused));
  w.counter("tailgate_ring_producers_reaped_total",
            "Producers found dead, drained and their segments removed.",
            get(c.ring_producers_reaped));
  per_enum<DropReason>(
      w, "tailgate_spans_dropped_total",
      "Spans lost, by reason (malformed counts ring records, kernel_buffer datagrams).", "reason",
      c.dropped);
  w.counter("tailgate_spans_sampled_out_total",
            "Spans not kept by the sampling decision (a decision, not a drop).",
            get(c.spans_sampled_out));
  w.counter("tailgate_spans_kept_total", "Spans kept and handed to the exporter.",
            get(c.spans_kept));
  w.counter("tailgate_spans_exported_total", "Spans the backend accepted.", get(c.spans_exported));
  w.family("tailgate_traces_decided_total", "counter", "Trace decisions, by policy and outcome.");
  for (const auto& p : policies) {
    const auto name = escape(p.name);
    w.sample("tailgate_traces_decided_total", fmt::format("policy=\"{}\",outcome=\"kept\"", name),
             p.kept_traces);
    w.sample("tailgate_traces_decided_total",
             fmt::format("policy=\"{}\",outcome=\"sampled_out\"", name), p.sampled_out_traces);
  }
  per_enum<DecisionTrigger>(w, "tailgate_trace_decisions_total",
                            "Trace decisions, by what triggered them.", "trigger", c.decisions);
  w.family("tailgate_late_spans_total", "counter",
           "Spans that arrived after their trace was decided, by the decision they followed.");
  w.sample("tailgate_late_spans_total", "decision=\"kept\"", get(c.late_spans_kept));
  w.sample("tailgate_late_spans_total", "decision=\"sampled_out\"", get(c.late_spans_sampled_out));
  w.counter("tailgate_attributes_redacted_total",
            "Attribute values removed or replaced by a keyed hash (redaction.keys).",
            get(c.attributes_redacted));
  w.counter("tailgate_url_credentials_redacted_total",
            "Passwords of URLs (scheme://user:password@host) in kept spans' values replaced.",
            get(c.url_credentials_redacted));
  w.counter("tailgate_utf8_strings_repaired_total",
            "Strings of kept spans that were not valid UTF-8, exported with U+FFFD in place of "
            "the bad bytes (a backend refuses a whole request over one).",
            get(c.utf8_strings_repaired));
  per_enum<Limit>(w, "tailgate_limits_applied_total",
                  "What limits.* cut from kept spans: values and names cut, attributes and "
                  "events left out.",
                  "limit", c.limits_applied);
  w.family("tailgate_export_requests_total", "counter", "Export requests, by result.");
  w.sample("tailgate_export_requests_total", "result=\"ok\"", get(c.export_requests_ok));
  w.sample("tailgate_export_requests_total", "result=\"failed\"", get(c.export_requests_failed));
  w.counter("tailgate_export_retries_total", "Export requests scheduled for another attempt.",
            get(c.export_retries));

  w.family("tailgate_export_latency_seconds", "histogram", "Export request latency.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kExportLatencyBounds.size(); ++i) {
    cumulative += get(c.export_latency[i]);
    w.sample("tailgate_export_latency_seconds_bucket",
             fmt::format("le=\"{}\"", bound_text(kExportLatencyBounds[i])), cumulative);
  }
  cumulative += get(c.export_latency[kExportLatencyBounds.size()]);
  w.sample("tailgate_export_latency_seconds_bucket", "le=\"+Inf\"", cumulative);
  w.sample("tailgate_export_latency_seconds_sum", "",
           static_cast<double>(get(c.export_latency_sum_us)) / 1e6);
  w.sample("tailgate_export_latency_seconds_count", "", cumulative);

  w.gauge("tailgate_pipeline_queue_spans", "Spans waiting for the pipeline thread.",
          static_cast<double>(g.pipeline_queue_spans));
  w.gauge("tailgate_pipeline_queue_capacity_spans", "Bound of the pipeline queue.",
          static_cast<double>(g.pipeline_queue_capacity));
  w.gauge("tailgate_pipeline_queue_bytes", "Memory held by spans waiting for the pipeline thread.",
          static_cast<double>(g.pipeline_queue_bytes));
  w.gauge("tailgate_export_queue_spans", "Kept spans waiting for the exporter.",
          static_cast<double>(g.export_queue_spans));
  w.gauge("tailgate_export_queue_capacity_spans", "Bound of the export queue.",
          static_cast<double>(g.export_queue_capacity));
  w.gauge("tailgate_export_queue_bytes", "Memory held by spans waiting for the exporter.",
          static_cast<double>(g.export_queue_bytes));
  w.gauge("tailgate_buffered_traces", "Traces held for a decision.",
          static_cast<double>(get(c.traces_buffered)));
  w.gauge("tailgate_buffered_spans", "Spans held for a decision.",
          static_cast<double>(get(c.spans_buffered)));
  w.gauge("tailgate_buffered_bytes", "Memory held by buffered spans.",
          static_cast<double>(get(c.bytes_buffered)));
  w.gauge("tailgate_key_tables_live",
          "Tables of interned attribute keys that buffered or held spans refer to (at most 3).",
          static_cast<double>(get(c.key_tables_live)));
  w.counter("tailgate_key_tables_renewed_total",
            "Key tables replaced for new traces after filling with keys that kept missing (many "
            "one-off keys: buffered spans cost more until then).",
            get(c.key_tables_renewed));
  w.gauge("tailgate_sampling_stressed", "1 while load shedding decides traces on arrival.",
          static_cast<double>(get(c.stressed)));
  w.gauge("tailgate_sampling_base_probability", "Current probability of the base policy.",
          static_cast<double>(get(c.base_probability_ppm)) / 1e6);
  w.gauge("tailgate_spool_spans", "Spans waiting in the disk spool.",
          static_cast<double>(get(c.spool_spans)));
  w.gauge("tailgate_spool_bytes", "Bytes the disk spool holds.",
          static_cast<double>(get(c.spool_bytes)));
  w.counter("tailgate_spool_spans_written_total", "Spans written to the disk spool.",
            get(c.spool_spans_written));
  w.counter("tailgate_spool_spans_recovered_total",
            "Spans found in the spool at start-up, left by an earlier run.",
            get(c.spool_spans_recovered));
  w.counter("tailgate_spool_batches_replayed_total", "Spooled batches delivered.",
            get(c.spool_batches_replayed));
  w.counter("tailgate_spool_corrupt_files_total",
            "Spool files found damaged and removed (their spans: dropped spool_corrupt).",
            get(c.spool_corrupt_files));
  w.counter("tailgate_spool_corrupt_bytes_total",
            "Bytes of damaged spool files removed, also those whose span count was unknown.",
            get(c.spool_corrupt_bytes));
  w.counter("tailgate_spool_location_fallbacks_total",
            "Default spool/state directories passed over at start-up (see "
            "event=state_location_unusable).",
            get(c.spool_location_fallbacks));
  w.counter("tailgate_unclean_stops_total",
            "Starts that found the last run had not stopped cleanly (kill -9, OOM kill, crash).",
            get(c.unclean_stops));
  w.counter("tailgate_spans_lost_in_crash_total",
            "Spans the last run held in memory when it died (at its last snapshot, <= 1 s old).",
            get(c.spans_lost_in_crash));
  w.counter("tailgate_state_files_torn_total",
            "State files found torn or damaged at start-up and ignored.", get(c.state_files_torn));
  peers(w, c);
  w.family("tailgate_config_reloads_total", "counter", "SIGHUP reloads, by result.");
  w.sample("tailgate_config_reloads_total", "result=\"ok\"", get(c.config_reloads_ok));
  w.sample("tailgate_config_reloads_total", "result=\"failed\"", get(c.config_reloads_failed));
  w.gauge("tailgate_start_time_seconds", "Start time of the process since the unix epoch.",
          g.start_time_unix_seconds);
  process_metrics(w);
}

}  // namespace tailgate::telemetry
