#include "pipeline/trace_table.hpp"

#include <algorithm>
#include <cstring>

namespace tailgate::pipeline {

std::size_t TraceIdHash::operator()(const model::TraceId& id) const noexcept {
  std::uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, id.data(), 8);
  std::memcpy(&lo, id.data() + 8, 8);
  // Ids are random in their low half at least; the multiply spreads a zero-padded 64-bit id too.
  return static_cast<std::size_t>((hi * 0x9e3779b97f4a7c15ULL) ^ lo);
}

TraceTable::TraceTable(std::uint64_t decision_wait_ns) : decision_wait_ns_(decision_wait_ns) {}

BufferedTrace& TraceTable::add(model::Span&& span, std::uint64_t now_ns) {
  auto [it, created] = traces_.try_emplace(span.trace_id);
  auto& t = it->second;
  if (created) {
    t.first_arrival_ns = now_ns;
    t.sequence = next_sequence_++;
    arrivals_.push_back({now_ns, span.trace_id, t.sequence});
  }
  t.last_arrival_ns = now_ns;
  t.min_start_ns = std::min(t.min_start_ns, span.start_unix_ns);
  t.max_end_ns = std::max(t.max_end_ns, span.end_unix_ns);
  t.has_error |= span.status == model::StatusCode::Error;
  if (span.is_local_root() && !t.root_seen) {
    t.root_seen = true;
    root_due_.push_back({now_ns + decision_wait_ns_, span.trace_id, t.sequence});
  }
  const auto bytes = model::memory_bytes(span);
  t.bytes += bytes;
  bytes_ += bytes;
  ++spans_;
  t.spans.push_back(std::move(span));
  return t;
}

BufferedTrace* TraceTable::find(const model::TraceId& id) noexcept {
  const auto it = traces_.find(id);
  return it == traces_.end() ? nullptr : &it->second;
}

model::SpanBatch TraceTable::take(const model::TraceId& id) {
  const auto it = traces_.find(id);
  if (it == traces_.end()) return {};
  bytes_ -= it->second.bytes;
  spans_ -= it->second.spans.size();
  auto spans = std::move(it->second.spans);
  traces_.erase(it);
  return spans;
}

bool TraceTable::live(const Due& d) const {
  const auto it = traces_.find(d.id);
  return it != traces_.end() && it->second.sequence == d.sequence;
}

std::optional<model::TraceId> TraceTable::next_root_due(std::uint64_t now_ns) {
  while (!root_due_.empty()) {
    const auto d = root_due_.front();
    if (!live(d)) {
      root_due_.pop_front();
      continue;
    }
    if (d.at_ns > now_ns) return std::nullopt;
    root_due_.pop_front();
    return d.id;
  }
  return std::nullopt;
}

std::optional<model::TraceId> TraceTable::next_oldest(std::uint64_t before_ns) {
  while (!arrivals_.empty()) {
    const auto d = arrivals_.front();
    if (!live(d)) {
      arrivals_.pop_front();
      continue;
    }
    if (d.at_ns > before_ns) return std::nullopt;
    return d.id;
  }
  return std::nullopt;
}

}  // namespace tailgate::pipeline
