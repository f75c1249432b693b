#include "export/otlp_exporter.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "export/otlp_mapping.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace tailgate::exporter {
namespace {

namespace collector = otlp::collector::trace::v1;

// Retryable per the OTLP specification's "Failures" table. RESOURCE_EXHAUSTED is retryable only
// with a RetryInfo the server sends; without it we treat it as final.
bool retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

std::shared_ptr<grpc::Channel> make_channel(const config::ExporterConfig& config) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (config.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions tls;
    if (!config.ca_file.empty()) {
      std::ifstream in(config.ca_file);
      std::stringstream pem;
      pem << in.rdbuf();
      tls.pem_root_certs = pem.str();
    }
    credentials = grpc::SslCredentials(tls);
  }
  grpc::ChannelArguments args;
  // gRPC's own reconnect backoff grows to two minutes by default: after a backend outage that
  // would hold every retry back long after the backend is up. Keep it within our retry policy.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(config.initial_backoff.count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(config.initial_backoff.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(config.max_backoff.count()));
  return grpc::CreateCustomChannel(config.endpoint, credentials, args);
}

}  // namespace

struct OtlpExporter::StubHolder {
  std::unique_ptr<collector::TraceService::Stub> stub;
};

struct OtlpExporter::Request {
  collector::ExportTraceServiceRequest message;
  std::size_t spans = 0;
  int attempts = 0;
  Clock::time_point first_attempt{};
  Clock::time_point next_attempt{};
};

struct OtlpExporter::Call {
  grpc::ClientContext context;
  std::chrono::steady_clock::time_point sent_at = std::chrono::steady_clock::now();
  collector::ExportTraceServiceResponse response;
  std::unique_ptr<Request> request;
};

OtlpExporter::OtlpExporter(const config::ExporterConfig& config, model::SpanQueue& in,
                           telemetry::Counters& counters)
    : config_(config),
      in_(in),
      counters_(counters),
      channel_(make_channel(config)),
      stub_(std::make_unique<StubHolder>(StubHolder{collector::TraceService::NewStub(channel_)})) {}

OtlpExporter::~OtlpExporter() {
  stop(std::chrono::milliseconds(0));
}

void OtlpExporter::start() {
  thread_ = std::thread([this] { run(); });
}

std::uint64_t OtlpExporter::stop(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) return 0;
  const auto failed_before = counters_.dropped_of(telemetry::DropReason::ExportFailed);
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    drain_deadline_ = Clock::now() + grace;
  }
  changed_.notify_all();
  thread_.join();

  // Past the deadline: cancel what is still on the wire and wait for gRPC to hand it back.
  std::unique_lock lock(mutex_);
  abandoning_ = true;
  for (auto* context : inflight_) context->TryCancel();
  changed_.wait(lock, [this] { return inflight_.empty(); });
  std::uint64_t abandoned = 0;
  for (auto* list : {&ready_, &retry_}) {
    for (const auto& r : *list) abandoned += r->spans;
    list->clear();
  }
  model::SpanBatch rest;
  while (in_.pop_all(rest, std::chrono::milliseconds(0)) > 0) {
  }
  abandoned += rest.size();
  if (abandoned > 0) {
    counters_.add_dropped(telemetry::DropReason::ExportFailed, abandoned);
    spdlog::error("event=export_abandoned spans={} reason=shutdown_grace_exceeded", abandoned);
  }
  return counters_.dropped_of(telemetry::DropReason::ExportFailed) - failed_before;
}

bool OtlpExporter::backed_up() const {
  return ready_.size() + retry_.size() >= 2 * config_.max_inflight_requests;
}

bool OtlpExporter::should_log(Clock::time_point now) {
  // During an outage every request fails: one line a second says so, with the count it stands for.
  if (now - last_failure_log_ < std::chrono::seconds(1)) {
    ++unlogged_failures_;
    return false;
  }
  last_failure_log_ = now;
  return true;
}

std::uint64_t OtlpExporter::take_unlogged() {
  return std::exchange(unlogged_failures_, 0);
}

bool OtlpExporter::idle() const {
  return ready_.empty() && retry_.empty() && inflight_.empty();
}

void OtlpExporter::run() noexcept {
  model::SpanBatch pending;
  auto batch_deadline = Clock::time_point::max();
  constexpr auto kPoll = std::chrono::milliseconds(50);
  while (true) {
    bool draining = false;
    {
      std::unique_lock lock(mutex_);
      draining = draining_;
      if (draining && Clock::now() >= drain_deadline_) return;
      if (backed_up()) {
        // Take no more spans: the queue in front of us fills and counts its drops instead.
        changed_.wait_for(lock, kPoll);
        lock.unlock();
        dispatch_ready();
        continue;
      }
    }
    const auto now = Clock::now();
    const auto wait =
        pending.empty()
            ? kPoll
            : std::clamp(
                  std::chrono::duration_cast<std::chrono::milliseconds>(batch_deadline - now),
                  std::chrono::milliseconds(0), kPoll);
    const bool was_empty = pending.empty();
    in_.pop_all(pending, wait);
    if (was_empty && !pending.empty()) batch_deadline = Clock::now() + config_.max_batch_delay;
    const bool inbox_done = draining && in_.closed() && in_.size_spans() == 0;
    const bool flush = inbox_done || Clock::now() >= batch_deadline;
    cut_batches(pending, flush);
    if (pending.empty()) batch_deadline = Clock::time_point::max();
    dispatch_ready();
    if (inbox_done && pending.empty()) {
      std::unique_lock lock(mutex_);
      // Everything is built: wait for delivery, retrying as due, until idle or the deadline.
      while (!idle() && Clock::now() < drain_deadline_) {
        changed_.wait_for(lock, kPoll);
        lock.unlock();
        dispatch_ready();
        lock.lock();
      }
      return;
    }
  }
}

void OtlpExporter::cut_batches(model::SpanBatch& pending, bool flush_all) {
  while (pending.size() >= config_.max_batch_spans || (flush_all && !pending.empty())) {
    const auto n = std::min(pending.size(), config_.max_batch_spans);
    auto request = std::make_unique<Request>();
    request->spans = n;
    append_spans(std::span(pending.data(), n), request->message);
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
    std::lock_guard lock(mutex_);
    ready_.push_back(std::move(request));
  }
}

void OtlpExporter::dispatch_ready() {
  while (true) {
    std::unique_ptr<Request> next;
    {
      std::lock_guard lock(mutex_);
      if (inflight_.size() >= config_.max_inflight_requests) return;
      const auto now = Clock::now();
      // Oldest data first: a due retry goes before a new batch.
      auto due = std::find_if(retry_.begin(), retry_.end(),
                              [now](const auto& r) { return r->next_attempt <= now; });
      if (due != retry_.end()) {
        next = std::move(*due);
        retry_.erase(due);
      } else if (!ready_.empty()) {
        next = std::move(ready_.front());
        ready_.pop_front();
      } else {
        return;
      }
    }
    send(std::move(next));
  }
}

void OtlpExporter::send(std::unique_ptr<Request> request) {
  auto call = std::make_unique<Call>();
  if (request->attempts++ == 0) request->first_attempt = Clock::now();
  call->request = std::move(request);
  call->context.set_deadline(std::chrono::system_clock::now() + config_.timeout);
  if (config_.compression == config::Compression::Gzip) {
    call->context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  }
  for (const auto& [key, value] : config_.headers) call->context.AddMetadata(key, value);
  Call* raw = call.release();  // owned by the callback from here on
  {
    std::lock_guard lock(mutex_);
    inflight_.insert(&raw->context);
  }
  stub_->stub->async()->Export(&raw->context, &raw->request->message, &raw->response,
                               [this, raw](grpc::Status status) { on_done(raw, status); });
}

void OtlpExporter::on_done(Call* raw, const grpc::Status& status) {
  std::unique_ptr<Call> call(raw);
  auto& request = call->request;
  const auto now = Clock::now();
  counters_.observe_export_latency(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now - call->sent_at).count()));
  const auto now_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  if (status.ok()) {
    counters_.export_last_success_ns.store(now_ns, std::memory_order_relaxed);
    counters_.export_failing_since_ns.store(0, std::memory_order_relaxed);
  } else {
    std::uint64_t none = 0;  // only the first failure since the last success sets it
    counters_.export_failing_since_ns.compare_exchange_strong(none, now_ns,
                                                              std::memory_order_relaxed);
  }
  std::unique_lock lock(mutex_);
  inflight_.erase(&call->context);
  if (status.ok()) {
    counters_.export_requests_ok.fetch_add(1, std::memory_order_relaxed);
    const auto rejected = static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, call->response.partial_success().rejected_spans()));
    const auto accepted = request->spans - std::min<std::uint64_t>(rejected, request->spans);
    counters_.spans_exported.fetch_add(accepted, std::memory_order_relaxed);
    if (rejected > 0) {
      counters_.add_dropped(telemetry::DropReason::ExportRejected, request->spans - accepted);
      spdlog::warn("event=export_partial_success rejected={} message=\"{}\"", rejected,
                   call->response.partial_success().error_message());
    }
  } else {
    counters_.export_requests_failed.fetch_add(1, std::memory_order_relaxed);
    const auto shift = std::min(request->attempts - 1, 20);
    auto backoff = std::min(config_.initial_backoff * (1 << shift), config_.max_backoff);
    // Full jitter on the upper half: spreads a fleet's retries without ever retrying at once.
    std::uniform_int_distribution<std::int64_t> spread(backoff.count() / 2, backoff.count());
    backoff = std::chrono::milliseconds(spread(jitter_));
    const bool in_time = now + backoff - request->first_attempt < config_.max_retry_time &&
                         (!draining_ || now + backoff < drain_deadline_);
    if (retryable(status.error_code()) && in_time && !abandoning_) {
      counters_.export_retries.fetch_add(1, std::memory_order_relaxed);
      if (should_log(now)) {
        spdlog::warn(
            "event=export_retry code={} message=\"{}\" spans={} attempt={} backoff_ms={} "
            "similar_unlogged={}",
            static_cast<int>(status.error_code()), status.error_message(), request->spans,
            request->attempts, backoff.count(), take_unlogged());
      }
      request->next_attempt = now + backoff;
      retry_.push_back(std::move(request));
    } else if (abandoning_) {
      // stop() counts nothing for calls it cancelled; count them here, once.
      counters_.add_dropped(telemetry::DropReason::ExportFailed, request->spans);
    } else {
      counters_.add_dropped(telemetry::DropReason::ExportFailed, request->spans);
      if (should_log(now)) {
        spdlog::error(
            "event=export_failed code={} message=\"{}\" spans={} attempts={} "
            "similar_unlogged={}",
            static_cast<int>(status.error_code()), status.error_message(), request->spans,
            request->attempts, take_unlogged());
      }
    }
  }
  lock.unlock();
  changed_.notify_all();
}

}  // namespace tailgate::exporter
