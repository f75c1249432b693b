#include "telemetry/counters.hpp"

namespace tailgate::telemetry {

std::string_view to_string(Receiver r) noexcept {
  switch (r) {
    case Receiver::Udp:
      return "udp";
    case Receiver::Ring:
      return "ring";
    case Receiver::JaegerCompact:
      return "jaeger_compact";
    case Receiver::JaegerBinary:
      return "jaeger_binary";
    case Receiver::OtlpGrpc:
      return "otlp_grpc";
    case Receiver::OtlpHttp:
      return "otlp_http";
    case Receiver::kCount:
      break;
  }
  return "unknown";
}

std::string_view to_string(DropReason r) noexcept {
  switch (r) {
    case DropReason::Malformed:
      return "malformed";
    case DropReason::KernelBuffer:
      return "kernel_buffer";
    case DropReason::ProducerLoss:
      return "producer_loss";
    case DropReason::PipelineFull:
      return "pipeline_full";
    case DropReason::ExportQueueFull:
      return "export_queue_full";
    case DropReason::ExportFailed:
      return "export_failed";
    case DropReason::ExportRejected:
      return "export_rejected";
    case DropReason::SpoolFull:
      return "spool_full";
    case DropReason::TraceLimit:
      return "trace_limit";
    case DropReason::SpoolCorrupt:
      return "spool_corrupt";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

std::string_view to_string(RejectReason r) noexcept {
  switch (r) {
    case RejectReason::Malformed:
      return "malformed";
    case RejectReason::Empty:
      return "empty";
    case RejectReason::TooLarge:
      return "too_large";
    case RejectReason::Unsupported:
      return "unsupported";
    case RejectReason::ZeroId:
      return "zero_id";
    case RejectReason::kCount:
      break;
  }
  return "unknown";
}

std::string_view to_string(Limit l) noexcept {
  switch (l) {
    case Limit::AttributeValueBytes:
      return "attribute_value_bytes";
    case Limit::AttributesPerSpan:
      return "attributes_per_span";
    case Limit::EventsPerSpan:
      return "events_per_span";
    case Limit::SpanNameBytes:
      return "span_name_bytes";
    case Limit::kCount:
      break;
  }
  return "unknown";
}

std::string_view to_string(DecisionTrigger t) noexcept {
  switch (t) {
    case DecisionTrigger::Root:
      return "root";
    case DecisionTrigger::Timeout:
      return "timeout";
    case DecisionTrigger::TraceCap:
      return "trace_cap";
    case DecisionTrigger::Memory:
      return "memory";
    case DecisionTrigger::Stress:
      return "stress";
    case DecisionTrigger::Shutdown:
      return "shutdown";
    case DecisionTrigger::FastPath:
      return "fast_path";
    case DecisionTrigger::Peer:
      return "peer";
    case DecisionTrigger::kCount:
      break;
  }
  return "unknown";
}

bool after_decode(DropReason r) noexcept {
  switch (r) {
    case DropReason::Malformed:
    case DropReason::KernelBuffer:
    case DropReason::ProducerLoss:
    case DropReason::kCount:
      return false;
    case DropReason::PipelineFull:
    case DropReason::ExportQueueFull:
    case DropReason::ExportFailed:
    case DropReason::ExportRejected:
    case DropReason::SpoolFull:
    case DropReason::TraceLimit:
    case DropReason::SpoolCorrupt:
      return true;
  }
  return false;
}

void Counters::observe_export_latency(std::uint64_t micros) noexcept {
  const double seconds = static_cast<double>(micros) / 1e6;
  std::size_t bucket = 0;
  while (bucket < kExportLatencyBounds.size() && seconds > kExportLatencyBounds[bucket]) ++bucket;
  export_latency[bucket].fetch_add(1, std::memory_order_relaxed);
  export_latency_sum_us.fetch_add(micros, std::memory_order_relaxed);
}

std::uint64_t Counters::received() const noexcept {
  std::uint64_t total = 0;
  for (const auto& c : spans_received) total += c.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t Counters::dropped_after_decode() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < dropped.size(); ++i) {
    if (after_decode(static_cast<DropReason>(i)))
      total += dropped[i].load(std::memory_order_relaxed);
  }
  return total;
}

std::string_view to_string(PeerLoss l) noexcept {
  switch (l) {
    case PeerLoss::PublishQueueFull:
      return "publish_queue_full";
    case PeerLoss::PublishFailed:
      return "publish_failed";
    case PeerLoss::FollowQueueFull:
      return "follow_queue_full";
    case PeerLoss::Malformed:
      return "malformed";
    case PeerLoss::Missed:
      return "missed";
    case PeerLoss::kCount:
      break;
  }
  return "unknown";
}

std::string_view to_string(PeerConnection c) noexcept {
  switch (c) {
    case PeerConnection::Publish:
      return "publish";
    case PeerConnection::Follow:
      return "follow";
    case PeerConnection::kCount:
      break;
  }
  return "unknown";
}

}  // namespace tailgate::telemetry
