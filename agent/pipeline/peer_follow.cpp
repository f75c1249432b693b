// The pipeline's side of peers (docs/fleet.md): which keeps to share, following other agents'
// keeps; and the hold of sampled-out spans whose drop may be revised (cross-process traces with
// peers on; traces decided before they were whole, always). Pipeline members; they run on the
// pipeline thread.
#include <algorithm>

#include "pipeline/pipeline.hpp"
#include "wire/pack.hpp"

namespace tailgate::pipeline {
namespace {

constexpr std::uint8_t kNoPolicyInCache = sampling::DecisionCache::kMaxPolicies;
// Peers' policy names are interned (a late span's decision points at its name). Any text may come
// from the stream, so the names are bounded; past the bound, "other".
constexpr std::size_t kMaxPeerPolicyNames = 64;

// Whether a span shows that its trace crossed a process boundary here, so that other agents may
// hold other parts of it: its parent is in another process (flagged remote, or implied by a
// server or consumer span with a parent: the caller is elsewhere), or it calls out.
bool crosses(const model::SpanView& s) noexcept {
  using model::SpanKind;
  const auto kind = s.kind();
  return s.parent_is_remote() || kind == SpanKind::Client || kind == SpanKind::Producer ||
         ((kind == SpanKind::Server || kind == SpanKind::Consumer) && !s.is_root());
}

bool any_crosses(const model::SpanList& spans) noexcept {
  for (const auto span : spans) {
    if (crosses(span)) return true;
  }
  return false;
}

}  // namespace

void Pipeline::follow_peers(std::uint64_t now_ns) {
  now_ns_ = now_ns;
  if (peers_.follow != nullptr) {
    followed_.clear();
    peers_.follow->pop_all(followed_);
    for (auto& keep : followed_) follow_one(keep);
  }
  counters_.spans_sampled_out.fetch_add(hold_.expire(now_ns), std::memory_order_relaxed);
}

void Pipeline::count_incomplete(const model::TraceId& id) {
  if (const auto missing = hold_.take_too_late(id)) {
    counters_.traces_kept_incomplete.fetch_add(1, std::memory_order_relaxed);
    counters_.kept_spans_missing.fetch_add(missing, std::memory_order_relaxed);
    if (peers_.follow != nullptr) {
      counters_.peer_spans_too_late.fetch_add(missing, std::memory_order_relaxed);
    }
  }
}

void Pipeline::follow_one(model::Keep& keep) {
  const auto& id = keep.trace_id;
  sampling::Decision decision{.keep = true,
                              .policy = sampling::Decision::kNoPolicy,
                              .probability = keep.probability,
                              .peer_policy = intern_peer_policy(keep.policy)};
  count_incomplete(id);
  // Held spans come back whether or not the trace is buffered again here (a late span whose
  // drop the decision cache had forgotten starts a new entry beside them).
  auto held = wire::take_spans(hold_.take(id));
  const bool buffered = table_.find(id) != nullptr;
  if (!buffered && held.empty()) {
    const auto entry = cache_.find(id);
    if (entry && entry->kept) return;  // kept here already, by a policy here or an earlier keep
  }
  peer_kept_.put(id, {decision.peer_policy, decision.probability});
  if (!held.empty()) {
    counters_.peer_spans_rescued.fetch_add(held.size(), std::memory_order_relaxed);
    // Sampled out here, then kept for a peer: the trace log's answer changes to kept (trigger
    // peer).
    if (trace_log_ != nullptr && !buffered) {
      record_decision(id, decision, telemetry::DecisionTrigger::Peer, nullptr, held);
    }
    for (auto& span : held) emit(std::move(span), decision);
  }
  if (buffered || !held.empty())
    counters_.peer_traces_followed.fetch_add(1, std::memory_order_relaxed);
  // Buffered here: kept now, whole. Else spans to come are kept: the cache's drop, if any, is
  // overridden (a late span must not follow it).
  if (buffered) return finalize(id, decision, telemetry::DecisionTrigger::Peer);
  cache_.overwrite(id, {true, kNoPolicyInCache});
  if (!held.empty()) counters_.add_decision(telemetry::DecisionTrigger::Peer);
}

void Pipeline::share(const model::TraceId& id, const sampling::Decision& decision,
                     model::SpanList spans) {
  // Only keeps another agent could be missing: made here (not followed), by a policy that looked
  // at the data (the base rate's coin by trace id is the same everywhere).
  if (peers_.publish == nullptr || !decision.keep || !decision.peer_policy.empty() ||
      decision.policy == sampling::Decision::kNoPolicy || sampler_.is_base(decision.policy)) {
    return;
  }
  model::Keep keep{id, sampler_.policy_name(decision.policy), decision.probability};
  if (!any_crosses(spans)) {
    // Kept on the fast path before any span showed the trace leaving this process (an error
    // child comes before its server root, which ends last): shared if one shows it later.
    awaiting_share_.put(id, std::move(keep));
    return;
  }
  if (!peers_.publish->try_push(std::move(keep))) {
    counters_.add_peer_loss(telemetry::PeerLoss::PublishQueueFull);
  }
}

void Pipeline::share_late(const model::Span& span) {
  if (peers_.publish == nullptr || !crosses(span)) return;
  if (auto keep = awaiting_share_.take(span.trace_id)) {
    if (!peers_.publish->try_push(std::move(*keep))) {
      counters_.add_peer_loss(telemetry::PeerLoss::PublishQueueFull);
    }
  }
}

void Pipeline::sample_out(const model::TraceId& id, model::PackedSpans&& spans,
                          Revisable revisable) {
  const bool hold = revisable == Revisable::Yes || hold_.contains(id) ||
                    (peers_.follow != nullptr && any_crosses(spans.list()));
  if (!hold) {
    counters_.spans_sampled_out.fetch_add(spans.size(), std::memory_order_relaxed);
    return;
  }
  const auto let_go = hold_.add(id, std::move(spans), now_ns_);
  counters_.spans_sampled_out.fetch_add(let_go, std::memory_order_relaxed);
}

void Pipeline::sample_out(model::Span&& span, Revisable revisable) {
  const auto id = span.trace_id;
  const bool hold = revisable == Revisable::Yes || hold_.contains(id) ||
                    (peers_.follow != nullptr && crosses(span));
  if (!hold) {
    counters_.spans_sampled_out.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto let_go = hold_.add(id, std::move(span), now_ns_);
  counters_.spans_sampled_out.fetch_add(let_go, std::memory_order_relaxed);
}

sampling::Decision Pipeline::peer_decision(const model::TraceId& id) const {
  // Past the book's memory the policy's name is forgotten, not the keep (the cache holds it).
  sampling::Decision d{.keep = true,
                       .policy = sampling::Decision::kNoPolicy,
                       .probability = 1.0,
                       .peer_policy = "unknown"};
  if (const auto* kept = peer_kept_.find(id)) {
    d.peer_policy = kept->policy;
    d.probability = kept->probability;
  }
  return d;
}

std::string_view Pipeline::intern_peer_policy(const std::string& name) {
  if (name.empty()) return "unknown";  // an empty name would read as a local decision
  for (const auto& known : peer_policy_names_) {
    if (known == name) return known;
  }
  if (peer_policy_names_.size() >= kMaxPeerPolicyNames) return "other";
  return peer_policy_names_.emplace_back(name);
}

}  // namespace tailgate::pipeline
