#pragma once
// The OTLP/gRPC exporter: one thread that batches kept spans (max spans, max delay), maps them to
// ExportTraceServiceRequest and sends them with gRPC's asynchronous callback API, several requests
// in flight. Retryable failures (the OTLP specification's list) are retried with exponential
// backoff and jitter, or after the delay the server asks for.
//
// With a disk spool (spool_replay.cpp), a batch that fails once is written to the spool before it
// is retried, so kill -9 loses at most the requests on the wire: while the backend fails, only the
// oldest spooled batch is sent, as a probe, on the retry schedule (no new traffic needed), and new
// batches go to disk behind it. When a probe succeeds the spool drains at full concurrency. Order:
// every batch has a place in the order it was cut (its spool sequence); the backend gets spooled
// batches oldest first and live batches after the older spooled ones, so only the requests on the
// wire at once (max_inflight_requests) may overtake each other. What the spool cannot take (full,
// unwritable) is retried from memory until max_retry_time, as without a spool, where memory is
// bounded by the queue in front, which fills and drops (counted). Non-retryable failures and
// partial-success rejections are counted.
// start()/stop() run on the Agent's thread; gRPC callbacks on gRPC's.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "config/config.hpp"
#include "lookup/trace_log.hpp"
#include "model/span_queue.hpp"
#include "telemetry/counters.hpp"

namespace grpc {
class Channel;
class ClientContext;
class Status;
}  // namespace grpc

namespace tailgate::exporter {

class Spool;

class OtlpExporter final {
 public:
  /// `trace_log`, if given, hears each request's outcome for the traces it carried.
  OtlpExporter(const config::ExporterConfig& config, model::SpanQueue& in,
               telemetry::Counters& counters, lookup::TraceLog* trace_log = nullptr);
  ~OtlpExporter();
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  void start();
  /// Drains: `in` must be closed first (nothing new arrives). Sends everything queued, pending and
  /// awaiting retry until it is delivered or `grace` has passed; what is left then is cancelled
  /// and counted as dropped (export_failed). Returns the spans that failed during the drain.
  std::uint64_t stop(std::chrono::milliseconds grace);

 private:
  struct Request;
  struct Call;
  using Clock = std::chrono::steady_clock;

  /// Kept spans not yet in a request, in the batches the pipeline handed over; `front` spans of
  /// the first batch are already taken.
  struct Backlog {
    std::deque<model::SpanBatch> batches;
    std::size_t front = 0;
    std::size_t spans = 0;
    [[nodiscard]] bool empty() const noexcept { return spans == 0; }
    /// Takes what `queue` holds, waiting up to `timeout` for it; returns the spans taken.
    std::size_t take(model::SpanQueue& queue, std::chrono::milliseconds timeout);
  };

  void run() noexcept;
  /// Where cut_batches() puts a request: the send queue; the spool, or memory if it refuses;
  /// the spool, or counted dropped if it refuses.
  enum class Route { Send, SpoolFirst, SpoolOrDrop };
  /// Writes requests of max_batch_spans from `pending` (and of what is left, if `flush_all`).
  void cut_batches(Backlog& pending, bool flush_all, Route route = Route::Send);
  void dispatch_ready();
  void send(std::unique_ptr<Request> request);
  void on_done(Call* call, const grpc::Status& status);
  void on_success(Call& call);  // mutex_ held
  void on_failure(std::unique_ptr<Request> request, const grpc::Status& status,
                  Clock::time_point now);  // mutex_ held
  /// Puts an undeliverable request on disk, or counts its spans dropped (spool_full, or
  /// `reason` without a spool). One that came from the spool simply stays there.
  void spool_or_drop(std::unique_ptr<Request> request, telemetry::DropReason reason);
  /// On disk at its place in the order (one from the spool is released); false if refused.
  bool keep_on_disk(const Request& request);  // mutex_ held
  /// While probing: what waits for a slot waits on disk, where kill -9 cannot take it.
  void spool_ready();  // mutex_ held
  /// The next request to send now, if any (in-flight slots, retry schedule, order).
  [[nodiscard]] std::unique_ptr<Request> next_request(Clock::time_point now);  // mutex_ held
  [[nodiscard]] std::unique_ptr<Request> next_probe(Clock::time_point now);    // mutex_ held
  /// The backend failed: probe it with the oldest spooled batch on the retry schedule.
  void schedule_probe(const grpc::Status& status, Clock::time_point now);  // mutex_ held
  /// A retryable failure with a spool: on disk, to be retried from there. False if refused.
  bool spool_failed(const Request& request);  // mutex_ held
  void retry_from_memory(std::unique_ptr<Request> request, const grpc::Status& status,
                         Clock::time_point now);  // mutex_ held
  [[nodiscard]] std::unique_ptr<Request> take_from_spool();
  /// Tells the trace log what became of the request's traces (once per request).
  void note(const Request& request, lookup::ExportState state);
  void publish_spool();
  [[nodiscard]] bool backed_up() const;    // mutex_ held
  [[nodiscard]] bool idle() const;         // mutex_ held
  bool should_log(Clock::time_point now);  // mutex_ held
  std::uint64_t take_unlogged();           // mutex_ held

  const config::ExporterConfig config_;
  model::SpanQueue& in_;
  telemetry::Counters& counters_;
  lookup::TraceLog* trace_log_;
  std::shared_ptr<grpc::Channel> channel_;
  struct StubHolder;
  std::unique_ptr<StubHolder> stub_;
  std::unique_ptr<Spool> spool_;  ///< null without exporter.spool_directory

  // Shared between the exporter thread and gRPC callbacks.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<Request>> ready_;  ///< built, waiting for an in-flight slot
  std::deque<std::unique_ptr<Request>> retry_;  ///< failed, waiting for next_attempt
  std::set<grpc::ClientContext*> inflight_;     ///< for cancellation at the grace deadline
  std::size_t callbacks_pending_ = 0;  ///< sent and not yet fully finished (context destroyed)
  std::minstd_rand jitter_{std::random_device{}()};
  bool draining_ = false;
  Clock::time_point drain_deadline_{};
  bool abandoning_ = false;  ///< past the grace deadline: failures are final
  // Probing (spool only): the backend failed; only the oldest spooled batch goes out, at
  // next_probe_, one at a time, until one succeeds.
  bool probing_ = false;
  // When the spool last refused a batch (full, or the disk): for a second after, the exporter
  // stops taking spans onto disk and waits as it does without a spool, retrying from memory for
  // max_retry_time, instead of dropping everything it cut (a full disk dropped all but 1 s).
  Clock::time_point spool_refused_at_{};
  static constexpr auto kSpoolRefusalPause = std::chrono::seconds(1);
  [[nodiscard]] bool spool_refusing() const {  // mutex_ held
    return Clock::now() - spool_refused_at_ < kSpoolRefusalPause;
  }
  bool probe_inflight_ = false;
  int probe_attempts_ = 0;
  Clock::time_point next_probe_{};
  Clock::time_point last_failure_log_{};
  std::uint64_t unlogged_failures_ = 0;

  std::thread thread_;
};

}  // namespace tailgate::exporter
