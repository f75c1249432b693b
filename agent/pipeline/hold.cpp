#include "pipeline/hold.hpp"

#include <utility>

namespace tailgate::pipeline {
namespace {
// Traces let go that the hold still recognises when their keep comes: at 10k cross-process
// traces let go a second, the last ~6 s; 64 bytes each.
constexpr std::size_t kLetGoRemembered = 65536;
}  // namespace

Hold::Hold(std::uint64_t hold_time_ns, std::size_t max_bytes, model::KeyGenerations* keys)
    : hold_time_ns_(hold_time_ns),
      max_bytes_(max_bytes),
      own_keys_(keys == nullptr ? std::make_unique<model::KeyGenerations>() : nullptr),
      keys_(keys == nullptr ? own_keys_.get() : keys),
      let_go_(kLetGoRemembered) {}

template <typename Put>
std::size_t Hold::add_with(const model::TraceId& id, std::uint64_t now_ns, Put&& put) {
  auto [it, fresh] = traces_.try_emplace(id);
  auto& held = it->second;
  if (fresh) {
    held.sequence = next_sequence_++;
    arrivals_.push_back({now_ns, id, held.sequence});
    bytes_ += kArrivalBytes;
  }
  const auto spans_before = held.spans.size();
  const auto bytes = put(held.spans);
  held.spans.bind(&ledger_);  // a trace moved in whole came unbound
  held.bytes += bytes;
  bytes_ += bytes;
  spans_ += held.spans.size() - spans_before;
  std::size_t released = 0;
  while (this->bytes() > max_bytes_ && !arrivals_.empty()) {
    if (!pop_stale()) released += release_oldest();
  }
  return released;
}

std::size_t Hold::add(const model::TraceId& id, model::PackedSpans&& spans, std::uint64_t now_ns) {
  if (spans.empty()) return 0;
  // A trace's spans usually come once, at its drop: the table's block is held as it is.
  return add_with(id, now_ns, [&](model::PackedSpans& held) {
    return wire::pack(std::move(spans), held, *keys_, scratch_);
  });
}

std::size_t Hold::add(const model::TraceId& id, model::Span&& span, std::uint64_t now_ns) {
  return add_with(id, now_ns, [&](model::PackedSpans& held) {
    return wire::pack(std::move(span), held, *keys_, scratch_);
  });
}

std::size_t Hold::add(const model::TraceId& id, model::SpanBatch&& spans, std::uint64_t now_ns) {
  if (spans.empty()) return 0;
  return add_with(id, now_ns, [&](model::PackedSpans& held) {
    std::size_t bytes = 0;
    for (auto& span : spans) bytes += wire::pack(std::move(span), held, *keys_, scratch_);
    return bytes;
  });
}

model::PackedSpans Hold::take(const model::TraceId& id) {
  const auto it = traces_.find(id);
  if (it == traces_.end()) return {};
  auto spans = std::move(it->second.spans);
  spans.bind(nullptr);
  bytes_ -= it->second.bytes;
  spans_ -= spans.size();
  traces_.erase(it);  // its arrival stays behind, stale (the sequence tells)
  return spans;
}

std::size_t Hold::expire(std::uint64_t now_ns) {
  std::size_t released = 0;
  while (!arrivals_.empty()) {
    if (pop_stale()) continue;  // taken (rescued) or let go already
    if (now_ns - arrivals_.front().at_ns < hold_time_ns_) break;
    released += release_oldest();
  }
  return released;
}

std::size_t Hold::release_all() {
  std::size_t released = 0;
  while (!arrivals_.empty()) released += release_oldest();
  return released;
}

std::size_t Hold::release_oldest() {
  while (!arrivals_.empty()) {
    const auto a = arrivals_.front();
    pop_arrival();
    const auto it = traces_.find(a.id);
    if (it == traces_.end() || it->second.sequence != a.sequence) continue;
    const auto n = it->second.spans.size();
    bytes_ -= it->second.bytes;
    spans_ -= n;
    traces_.erase(it);
    let_go_.put(a.id, n);
    return n;
  }
  return 0;
}

bool Hold::pop_stale() noexcept {
  const auto& a = arrivals_.front();
  const auto it = traces_.find(a.id);
  if (it != traces_.end() && it->second.sequence == a.sequence) return false;
  pop_arrival();
  return true;
}

void Hold::pop_arrival() noexcept {
  arrivals_.pop_front();
  bytes_ -= kArrivalBytes;
}

std::size_t Hold::take_too_late(const model::TraceId& id) {
  return let_go_.take(id).value_or(0);
}

}  // namespace tailgate::pipeline
