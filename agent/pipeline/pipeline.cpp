#include "pipeline/pipeline.hpp"

#include <pthread.h>

#include <algorithm>
#include <cassert>
#include <chrono>

#include <spdlog/spdlog.h>

#include "wire/decode.hpp"
#include "wire/pack.hpp"

namespace tailgate::pipeline {
namespace {

using telemetry::DecisionTrigger;
constexpr std::uint64_t kRateIntervalNs = 1'000'000'000;
constexpr std::uint8_t kNoPolicyInCache = sampling::DecisionCache::kMaxPolicies;
// Traces remembered for peers' bookkeeping (which peer policy kept one; which local keeps wait
// for a cross-process span to be shared): a few seconds' worth at 10k traces/s.
constexpr std::size_t kPeerBookEntries = 65536;

std::uint64_t to_ns(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

sampling::DecisionCache::Entry cache_entry(const sampling::Decision& d) {
  return {d.keep, d.policy == sampling::Decision::kNoPolicy ? kNoPolicyInCache
                                                            : static_cast<std::uint8_t>(d.policy)};
}

// A one-span view for rules that judge a span by itself (the fast path, load shedding).
model::Trace single_span_view(const model::SpanView& span, bool has_error,
                              std::uint64_t duration_ns) {
  return {span.trace_id(), model::SpanList(span), has_error, span.is_local_root(), duration_ns};
}

}  // namespace

Pipeline::Pipeline(const config::SamplingConfig& config, model::SpanQueue& in,
                   std::size_t in_capacity, model::SpanQueue& out, telemetry::Counters& counters,
                   Clock clock, spanmetrics::SpanMetrics* metrics, scrub::Scrubber* scrubber,
                   PeerLinks peers, lookup::TraceLog* trace_log)
    : config_(config),
      decision_wait_ns_(to_ns(config.decision_wait)),
      max_age_ns_(to_ns(config.max_trace_age)),
      in_(in),
      in_capacity_(in_capacity),
      out_(out),
      counters_(counters),
      clock_(std::move(clock)),
      metrics_(metrics),
      scrubber_(scrubber),
      table_(decision_wait_ns_, &keys_),
      sampler_(config),
      cache_(config.decision_cache_entries),
      peers_(peers),
      // One hold for both reasons to revise a drop; with peers on, theirs is the larger need.
      hold_(to_ns(peers.follow != nullptr ? peers.hold_time : config.hold_time),
            peers.follow != nullptr ? peers.hold_bytes : config.hold_bytes, &keys_),
      peer_kept_(kPeerBookEntries),
      awaiting_share_(kPeerBookEntries),
      trace_log_(trace_log) {
  published_stats_ = sampler_.stats();
  refresh_policy_names();
}

Pipeline::~Pipeline() {
  stop();
}

void Pipeline::start() {
  last_rate_tick_ns_ = clock_();
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "tg-pipeline");
    run();
  });
}

void Pipeline::stop() {
  if (!thread_.joinable()) return;
  in_.close();
  thread_.join();
}

void Pipeline::run() noexcept {
  std::vector<model::SpanBatch> batches;
  while (true) {
    // The short timeout bounds how late a deadline or a closed inbox is noticed.
    const auto n = in_.pop_batches(batches, std::chrono::milliseconds(20));
    if (reload_waiting_.load(std::memory_order_acquire)) {  // pairs with the release in reload()
      std::optional<config::SamplingConfig> next;
      {
        std::lock_guard lock(shared_mutex_);
        next.swap(pending_reload_);
        reload_waiting_.store(false, std::memory_order_relaxed);
      }
      if (next) apply(*next);
    }
    if (probe_waiting_.load(std::memory_order_acquire)) answer_probe();  // pairs with probe()
    const auto now = clock_();
    counters_.pipeline_heartbeat_ns.store(now, std::memory_order_relaxed);
    for (auto& batch : batches) {
      ingest(batch, now);
      // The exporter starts on full batches of kept spans while later batches are taken in;
      // the partial one waits for the end of the turn (a hand-over per batch taken in would
      // wake the exporter for a span or two, thousands of times a second).
      hand_over_full();
    }
    batches.clear();
    tick(now);
    flush();
    if (n == 0 && in_.closed() && in_.size_spans() == 0) break;
  }
  const auto end = clock_();
  follow_peers(end);
  decide_all(DecisionTrigger::Shutdown);
  // Nothing can rescue what is held any more: it is sampled out for good.
  counters_.spans_sampled_out.fetch_add(hold_.release_all(), std::memory_order_relaxed);
  flush();
  publish(end);
}

void Pipeline::ingest(model::SpanBatch& batch, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  // Every span, before any decision, counted as it is taken in (while it is in cache).
  std::unique_lock<std::mutex> counting;
  if (metrics_ != nullptr) counting = metrics_->counting();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    // The table slot and decision-cache buckets of a span a few places ahead start loading
    // while this one is filed: each is a likely cache miss (cold memory the size of the table).
    if (i + kPrefetchAhead < batch.size()) {
      table_.prefetch(batch[i + kPrefetchAhead].trace_id);
      cache_.prefetch(batch[i + kPrefetchAhead].trace_id);
    }
    if (metrics_ != nullptr) metrics_->count(batch[i]);
    ingest_one(std::move(batch[i]), now_ns);
  }
  if (counting.owns_lock()) counting.unlock();
  batch.clear();
  // Memory pressure: decide the oldest traces early, by the same policies, until under budget.
  while (table_.bytes() > config_.max_buffered_bytes) {
    const auto oldest = table_.next_oldest();
    if (!oldest) break;
    const auto* t = table_.find(*oldest);
    finalize(*oldest, sampler_.decide(t->view(*oldest)), DecisionTrigger::Memory);
  }
  update_stress();
}

void Pipeline::ingest_one(model::Span&& span, std::uint64_t now_ns) {
  const auto id = span.trace_id;
  auto* trace = table_.find(id);
  if (trace == nullptr) {
    if (const auto entry = cache_.find(id)) return follow_decision(std::move(span), *entry);
    if (stressed_) return decide_on_arrival(std::move(span));
  }
  const bool error = span.status == model::StatusCode::Error;
  auto& t = table_.add(std::move(span), now_ns);
  // Fast path: judge only the new span plus the running summary. Name and attribute rules are
  // per span, so earlier spans were judged when they came; error and duration are in the summary.
  const auto view = single_span_view(t.spans.back(), t.has_error, t.duration_ns());
  if (error || t.duration_ns() > 0) {
    if (const auto early = sampler_.decide_early(view)) {
      return finalize(id, *early, DecisionTrigger::FastPath);
    }
  }
  if (t.spans.size() >= config_.max_spans_per_trace || t.bytes >= config_.max_bytes_per_trace) {
    finalize(id, sampler_.decide(t.view(id)), DecisionTrigger::TraceCap);
  }
}

void Pipeline::follow_decision(model::Span&& span, sampling::DecisionCache::Entry entry) {
  // Kept with no policy of ours: a peer's keep (a local keep always names its policy).
  auto decision = entry.kept && entry.policy == kNoPolicyInCache
                      ? peer_decision(span.trace_id)
                      : sampler_.recall(entry.kept, entry.policy == kNoPolicyInCache
                                                        ? sampling::Decision::kNoPolicy
                                                        : entry.policy);
  if (!decision.keep) {
    // A late span that is itself an error or slow is kept even so: it is what someone will
    // look for, and it revises the drop for the whole trace (revise_drop).
    const auto view =
        single_span_view(span, span.status == model::StatusCode::Error, span.duration_ns());
    if (const auto early = sampler_.decide_early(view)) return revise_drop(std::move(span), *early);
  }
  if (decision.keep) {
    counters_.late_spans_kept.fetch_add(1, std::memory_order_relaxed);
    share_late(span);
    emit(std::move(span), decision);
  } else {
    counters_.late_spans_sampled_out.fetch_add(1, std::memory_order_relaxed);
    sample_out(std::move(span));
  }
}

void Pipeline::revise_drop(model::Span&& span, const sampling::Decision& decision) {
  const auto id = span.trace_id;
  counters_.late_spans_kept.fetch_add(1, std::memory_order_relaxed);
  // The trace's spans this agent still holds come back: sampled out before it was whole (on
  // arrival under stress, early for memory) or, with peers, as a cross-process part.
  count_incomplete(id);
  auto spans = wire::take_spans(hold_.take(id));
  counters_.hold_spans_revived.fetch_add(spans.size(), std::memory_order_relaxed);
  spans.push_back(std::move(span));
  cache_.overwrite(id, cache_entry(decision));  // later spans follow the keep, not the drop
  if (trace_log_ != nullptr) {
    record_decision(id, decision, telemetry::DecisionTrigger::FastPath, nullptr, spans);
  }
  share(id, decision, spans);  // the other agents' parts too, as for any local keep
  for (auto& s : spans) emit(std::move(s), decision);
}

void Pipeline::decide_on_arrival(model::Span&& span) {
  // Judged before it is buffered, where the trace state is taken out of the items: the coin
  // reads its ot=rv: (outside attack: under stress, rv was ignored on every packed path).
  if (span.trace_state.empty() && !span.packed.empty()) {
    if (const auto state = wire::trace_state_item(span.packed.bytes(), span.packed.count()))
      span.trace_state = *state;
  }
  const auto view =
      single_span_view(span, span.status == model::StatusCode::Error, span.duration_ns());
  const auto decision = sampler_.decide_on_arrival(view);
  cache_.record(span.trace_id, cache_entry(decision));
  counters_.add_decision(DecisionTrigger::Stress);
  if (trace_log_ != nullptr) {
    record_decision(span.trace_id, decision, DecisionTrigger::Stress, nullptr,
                    model::SpanList(model::SpanView(span)));
  }
  if (decision.keep) {
    share(span.trace_id, decision, model::SpanList(model::SpanView(span)));
    emit(std::move(span), decision);
  } else {
    sample_out(std::move(span), Revisable::Yes);  // decided on one span: the rest may say error
  }
}

void Pipeline::finalize(const model::TraceId& id, const sampling::Decision& decision,
                        DecisionTrigger trigger) {
  const auto* trace = trace_log_ != nullptr ? table_.find(id) : nullptr;
  if (trace != nullptr) record_decision(id, decision, trigger, trace, trace->spans.list());
  auto packed = table_.take(id);
  cache_.record(id, cache_entry(decision));
  counters_.add_decision(trigger);
  if (!decision.keep) {
    // Decided early for memory, before the trace was whole: the drop stays revisable. Sampled
    // out, its spans are never decoded.
    const bool early = trigger == DecisionTrigger::Memory || trigger == DecisionTrigger::Stress;
    return sample_out(id, std::move(packed), early ? Revisable::Yes : Revisable::No);
  }
  share(id, decision, packed.list());
  auto spans = wire::take_spans(std::move(packed));
  // limits.max_spans_per_trace: the root (it ends last, so arrives last) and then the first
  // that arrived go; the rest are dropped and counted.
  if (scrubber_ != nullptr && spans.size() > scrubber_->max_spans_per_trace()) {
    std::stable_partition(spans.begin(), spans.end(),
                          [](const model::Span& s) { return s.is_local_root(); });
    const auto extra = spans.size() - scrubber_->max_spans_per_trace();
    spans.resize(scrubber_->max_spans_per_trace());
    counters_.add_dropped(telemetry::DropReason::TraceLimit, extra);
  }
  for (auto& span : spans) emit(std::move(span), decision);
}

void Pipeline::emit(model::Span&& span, const sampling::Decision& decision) {
  // Everything after the pipeline (scrubber, exporter, spool) reads decoded fields. The items
  // were checked when received, so this cannot fail short of a bug; a span is never lost to it.
  [[maybe_unused]] const auto unpacked = wire::unpack(span);
  assert(unpacked == wire::DecodeError::None);
  if (scrubber_ != nullptr) scrubber_->apply(span);
  sampler_.annotate(span, decision);
  // Kept spans go to the exporter in batches of kOutBatchSpans. One batch per turn grew without
  // bound when a turn decided many traces (a burst, memory pressure): past the export queue's
  // bounds it could never fit, so all of it was dropped while the exporter sat idle (seen at
  // 250k spans/s kept). Each batch starts with its room instead of growing from nothing. They
  // are pushed at flush(): emit() may run under span metrics' lock, which flush() takes.
  if (pending_out_.capacity() == 0) pending_out_.reserve(kOutBatchSpans);
  pending_out_.push_back(std::move(span));
  if (pending_out_.size() >= kOutBatchSpans) {
    full_out_.push_back(std::move(pending_out_));
    pending_out_.clear();
  }
}

void Pipeline::flush() {
  hand_over_full();
  hand_over(pending_out_);
}

void Pipeline::hand_over_full() {
  for (auto& batch : full_out_) hand_over(batch);
  full_out_.clear();
}

void Pipeline::hand_over(model::SpanBatch& batch) {
  if (batch.empty()) return;
  const auto n = batch.size();
  if (metrics_ != nullptr) metrics_->stage_exemplars(batch);
  const bool delivered = out_.try_push(batch);
  if (metrics_ != nullptr) metrics_->commit_exemplars(delivered);
  if (delivered) {
    counters_.spans_kept.fetch_add(n, std::memory_order_relaxed);
  } else {
    counters_.add_dropped(telemetry::DropReason::ExportQueueFull, n);
    if (trace_log_ != nullptr) note_queue_full(batch);
    batch.clear();
  }
}

void Pipeline::tick(std::uint64_t now_ns) {
  // Peers' keeps first: a trace a peer kept is kept now rather than decided alone below.
  follow_peers(now_ns);
  while (const auto id = table_.next_root_due(now_ns)) {
    const auto* t = table_.find(*id);
    finalize(*id, sampler_.decide(t->view(*id)), DecisionTrigger::Root);
  }
  if (now_ns >= max_age_ns_) {
    while (const auto id = table_.next_oldest(now_ns - max_age_ns_)) {
      const auto* t = table_.find(*id);
      finalize(*id, sampler_.decide(t->view(*id)), DecisionTrigger::Timeout);
    }
  }
  update_stress();
  if (now_ns - last_rate_tick_ns_ >= kRateIntervalNs) {
    sampler_.tick(static_cast<double>(now_ns - last_rate_tick_ns_) / 1e9);
    last_rate_tick_ns_ = now_ns;
  }
  // Every turn (tens of ms): a scrape then sees decisions and buffers as they are. The copy is
  // a few policies' counts.
  publish(now_ns);
}

void Pipeline::decide_all(DecisionTrigger trigger) {
  while (const auto id = table_.next_oldest()) {
    const auto* t = table_.find(*id);
    finalize(*id, sampler_.decide(t->view(*id)), trigger);
  }
}

void Pipeline::update_stress() {
  const double buffer_fill =
      static_cast<double>(table_.bytes()) / static_cast<double>(config_.max_buffered_bytes);
  const double inbox_fill = static_cast<double>(in_.size_spans()) /
                            static_cast<double>(std::max<std::size_t>(1, in_capacity_));
  const double fill = std::max(buffer_fill, inbox_fill);
  if (!stressed_ && fill >= config_.stress_enter) {
    stressed_ = true;
    spdlog::warn("event=stress_entered buffer_fill={:.2f} inbox_fill={:.2f}", buffer_fill,
                 inbox_fill);
  } else if (stressed_ && fill <= config_.stress_exit) {
    stressed_ = false;
    spdlog::info("event=stress_left buffer_fill={:.2f} inbox_fill={:.2f}", buffer_fill, inbox_fill);
  }
}

void Pipeline::reload(const config::SamplingConfig& config) {
  {
    std::lock_guard lock(shared_mutex_);
    pending_reload_ = config;
  }
  reload_waiting_.store(true, std::memory_order_release);  // pairs with the acquire in run()
}

void Pipeline::apply(const config::SamplingConfig& config) {
  config_ = config;
  decision_wait_ns_ = to_ns(config.decision_wait);
  max_age_ns_ = to_ns(config.max_trace_age);
  sampler_.set_policies(config);
  refresh_policy_names();
  // Buffered traces keep the deadlines they were given; new roots get the new wait. The decision
  // cache keeps its size: resizing it would forget recent decisions.
  table_.set_decision_wait(decision_wait_ns_);
  spdlog::info("event=sampling_reloaded policies={} decision_wait_ms={}", sampler_.policy_count(),
               config.decision_wait.count());
  publish(clock_());
}

void Pipeline::publish(std::uint64_t /*now_ns*/) {
  counters_.traces_buffered.store(table_.traces(), std::memory_order_relaxed);
  counters_.spans_buffered.store(table_.spans(), std::memory_order_relaxed);
  counters_.bytes_buffered.store(table_.bytes(), std::memory_order_relaxed);
  counters_.key_tables_live.store(keys_.live(), std::memory_order_relaxed);
  counters_.key_tables_renewed.store(keys_.renewals(), std::memory_order_relaxed);
  counters_.stressed.store(stressed_ ? 1 : 0, std::memory_order_relaxed);
  counters_.hold_spans.store(hold_.spans(), std::memory_order_relaxed);
  counters_.hold_bytes.store(hold_.bytes(), std::memory_order_relaxed);
  counters_.base_probability_ppm.store(
      static_cast<std::uint64_t>(sampler_.base_probability() * 1e6 + 0.5),
      std::memory_order_relaxed);
  std::lock_guard lock(shared_mutex_);
  published_stats_ = sampler_.stats();
}

std::vector<sampling::PolicyStats> Pipeline::policy_stats() const {
  std::lock_guard lock(shared_mutex_);
  return published_stats_;
}

}  // namespace tailgate::pipeline
