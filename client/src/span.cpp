// A span's start and end: ids, times and the record's fixed part written in place, then the
// finished record handed to the thread's lane. The hot path, counted in instructions by
// bench/count_instructions.sh (docs/performance.md says where they go). Items: span_items.cpp.
#include <cstddef>
#include <cstring>

#include "tailgate/tailgate.hpp"
#include "tracer_impl.hpp"

namespace tailgate {

using client::t_state;
using client::ticks;

void Span::start(std::size_t name_size, const SpanContext* parent, SpanKind kind) noexcept {
  auto& t = t_state;
  // No parent given: the thread's current span. An invalid one given (root_span): none.
  if (parent == nullptr) {
    if (t.current != nullptr) parent = &t.current->context_;
  } else if (!parent->valid()) {
    parent = nullptr;
  }
  // The ids from one read of the generator's state, stored back once.
  std::uint64_t s = t.ids.seeded();
  std::uint64_t trace_id[2];
  if (parent != nullptr) {
    std::memcpy(trace_id, parent->trace_id.data(), 16);
    context_.trace_flags = parent->trace_flags;
  } else {
    trace_id[0] = client::IdGenerator::output(s += client::IdGenerator::kStep);
    trace_id[1] = client::IdGenerator::output(s += client::IdGenerator::kStep);
  }
  std::uint64_t span_id = 0;
  while (span_id == 0) span_id = client::IdGenerator::output(s += client::IdGenerator::kStep);
  t.ids.state = s;
  std::memcpy(context_.trace_id.data(), trace_id, 16);
  std::memcpy(context_.span_id.data(), &span_id, 8);
  start_ticks_ = ticks();
  // The fixed part straight into the record, field by field (its header, end time, status and
  // item count are written at the end, the name by the inline constructor). A Span starts on its
  // own buffer: a name too long for it moves the record to the heap first.
  const std::size_t used = wire::kRecordHeaderSize + wire::kSpanFixedSize + name_size;
  if (used + wire::kDroppedItemSize > kBufferBytes) [[unlikely]] {
    grow(used);
    if (name_size > wire::kMaxStringLength || used + wire::kDroppedItemSize > record_.size()) {
      state_.failed = true;  // dropped and counted at the end
      limit_ = 0;            // every attribute takes put_slow, which leaves them out
      enclosing_ = t.current;
      t.current = this;
      return;
    }
  }
  std::byte* const f = record_.data() + wire::kRecordHeaderSize;
  using Fixed = wire::SpanFixed;
  std::memcpy(f + offsetof(Fixed, trace_id), trace_id, 16);
  std::memcpy(f + offsetof(Fixed, span_id), &span_id, 8);
  std::uint64_t parent_id = 0;
  std::uint64_t span_flags = 0;
  if (parent != nullptr) {
    std::memcpy(&parent_id, parent->span_id.data(), 8);
    span_flags = parent->remote ? wire::kParentIsRemote : 0;
  }
  std::memcpy(f + offsetof(Fixed, parent_span_id), &parent_id, 8);
  const std::uint64_t start_ns = t.clock.to_ns(start_ticks_);
  std::memcpy(f + offsetof(Fixed, start_unix_ns), &start_ns, 8);
  // kind, status (unset until the end), trace_flags, span_flags, name_len, item_count (0 until
  // the end): one little-endian word.
  static_assert(offsetof(Fixed, item_count) + 2 - offsetof(Fixed, kind) == 8);
  const std::uint64_t codes = static_cast<std::uint64_t>(kind) |
                              std::uint64_t{context_.trace_flags} << 16 | span_flags << 24 |
                              static_cast<std::uint64_t>(name_size) << 32;
  std::memcpy(f + offsetof(Fixed, kind), &codes, 8);
  state_.used = static_cast<std::uint32_t>(used);
  limit_ = static_cast<std::uint32_t>(record_.size() - wire::kDroppedItemSize);
  enclosing_ = t.current;
  t.current = this;
}

bool Span::end() noexcept {
  if (tracer_ == nullptr) return false;
  Tracer& tracer = *tracer_;
  Tracer::Impl& impl = *tracer.impl_;
  tracer_ = nullptr;
  // Out of the thread's chain of current spans: usually the innermost; an outer span ended early
  // is unlinked where it stands.
  auto& t = t_state;
  if (t.current == this) {
    t.current = enclosing_;
  } else {
    for (Span* s = t.current; s != nullptr; s = s->enclosing_) {
      if (s->enclosing_ == this) {
        s->enclosing_ = enclosing_;
        break;
      }
    }
  }
  limit_ = 0;  // later attributes take put_slow, which sees the span ended
  const std::int64_t elapsed_ns = client::ticks_to_ns(ticks(), start_ticks_, t.clock.c.ns_per_tick);
  if (state_.failed || state_.dropped_items != 0) [[unlikely]]
    return end_slow(tracer, elapsed_ns);
  // The end time, status, item count and record header patched in place: every item is in.
  std::byte* const record = record_.data();
  std::byte* const fixed = record + wire::kRecordHeaderSize;
  const std::uint32_t used = state_.used;
  std::uint64_t end_ns = 0;
  std::memcpy(&end_ns, fixed + offsetof(wire::SpanFixed, start_unix_ns), 8);
  end_ns += static_cast<std::uint64_t>(elapsed_ns);
  std::memcpy(fixed + offsetof(wire::SpanFixed, end_unix_ns), &end_ns, 8);
  fixed[offsetof(wire::SpanFixed, status)] = std::byte{status_};
  const auto items = static_cast<std::uint16_t>(state_.items);
  std::memcpy(fixed + offsetof(wire::SpanFixed, item_count), &items, 2);
  const std::uint64_t header =
      used | std::uint64_t{static_cast<std::uint16_t>(wire::RecordType::Span)} << 32 |
      std::uint64_t{wire::kSchemaVersion} << 48;
  static_assert(offsetof(wire::RecordHeader, type) == 4 &&
                offsetof(wire::RecordHeader, schema) == 6);
  std::memcpy(record, &header, 8);
  return impl.emit_from(t, std::span(record, used));
}

// A record that failed, or left items out: counted, or finished with the Dropped item saying how
// many. Out of line: rare.
bool Span::end_slow(Tracer& tracer, std::int64_t elapsed_ns) noexcept {
  Tracer::Impl& impl = *tracer.impl_;
  if (state_.failed) return impl.drop();
  std::uint64_t start_ns = 0;
  std::memcpy(&start_ns,
              record_.data() + wire::kRecordHeaderSize + offsetof(wire::SpanFixed, start_unix_ns),
              8);
  wire::SpanEncoder e(record_, state_);
  e.set_end(start_ns + static_cast<std::uint64_t>(elapsed_ns));
  e.set_status(status_);
  const std::size_t length = e.finish();
  impl.dropped_items.fetch_add(state_.dropped_items, std::memory_order_relaxed);
  if (length == 0) return impl.drop();
  return impl.emit_from(t_state, std::span(record_.data(), length));
}

Span* current_span() noexcept {
  return t_state.current;
}

SpanContext current_context() noexcept {
  return t_state.current != nullptr ? t_state.current->context() : SpanContext{};
}

}  // namespace tailgate
