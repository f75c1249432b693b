// The pipeline's side of "where is my trace?" (lookup/trace_log.hpp): a record per decided trace,
// the traces the exporter's queue refused, and probe(), the admin thread's question about what
// the pipeline thread alone knows (its trace table and decision cache).
#include "pipeline/pipeline.hpp"

namespace tailgate::pipeline {

void Pipeline::refresh_policy_names() {
  auto names = std::make_shared<lookup::PolicyNames>();
  for (std::size_t i = 0; i < sampler_.policy_count(); ++i) {
    names->push_back(sampler_.policy_name(i));
  }
  policy_names_ = std::move(names);
}

void Pipeline::record_decision(const model::TraceId& id, const sampling::Decision& decision,
                               telemetry::DecisionTrigger trigger, const BufferedTrace* trace,
                               model::SpanList spans) {
  lookup::Decided d;
  d.id = id;
  d.kept = decision.keep;
  d.trigger = trigger;
  d.policy = decision.policy == sampling::Decision::kNoPolicy
                 ? lookup::Decided::kNoPolicy
                 : static_cast<std::uint16_t>(decision.policy);
  d.probability = decision.probability;
  d.decided_ns = clock_();
  d.first_arrival_ns = trace != nullptr ? trace->first_arrival_ns : d.decided_ns;
  d.root_seen =
      trace != nullptr ? trace->root_seen : !spans.empty() && spans.front().is_local_root();
  d.spans = static_cast<std::uint32_t>(spans.size());
  // Spans of one producer share one resource: a pointer compare each, once per trace.
  const model::Resource* last = nullptr;
  for (const auto span : spans) {
    const auto& resource = span.resource();
    if (resource == nullptr || resource.get() == last) continue;
    last = resource.get();
    d.add_producer(producers_.of(resource));
  }
  d.policy_names = policy_names_;
  d.export_state = decision.keep ? lookup::ExportState::Queued : lookup::ExportState::None;
  trace_log_->record(std::move(d));
}

void Pipeline::note_queue_full(const model::SpanBatch& batch) {
  // A trace's spans sit together in a batch (finalize emits them in a row): one id per run.
  std::vector<model::TraceId> ids;
  for (const auto& span : batch) {
    if (ids.empty() || ids.back() != span.trace_id) ids.push_back(span.trace_id);
  }
  trace_log_->set_export_state(ids, lookup::ExportState::QueueFull);
}

std::optional<Pipeline::Probe> Pipeline::probe(const model::TraceId& id,
                                               std::chrono::milliseconds timeout) {
  std::lock_guard asking(ask_mutex_);
  std::unique_lock lock(probe_mutex_);
  probe_question_ = id;
  probe_answer_.reset();
  probe_waiting_.store(true, std::memory_order_release);  // pairs with the acquire in run()
  const bool answered =
      probe_answered_.wait_for(lock, timeout, [this] { return probe_answer_.has_value(); });
  probe_question_.reset();
  probe_waiting_.store(false, std::memory_order_relaxed);
  if (!answered) return std::nullopt;
  return std::exchange(probe_answer_, std::nullopt);
}

void Pipeline::answer_probe() {
  std::lock_guard lock(probe_mutex_);
  probe_waiting_.store(false, std::memory_order_relaxed);
  if (!probe_question_) return;
  const auto& id = *probe_question_;
  Probe answer;
  if (const auto* t = table_.find(id)) {
    answer.buffered = true;
    answer.spans = static_cast<std::uint32_t>(t->spans.size());
    answer.first_arrival_ns = t->first_arrival_ns;
    answer.bytes = t->bytes;
    answer.root_seen = t->root_seen;
  } else if (const auto entry = cache_.find(id)) {
    answer.in_decision_cache = true;
    answer.kept = entry->kept;
    if (entry->policy < sampler_.policy_count())
      answer.policy = sampler_.policy_name(entry->policy);
  }
  probe_answer_ = std::move(answer);
  probe_answered_.notify_all();
}

}  // namespace tailgate::pipeline
