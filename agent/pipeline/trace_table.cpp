#include "pipeline/trace_table.hpp"

#include <algorithm>
#include <bit>

namespace tailgate::pipeline {

namespace {

constexpr std::size_t kInitialSlots = 1024;
constexpr std::size_t kStaleSlack = 4096;

}  // namespace

TraceTable::TraceTable(std::uint64_t decision_wait_ns, model::KeyGenerations* keys)
    : decision_wait_ns_(decision_wait_ns),
      own_keys_(keys == nullptr ? std::make_unique<model::KeyGenerations>() : nullptr),
      keys_(keys == nullptr ? own_keys_.get() : keys),
      slots_(kInitialSlots),
      shift_(64 - static_cast<unsigned>(std::countr_zero(kInitialSlots))) {}

std::size_t TraceTable::probe(const model::TraceId& id) const noexcept {
  const auto [hi, lo] = halves(id);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = home(hi, lo);; i = (i + 1) & mask) {
    const auto& slot = slots_[i];
    if (slot.sequence == 0 || (slot.hi == hi && slot.lo == lo)) return i;
  }
}

void TraceTable::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  --shift_;
  const std::size_t mask = slots_.size() - 1;
  for (const auto& slot : old) {
    if (slot.sequence == 0) continue;
    auto i = home(slot.hi, slot.lo);
    while (slots_[i].sequence != 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

void TraceTable::erase_slot(std::size_t i) noexcept {
  // Backward shift: each entry after the hole that may live at the hole (the hole lies between
  // its home and where it is) moves into it, so every probe still ends at an empty slot.
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t j = (i + 1) & mask; slots_[j].sequence != 0; j = (j + 1) & mask) {
    const auto from_home = (j - home(slots_[j].hi, slots_[j].lo)) & mask;
    if (from_home >= ((j - i) & mask)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
}

BufferedTrace& TraceTable::add(model::Span&& span, std::uint64_t now_ns) {
  auto i = probe(span.trace_id);
  if (slots_[i].sequence == 0) {
    if ((count_ + 1) * 2 > slots_.size()) {
      grow();
      i = probe(span.trace_id);
    }
    std::uint32_t index = 0;
    if (free_.empty()) {
      index = static_cast<std::uint32_t>(traces_.size());
      traces_.emplace_back();
    } else {
      index = free_.back();
      free_.pop_back();
    }
    auto& t = traces_[index];
    t.spans.bind(&ledger_);
    t.first_arrival_ns = now_ns;
    t.sequence = next_sequence_++;
    const auto [hi, lo] = halves(span.trace_id);
    slots_[i] = Slot{hi, lo, t.sequence, index};
    ++count_;
    arrivals_.push_back({now_ns, span.trace_id, t.sequence});
    compact_if_stale(arrivals_);
    // What the trace costs the table besides its spans (outside attack: ~190 B a trace went
    // uncounted, RSS twice buffered_bytes with 1-span traces).
    t.bytes += kIndexBytes;
    bytes_ += kIndexBytes;
  }
  auto& t = traces_[slots_[i].index];
  t.last_arrival_ns = now_ns;
  t.min_start_ns = std::min(t.min_start_ns, span.start_unix_ns);
  t.max_end_ns = std::max(t.max_end_ns, span.end_unix_ns);
  t.has_error |= span.status == model::StatusCode::Error;
  if (span.is_local_root() && !t.root_seen) {
    t.root_seen = true;
    root_due_.push_back({now_ns + decision_wait_ns_, span.trace_id, t.sequence});
    compact_if_stale(root_due_);
  }
  const auto bytes = wire::pack(std::move(span), t.spans, *keys_, scratch_);
  t.bytes += bytes;
  bytes_ += bytes;
  ++spans_;
  return t;
}

BufferedTrace* TraceTable::find(const model::TraceId& id) noexcept {
  const auto& slot = slots_[probe(id)];
  return slot.sequence == 0 ? nullptr : &traces_[slot.index];
}

model::PackedSpans TraceTable::take(const model::TraceId& id) {
  const auto i = probe(id);
  if (slots_[i].sequence == 0) return {};
  const auto index = slots_[i].index;
  auto& t = traces_[index];
  bytes_ -= t.bytes;
  spans_ -= t.spans.size();
  auto spans = std::move(t.spans);
  spans.bind(nullptr);
  t = BufferedTrace{};
  erase_slot(i);
  --count_;
  if (count_ == 0) {
    // Empty (after a burst, say): give back what the burst grew.
    traces_.clear();
    free_.clear();
    if (slots_.size() > kInitialSlots) {
      slots_.assign(kInitialSlots, Slot{});
      shift_ = 64 - static_cast<unsigned>(std::countr_zero(kInitialSlots));
    }
  } else {
    free_.push_back(index);
  }
  return spans;
}

bool TraceTable::live(const Due& d) const {
  return slots_[probe(d.id)].sequence == d.sequence;
}

void TraceTable::compact_if_stale(std::deque<Due>& queue) {
  // Entries of traces decided early stay until they reach the front, and one trace that waits
  // (no root, max_trace_age away) kept every entry behind it: +300 MiB uncounted in 30 s of
  // 1-span traces behind one rootless span (outside attack). Dropped here once they are more than
  // half: each pass removes at least as many entries as it reads past the live ones.
  if (queue.size() <= 2 * count_ + kStaleSlack) return;
  std::erase_if(queue, [this](const Due& d) { return !live(d); });
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
