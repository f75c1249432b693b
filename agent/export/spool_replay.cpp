// The exporter's half that deals with the disk spool: what goes to disk and when, which request
// goes out next (order, probes, retries), and failures. See otlp_exporter.hpp for the contract.
#include <algorithm>
#include <cstring>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "export/export_request.hpp"
#include "export/otlp_exporter.hpp"
#include "export/retry.hpp"
#include "export/spool.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "telemetry/log_escape.hpp"

namespace tailgate::exporter {
namespace {

namespace collector = opentelemetry::proto::collector::trace::v1;

// The traces of a spooled request, for the trace log (a replay is rare).
std::vector<model::TraceId> trace_ids_of(const collector::ExportTraceServiceRequest& request) {
  std::vector<model::TraceId> ids;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) {
        model::TraceId id{};
        if (span.trace_id().size() != id.size()) continue;
        std::memcpy(id.data(), span.trace_id().data(), id.size());
        if (ids.empty() || ids.back() != id) ids.push_back(id);
      }
    }
  }
  return ids;
}

}  // namespace

bool OtlpExporter::keep_on_disk(const Request& request) {
  if (!spool_) return false;
  if (request.spool_sequence != 0) {
    spool_->release(request.spool_sequence);  // already on disk: it stays there
    return true;
  }
  if (!spool_->put(request.body, static_cast<std::uint32_t>(request.spans), request.sequence)) {
    spool_refused_at_ = Clock::now();
    return false;
  }
  counters_.spool_spans_written.fetch_add(request.spans, std::memory_order_relaxed);
  publish_spool();
  return true;
}

void OtlpExporter::spool_or_drop(std::unique_ptr<Request> request, telemetry::DropReason reason) {
  if (keep_on_disk(*request)) {
    note(*request, lookup::ExportState::Spooled);
    return;
  }
  note(*request, lookup::ExportState::Failed);
  counters_.add_dropped(spool_ ? telemetry::DropReason::SpoolFull : reason, request->spans);
}

void OtlpExporter::spool_ready() {
  // The spool refused a batch a moment ago (full disk): not every turn again (a log line each).
  if (spool_refusing()) return;
  while (!ready_.empty() && keep_on_disk(*ready_.front())) {
    note(*ready_.front(), lookup::ExportState::Spooled);
    ready_.pop_front();
  }
}

void OtlpExporter::publish_spool() {
  if (!spool_) return;
  counters_.spool_bytes.store(spool_->bytes(), std::memory_order_relaxed);
  counters_.spool_spans.store(spool_->spans(), std::memory_order_relaxed);
  counters_.spool_corrupt_files.store(spool_->corrupt_files(), std::memory_order_relaxed);
  counters_.spool_corrupt_bytes.store(spool_->corrupt_bytes(), std::memory_order_relaxed);
  // The spool is the only source of this reason, so its running total is the counter.
  counters_.dropped[static_cast<std::size_t>(telemetry::DropReason::SpoolCorrupt)].store(
      spool_->corrupt_spans(), std::memory_order_relaxed);
}

std::unique_ptr<OtlpExporter::Request> OtlpExporter::next_request(Clock::time_point now) {
  if (callbacks_pending_ >= config_.max_inflight_requests) return nullptr;
  // Retries from memory (no spool, or it refused them) are the oldest data: they go first.
  const auto due = std::find_if(retry_.begin(), retry_.end(),
                                [now](const auto& r) { return r->next_attempt <= now; });
  std::unique_ptr<Request> next;
  if (due != retry_.end()) {
    next = std::move(*due);
    retry_.erase(due);
    return next;
  }
  if (spool_ && probing_) return next_probe(now);
  // Spooled batches cut before the next live one go before it.
  const auto oldest = spool_ ? spool_->oldest_available() : 0;
  if (oldest != 0 && (ready_.empty() || oldest < ready_.front()->sequence)) {
    if ((next = take_from_spool())) return next;
  }
  if (!ready_.empty()) {
    next = std::move(ready_.front());
    ready_.pop_front();
  }
  return next;
}

std::unique_ptr<OtlpExporter::Request> OtlpExporter::next_probe(Clock::time_point now) {
  spool_ready();
  if (probe_inflight_ || now < next_probe_) return nullptr;
  // The oldest spooled batch is the probe: if the backend takes it, it is delivered, in order.
  auto probe = take_from_spool();
  if (!probe && !ready_.empty()) {  // the spool refused these: probe with memory's oldest
    probe = std::move(ready_.front());
    ready_.pop_front();
  }
  if (probe) {
    probe->probe = true;
    probe_inflight_ = true;
  }
  return probe;
}

std::unique_ptr<OtlpExporter::Request> OtlpExporter::take_from_spool() {
  while (auto batch = spool_->take_oldest()) {
    // A replay is rare: the parse is only the check that the payload is what we wrote.
    collector::ExportTraceServiceRequest check;
    if (!check.ParseFromString(batch->payload)) {
      // The checksum held but the payload is not a request: written by something else.
      spool_->discard_corrupt(batch->sequence, "not_an_export_request");
      continue;
    }
    auto request = std::make_unique<Request>();
    if (trace_log_ != nullptr) request->traces = trace_ids_of(check);
    request->body = std::move(batch->payload);
    request->spans = batch->spans;
    request->sequence = batch->sequence;
    request->spool_sequence = batch->sequence;
    return request;
  }
  publish_spool();
  return nullptr;
}

void OtlpExporter::on_failure(std::unique_ptr<Request> request, const grpc::Status& status,
                              Clock::time_point now) {
  counters_.export_requests_failed.fetch_add(1, std::memory_order_relaxed);
  if (request->probe) probe_inflight_ = false;
  const auto plan = plan_retry(status, request->attempts, config_, jitter_);
  // The first failure, or the probe's, sets when the next probe goes: one schedule, however
  // many requests were on the wire when the backend went.
  if (plan.retry && spool_ && (!probing_ || request->probe)) schedule_probe(status, now);
  if (plan.retry && spool_failed(*request)) return;
  if (plan.retry) {
    retry_from_memory(std::move(request), status, now);
    return;
  }
  if (should_log(now)) {
    spdlog::error("event=export_failed code={} message={} spans={} attempts={} similar_unlogged={}",
                  static_cast<int>(status.error_code()), telemetry::quoted(status.error_message()),
                  request->spans, request->attempts, take_unlogged());
  }
  if (request->spool_sequence != 0) {
    spool_->remove(request->spool_sequence);  // the backend will never take it
    publish_spool();
  }
  note(*request, lookup::ExportState::Failed);
  counters_.add_dropped(telemetry::DropReason::ExportFailed, request->spans);
}

void OtlpExporter::schedule_probe(const grpc::Status& status, Clock::time_point now) {
  probing_ = true;
  const auto plan = plan_retry(status, ++probe_attempts_, config_, jitter_);
  next_probe_ = now + plan.delay;
  if (!should_log(now)) return;
  spdlog::warn(
      "event=export_retry code={} message={} action=spooled probe={} next_probe_ms={} "
      "server_delay={} spooled_spans={} similar_unlogged={}",
      static_cast<int>(status.error_code()), telemetry::quoted(status.error_message()),
      probe_attempts_, plan.delay.count(), plan.from_server, spool_->spans(), take_unlogged());
}

bool OtlpExporter::spool_failed(const Request& request) {
  if (!keep_on_disk(request)) return false;
  note(request, lookup::ExportState::Spooled);
  counters_.export_retries.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void OtlpExporter::retry_from_memory(std::unique_ptr<Request> request, const grpc::Status& status,
                                     Clock::time_point now) {
  const auto plan = plan_retry(status, request->attempts, config_, jitter_);
  const bool in_time = now + plan.delay - request->first_attempt < config_.max_retry_time &&
                       (!draining_ || now + plan.delay < drain_deadline_);
  if (!in_time || abandoning_) {
    // Out of time (or the agent is stopping): the spool's last chance, or counted dropped.
    spool_or_drop(std::move(request), telemetry::DropReason::ExportFailed);
    return;
  }
  counters_.export_retries.fetch_add(1, std::memory_order_relaxed);
  if (should_log(now)) {
    spdlog::warn(
        "event=export_retry code={} message={} spans={} attempt={} backoff_ms={} "
        "server_delay={} similar_unlogged={}",
        static_cast<int>(status.error_code()), telemetry::quoted(status.error_message()),
        request->spans, request->attempts, plan.delay.count(), plan.from_server, take_unlogged());
  }
  request->next_attempt = now + plan.delay;
  note(*request, lookup::ExportState::Retrying);
  retry_.push_back(std::move(request));
}

}  // namespace tailgate::exporter
