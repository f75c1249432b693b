#include "pipeline/hold.hpp"

#include <iterator>

namespace tailgate::pipeline {
namespace {
// Traces let go that the hold still recognises when their keep comes: at 10k cross-process
// traces let go a second, the last ~6 s; 64 bytes each.
constexpr std::size_t kLetGoRemembered = 65536;
}  // namespace

Hold::Hold(std::uint64_t hold_time_ns, std::size_t max_bytes)
    : hold_time_ns_(hold_time_ns), max_bytes_(max_bytes), let_go_(kLetGoRemembered) {}

std::size_t Hold::add(const model::TraceId& id, model::SpanBatch&& spans, std::uint64_t now_ns) {
  if (spans.empty()) return 0;
  auto [it, fresh] = traces_.try_emplace(id);
  auto& held = it->second;
  if (fresh) {
    held.sequence = next_sequence_++;
    arrivals_.push_back({now_ns, id, held.sequence});
    bytes_ += kArrivalBytes;
  }
  std::size_t bytes = 0;
  for (const auto& span : spans) bytes += model::memory_bytes(span);
  held.bytes += bytes;
  bytes_ += bytes;
  spans_ += spans.size();
  // A trace's spans usually come once, at its drop: the batch itself is held (no copy, no growth).
  if (held.spans.empty()) {
    held.spans = std::move(spans);
  } else {
    held.spans.insert(held.spans.end(), std::make_move_iterator(spans.begin()),
                      std::make_move_iterator(spans.end()));
  }
  std::size_t released = 0;
  while (bytes_ > max_bytes_ && !arrivals_.empty()) {
    if (!pop_stale()) released += release_oldest();
  }
  return released;
}

model::SpanBatch Hold::take(const model::TraceId& id) {
  const auto it = traces_.find(id);
  if (it == traces_.end()) return {};
  auto spans = std::move(it->second.spans);
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
