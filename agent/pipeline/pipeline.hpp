#pragma once
// The pipeline stage: one thread that drains the receivers' queue into the trace table, decides
// each trace with the sampler when it is due (root + decision_wait, max_trace_age, a per-trace
// cap, memory pressure, shutdown, or at once on the fast path), and hands kept spans to the
// exporter's queue. Late spans follow their trace's decision through the decision cache. Under
// stress (buffer or inbox fill past stress_enter, until below stress_exit) new traces are decided
// on arrival by trace id, errors and slow spans still kept; the spans dropped so (or early, for
// memory) wait in the hold, and a later error or slow span of their trace brings them back.
// ingest()/tick()/decide_all()/flush() are the stage itself: the thread calls them, and tests
// call them directly with their own clock. reload(), policy_stats() and probe() are thread-safe.
// With peers (docs/fleet.md): keeps of cross-process traces are handed to the peers stage to
// publish, other agents' keeps are followed at each tick, and sampled-out spans of cross-process
// traces wait in the hold for them (pipeline/peer_follow.cpp).
// With a trace log, each decision is recorded there once per trace (never per span), and probe()
// answers from the pipeline thread's own table and decision cache at its next turn.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "lookup/producers.hpp"
#include "lookup/trace_log.hpp"
#include "model/keep_queue.hpp"
#include "model/key_generations.hpp"
#include "model/packed_spans.hpp"
#include "model/span_queue.hpp"
#include "pipeline/hold.hpp"
#include "pipeline/recent_ids.hpp"
#include "pipeline/trace_table.hpp"
#include "sampling/decision_cache.hpp"
#include "sampling/sampler.hpp"
#include "scrub/scrubber.hpp"
#include "spanmetrics/span_metrics.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::pipeline {

/// The pipeline's side of peers; the defaults (null queues) mean peers are off.
struct PeerLinks {
  model::KeepQueue* publish = nullptr;  ///< keeps other agents may be missing, to publish
  model::KeepQueue* follow = nullptr;   ///< other agents' keeps, drained at each tick
  std::chrono::milliseconds hold_time{0};
  std::size_t hold_bytes = 0;
};

class Pipeline final {
 public:
  /// Monotonic nanoseconds; the Agent passes the steady clock, tests their own.
  using Clock = std::function<std::uint64_t()>;

  /// `metrics`, if given, counts every span before sampling and takes exemplars from kept ones;
  /// `scrubber`, if given, redacts and limits kept spans before they go to the exporter;
  /// `trace_log`, if given, gets a record of each decision.
  Pipeline(const config::SamplingConfig& config, model::SpanQueue& in, std::size_t in_capacity,
           model::SpanQueue& out, telemetry::Counters& counters, Clock clock,
           spanmetrics::SpanMetrics* metrics = nullptr, scrub::Scrubber* scrubber = nullptr,
           PeerLinks peers = {}, lookup::TraceLog* trace_log = nullptr);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  void start();
  /// Drains: closes the inbox, takes in everything still in it, decides every pending trace
  /// (trigger shutdown), hands the kept spans on, joins. Receivers must be stopped first.
  void stop();

  void ingest(model::SpanBatch& batch, std::uint64_t now_ns);
  void tick(std::uint64_t now_ns);
  void decide_all(telemetry::DecisionTrigger trigger);
  /// Hands the kept spans gathered so far to the exporter's queue (counted if it is full).
  void flush();

  /// New sampling settings, applied by the pipeline thread before its next batch.
  void reload(const config::SamplingConfig& config);
  [[nodiscard]] std::vector<sampling::PolicyStats> policy_stats() const;

  using Probe = lookup::Probe;
  /// Any thread: asks the pipeline thread (answered at its next turn, within tens of ms);
  /// nullopt if it did not answer within `timeout` (stopped, or stuck).
  [[nodiscard]] std::optional<Probe> probe(const model::TraceId& id,
                                           std::chrono::milliseconds timeout);
  /// The pipeline thread's side of probe(): answers a waiting question, if any.
  void answer_probe();

  [[nodiscard]] const TraceTable& table() const noexcept { return table_; }
  [[nodiscard]] bool stressed() const noexcept { return stressed_; }
  [[nodiscard]] const Hold& hold() const noexcept { return hold_; }

  /// Follows the keeps other agents published (peers): called at each tick; tests call it too.
  void follow_peers(std::uint64_t now_ns);

 private:
  void run() noexcept;
  void ingest_one(model::Span&& span, std::uint64_t now_ns);
  void hand_over(model::SpanBatch& batch);
  void hand_over_full();
  void follow_decision(model::Span&& span, sampling::DecisionCache::Entry entry);
  void decide_on_arrival(model::Span&& span);
  void finalize(const model::TraceId& id, const sampling::Decision& decision,
                telemetry::DecisionTrigger trigger);
  void emit(model::Span&& span, const sampling::Decision& decision);
  /// Records a decision in the trace log (once per trace). `trace` is null on arrival.
  void record_decision(const model::TraceId& id, const sampling::Decision& decision,
                       telemetry::DecisionTrigger trigger, const BufferedTrace* trace,
                       model::SpanList spans);
  /// The traces of a batch the exporter's queue refused, for the trace log.
  void note_queue_full(const model::SpanBatch& batch);
  void refresh_policy_names();
  void update_stress();
  void apply(const config::SamplingConfig& config);
  void publish(std::uint64_t now_ns);
  // Peers (pipeline/peer_follow.cpp).
  void follow_one(model::Keep& keep);
  void share(const model::TraceId& id, const sampling::Decision& decision, model::SpanList spans);
  void share_late(const model::Span& span);
  /// A late error or slow span after the trace was sampled out here: the trace is kept from
  /// now on, with its held spans, and shared with peers.
  void revise_drop(model::Span&& span, const sampling::Decision& decision);
  /// Whether a drop was made before the trace was whole (on arrival, early for memory).
  enum class Revisable : bool { No, Yes };
  /// Sampled-out spans: into the hold when their drop is revisable, their trace is held already
  /// or (peers on) crosses processes; else counted out.
  void sample_out(const model::TraceId& id, model::PackedSpans&& spans,
                  Revisable revisable = Revisable::No);
  void sample_out(model::Span&& span, Revisable revisable = Revisable::No);
  /// A trace kept after the hold let go of some of its spans: counted incomplete.
  void count_incomplete(const model::TraceId& id);
  [[nodiscard]] sampling::Decision peer_decision(const model::TraceId& id) const;
  [[nodiscard]] std::string_view intern_peer_policy(const std::string& name);

  config::SamplingConfig config_;
  std::uint64_t decision_wait_ns_;
  std::uint64_t max_age_ns_;
  model::SpanQueue& in_;
  const std::size_t in_capacity_;
  model::SpanQueue& out_;
  telemetry::Counters& counters_;
  Clock clock_;
  spanmetrics::SpanMetrics* metrics_;
  scrub::Scrubber* scrubber_;

  model::KeyGenerations keys_;  ///< attribute keys of buffered spans, the table's and the hold's
  TraceTable table_;
  sampling::Sampler sampler_;
  sampling::DecisionCache cache_;
  static constexpr std::size_t kOutBatchSpans = 256;
  /// How many spans ahead ingest() prefetches: far enough for a miss to land (~100 ns against
  /// ~100-200 ns a span), near enough that the lines are still there when used.
  static constexpr std::size_t kPrefetchAhead = 4;
  model::SpanBatch pending_out_;            ///< kept, filling up to kOutBatchSpans
  std::vector<model::SpanBatch> full_out_;  ///< kept, full, waiting for flush()
  bool stressed_ = false;
  std::uint64_t last_rate_tick_ns_ = 0;

  mutable std::mutex shared_mutex_;  ///< guards the two members below
  std::optional<config::SamplingConfig> pending_reload_;
  std::vector<sampling::PolicyStats> published_stats_;
  std::atomic<bool> reload_waiting_{false};

  // Peers; all idle when peers_.publish and peers_.follow are null.
  struct PeerKept {
    std::string_view policy;
    double probability;
  };
  PeerLinks peers_;
  Hold hold_;
  RecentIds<PeerKept> peer_kept_;              ///< which peer policy kept a trace, for late spans
  RecentIds<model::Keep> awaiting_share_;      ///< kept on the fast path, no cross-process span yet
  std::deque<std::string> peer_policy_names_;  ///< interned (stable addresses), bounded
  std::vector<model::Keep> followed_;
  std::uint64_t now_ns_ = 0;  ///< of the current turn, for the hold
  lookup::TraceLog* trace_log_;
  lookup::Producers producers_;  ///< what the trace log names for a decision's resources
  std::shared_ptr<const lookup::PolicyNames> policy_names_;  ///< for the trace log's records
  std::mutex ask_mutex_;                                     ///< one probe() at a time
  std::mutex probe_mutex_;                                   ///< guards the two members below
  std::condition_variable probe_answered_;
  std::optional<model::TraceId> probe_question_;
  std::optional<Probe> probe_answer_;
  std::atomic<bool> probe_waiting_{false};

  std::thread thread_;
};

}  // namespace tailgate::pipeline
