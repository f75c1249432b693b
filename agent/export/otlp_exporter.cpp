#include "export/otlp_exporter.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <spdlog/spdlog.h>

#include "export/export_answer.hpp"
#include "export/export_request.hpp"
#include "export/otlp_mapping.hpp"
#include "export/retry.hpp"
#include "export/spool.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "telemetry/log_escape.hpp"

namespace tailgate::exporter {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<grpc::Channel> make_channel(const config::ExporterConfig& config) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (config.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions tls;
    if (!config.ca_file.empty()) tls.pem_root_certs = read_file(config.ca_file);
    if (!config.client_cert_file.empty()) {
      tls.pem_cert_chain = read_file(config.client_cert_file);
      tls.pem_private_key = read_file(config.client_key_file);
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

std::uint64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace

// Requests go out as the bytes RequestEncoder wrote, through gRPC's generic stub: the generated
// stub would want a message object, which is what the encoder exists to avoid.
const std::string kExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct OtlpExporter::StubHolder {
  grpc::GenericStub stub;
};

struct OtlpExporter::Call {
  grpc::ClientContext context;
  Clock::time_point sent_at = Clock::now();
  grpc::ByteBuffer request_bytes;
  grpc::ByteBuffer response_bytes;
  std::unique_ptr<Request> request;
};

OtlpExporter::OtlpExporter(const config::ExporterConfig& config, model::SpanQueue& in,
                           telemetry::Counters& counters, lookup::TraceLog* trace_log)
    : config_(config),
      in_(in),
      counters_(counters),
      trace_log_(trace_log),
      channel_(make_channel(config)),
      stub_(std::make_unique<StubHolder>(StubHolder{grpc::GenericStub(channel_)})) {
  if (!config.spool_directory.empty()) {
    spool_ = std::make_unique<Spool>(config.spool_directory, config.spool_max_bytes);
    // Corrupt files' spans count as recovered and as dropped spool_corrupt: the identity holds.
    counters_.spool_spans_recovered.fetch_add(spool_->recovered_spans(), std::memory_order_relaxed);
    publish_spool();
  }
}

OtlpExporter::~OtlpExporter() {
  stop(std::chrono::milliseconds(0));
}

void OtlpExporter::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "tg-export");
    run();
  });
}

std::uint64_t OtlpExporter::stop(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) return 0;
  const auto failed_before = counters_.dropped_after_decode();
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    drain_deadline_ = Clock::now() + grace;
  }
  changed_.notify_all();
  thread_.join();

  // Past the deadline: cancel what is still on the wire and wait for gRPC to hand it back (the
  // callbacks spool it).
  std::unique_lock lock(mutex_);
  abandoning_ = true;
  for (auto* context : inflight_) context->TryCancel();
  changed_.wait(lock, [this] { return callbacks_pending_ == 0; });
  std::uint64_t left = 0;
  for (auto* list : {&ready_, &retry_}) {
    for (auto& r : *list) {
      left += r->spans;
      spool_or_drop(std::move(r), telemetry::DropReason::ExportFailed);
    }
    list->clear();
  }
  lock.unlock();
  // Spans still queued (the deadline came first): batch them for the spool too.
  Backlog rest;
  while (rest.take(in_, std::chrono::milliseconds(0)) > 0) {
  }
  left += rest.spans;
  cut_batches(rest, true, Route::SpoolOrDrop);
  if (left > 0) {
    spdlog::warn("event=export_unfinished spans={} spooled={} reason=shutdown_grace_exceeded", left,
                 spool_ != nullptr);
  }
  publish_spool();
  return counters_.dropped_after_decode() - failed_before;
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
  // A healthy backend gets the spool too within the shutdown grace; a failing one is not waited
  // for: the spool keeps what it holds for the next start.
  return ready_.empty() && retry_.empty() && callbacks_pending_ == 0 &&
         (!spool_ || probing_ || spool_->oldest_available() == 0);
}

void OtlpExporter::run() noexcept {
  Backlog pending;
  auto batch_deadline = Clock::time_point::max();
  constexpr auto kPoll = std::chrono::milliseconds(50);
  while (true) {
    bool draining = false;
    auto route = Route::Send;
    {
      std::unique_lock lock(mutex_);
      draining = draining_;
      if (draining && Clock::now() >= drain_deadline_) break;
      // The backend fails: new batches join the spool behind the older ones (order, kill -9).
      if (spool_ && probing_) route = Route::SpoolFirst;
      if (backed_up()) {
        if (spool_ && !spool_refusing()) {
          route = Route::SpoolOrDrop;  // keep draining the queue, onto disk
        } else {
          // No spool, or it refused the last batch: take no more spans; the queue in front fills
          // and counts its drops while what is here is retried from memory.
          changed_.wait_for(lock, kPoll);
          lock.unlock();
          dispatch_ready();
          continue;
        }
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
    pending.take(in_, wait);
    if (was_empty && !pending.empty()) batch_deadline = Clock::now() + config_.max_batch_delay;
    const bool inbox_done = draining && in_.closed() && in_.size_spans() == 0;
    cut_batches(pending, inbox_done || Clock::now() >= batch_deadline, route);
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
      break;
    }
  }
  // The deadline may come with spans still unbatched: batch them, so stop() can spool them.
  cut_batches(pending, true);
}

std::size_t OtlpExporter::Backlog::take(model::SpanQueue& queue,
                                        std::chrono::milliseconds timeout) {
  std::vector<model::SpanBatch> arrived;
  const auto n = queue.pop_batches(arrived, timeout);
  for (auto& batch : arrived) batches.push_back(std::move(batch));
  spans += n;
  return n;
}

void OtlpExporter::cut_batches(Backlog& pending, bool flush_all, Route route) {
  while (pending.spans >= config_.max_batch_spans || (flush_all && pending.spans > 0)) {
    RequestEncoder encoder;
    // Spans are taken where the pipeline's batches hold them; a batch wholly taken goes after
    // the request is written (the encoder points into it until then).
    std::size_t used_batches = 0;
    std::size_t offset = pending.front;
    std::vector<model::TraceId> traces;
    while (encoder.spans() < config_.max_batch_spans && used_batches < pending.batches.size()) {
      const auto& batch = pending.batches[used_batches];
      const auto n = std::min(batch.size() - offset, config_.max_batch_spans - encoder.spans());
      for (std::size_t i = offset; i < offset + n; ++i) {
        encoder.add(batch[i]);
        // A trace's spans come in a row (the pipeline emits them so): one id per run.
        if (trace_log_ != nullptr && (traces.empty() || traces.back() != batch[i].trace_id))
          traces.push_back(batch[i].trace_id);
      }
      offset += n;
      if (offset == batch.size()) {
        ++used_batches;
        offset = 0;
      }
    }
    auto request = std::make_unique<Request>();
    request->spans = encoder.spans();
    request->body = encoder.encode();
    request->traces = std::move(traces);
    pending.spans -= request->spans;
    pending.batches.erase(pending.batches.begin(),
                          pending.batches.begin() + static_cast<std::ptrdiff_t>(used_batches));
    pending.front = offset;
    std::lock_guard lock(mutex_);
    if (spool_) request->sequence = spool_->reserve();
    if (route != Route::Send && keep_on_disk(*request)) {
      note(*request, lookup::ExportState::Spooled);
    } else if (route == Route::SpoolOrDrop) {
      spool_or_drop(std::move(request), telemetry::DropReason::ExportQueueFull);
    } else {
      ready_.push_back(std::move(request));
    }
  }
}

void OtlpExporter::dispatch_ready() {
  while (true) {
    std::unique_ptr<Request> next;
    {
      std::lock_guard lock(mutex_);
      next = next_request(Clock::now());
    }
    if (!next) return;
    send(std::move(next));
  }
}

void OtlpExporter::send(std::unique_ptr<Request> request) {
  auto call = std::make_unique<Call>();
  if (request->attempts++ == 0) request->first_attempt = Clock::now();
  call->request = std::move(request);
  grpc::Slice bytes(call->request->body);  // a copy: a retry sends the body again
  call->request_bytes = grpc::ByteBuffer(&bytes, 1);
  call->context.set_deadline(std::chrono::system_clock::now() + config_.timeout);
  if (config_.compression == config::Compression::Gzip) {
    call->context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  }
  for (const auto& [key, value] : config_.headers) call->context.AddMetadata(key, value);
  Call* raw = call.release();  // owned by the callback from here on
  {
    std::lock_guard lock(mutex_);
    inflight_.insert(&raw->context);
    ++callbacks_pending_;
  }
  stub_->stub.UnaryCall(&raw->context, kExportMethod, grpc::StubOptions(), &raw->request_bytes,
                        &raw->response_bytes,
                        [this, raw](grpc::Status status) { on_done(raw, status); });
}

void OtlpExporter::on_done(Call* raw, const grpc::Status& status) {
  std::unique_ptr<Call> call(raw);
  auto& request = call->request;
  const auto now = Clock::now();
  counters_.observe_export_latency(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now - call->sent_at).count()));
  if (status.ok()) {
    counters_.export_last_success_ns.store(steady_ns(now), std::memory_order_relaxed);
    counters_.export_failing_since_ns.store(0, std::memory_order_relaxed);
  } else {
    std::uint64_t none = 0;  // only the first failure since the last success sets it
    counters_.export_failing_since_ns.compare_exchange_strong(none, steady_ns(now),
                                                              std::memory_order_relaxed);
  }
  std::unique_lock lock(mutex_);
  inflight_.erase(&call->context);  // no longer cancellable: stop() will not touch it
  if (status.ok()) {
    on_success(*call);
  } else {
    on_failure(std::move(request), status, now);
  }
  lock.unlock();
  // The context and response go before this callback reports itself finished: once it has, stop()
  // may return and the exporter, its channel and this condition variable be destroyed.
  call.reset();
  lock.lock();
  --callbacks_pending_;
  changed_.notify_all();  // under the lock, so the waiter cannot destroy us mid-notify
}

void OtlpExporter::on_success(Call& call) {
  auto& request = call.request;
  counters_.export_requests_ok.fetch_add(1, std::memory_order_relaxed);
  if (probing_) {
    // The backend answers again: the spool drains, oldest first, at full concurrency.
    spdlog::info("event=export_recovered probes={} spooled_spans={}", probe_attempts_,
                 spool_ ? spool_->spans() : 0);
    probing_ = false;
    probe_attempts_ = 0;
  }
  if (request->probe) probe_inflight_ = false;
  // An answer that does not parse at all is read as a plain OK: the server took the request.
  std::string answer;
  std::vector<grpc::Slice> slices;
  if (call.response_bytes.Dump(&slices).ok()) {
    for (const auto& slice : slices) {
      answer.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  const auto partial = read_partial_success(answer);
  const auto rejected = partial.rejected_spans;
  const auto accepted = request->spans - std::min<std::uint64_t>(rejected, request->spans);
  counters_.spans_exported.fetch_add(accepted, std::memory_order_relaxed);
  note(*request, rejected > 0 ? lookup::ExportState::PartlySent : lookup::ExportState::Sent);
  if (rejected > 0) {
    counters_.add_dropped(telemetry::DropReason::ExportRejected, request->spans - accepted);
    spdlog::warn("event=export_partial_success rejected={} message={}", rejected,
                 telemetry::quoted(partial.error_message));
  }
  if (request->spool_sequence != 0) {
    spool_->remove(request->spool_sequence);
    counters_.spool_batches_replayed.fetch_add(1, std::memory_order_relaxed);
    publish_spool();
  }
}

void OtlpExporter::note(const Request& request, lookup::ExportState state) {
  if (trace_log_ != nullptr) trace_log_->set_export_state(request.traces, state);
}

}  // namespace tailgate::exporter
