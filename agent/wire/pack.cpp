#include "wire/pack.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <tuple>

#include "wire/encode.hpp"
#include "wire/reader.hpp"
#include "wire/span_record.hpp"

namespace tailgate::wire {
namespace {

namespace packed = model::packed;

bool has_decoded_items(const model::Span& span) noexcept {
  return !span.attributes.empty() || !span.events.empty() || !span.links.empty() ||
         !span.status_message.empty();
}

// Copies an item's or a value's few bytes without a call into memcpy for each.
inline void copy_bytes(std::byte* to, const std::byte* from, std::size_t n) noexcept {
  if (n >= 8 && n <= 16) {
    std::uint64_t head = 0, tail = 0;
    std::memcpy(&head, from, 8);
    std::memcpy(&tail, from + n - 8, 8);
    std::memcpy(to, &head, 8);
    std::memcpy(to + n - 8, &tail, 8);
  } else if (n >= 4 && n < 8) {
    std::uint32_t head = 0, tail = 0;
    std::memcpy(&head, from, 4);
    std::memcpy(&tail, from + n - 4, 4);
    std::memcpy(to, &head, 4);
    std::memcpy(to + n - 4, &tail, 4);
  } else if (n < 4) {
    for (std::size_t i = 0; i < n; ++i) to[i] = from[i];
  } else {
    std::memcpy(to, from, n);
  }
}

// The bytes of the value at `p` (its type byte first), or 0 if it would run past `end`.
std::size_t value_size(const std::byte* p, const std::byte* end) noexcept {
  const auto left = static_cast<std::size_t>(end - p);
  if (left == 0) return 0;
  switch (static_cast<ValueType>(std::to_integer<std::uint8_t>(p[0]))) {
    case ValueType::String: {
      if (left < 3) return 0;
      std::uint16_t n = 0;
      std::memcpy(&n, p + 1, 2);
      return std::size_t{3} + n <= left ? std::size_t{3} + n : 0;
    }
    case ValueType::Int64:
    case ValueType::Double:
      return left >= 9 ? 9 : 0;
    case ValueType::Bool:
      return left >= 2 ? 2 : 0;
    case ValueType::Array: {
      detail::Reader r(std::span(p, left));
      return detail::skip_value(r) == DecodeError::None ? r.pos() : 0;
    }
  }
  return 0;
}

// What compact_items wrote: bytes and items, and the trace state it took out of them.
struct Compacted {
  std::size_t bytes = 0;
  std::size_t count = 0;
  std::optional<std::string_view> trace_state;
};

// Copies `count` checked items to `out` (room for items.size() at least), each attribute whose
// key the table takes as kInternedAttribute (never longer), a trace state item not copied but
// returned (the last wins, as in unpack). One pass, by hand rather than through the Reader: it
// runs for every attribute of every span taken in.
Compacted compact_items(std::span<const std::byte> items, std::size_t count, model::KeyTable& keys,
                        std::byte* out) {
  Compacted result{.count = count};
  const std::byte* p = items.data();
  const std::byte* const end = p + items.size();
  std::byte* o = out;
  const auto copy = [&o](const std::byte* from, std::size_t n) {
    copy_bytes(o, from, n);
    o += n;
  };
  for (std::size_t i = 0; i < count && p < end; ++i) {
    const std::byte* const item = p;
    const auto tag = std::to_integer<std::uint8_t>(*p);
    if (tag == static_cast<std::uint8_t>(ItemTag::Attribute)) {
      if (end - p < 3) break;
      std::uint16_t key_size = 0;
      std::memcpy(&key_size, p + 1, 2);
      const std::byte* const key = p + 3;
      if (key_size > end - key) break;
      const auto size = value_size(key + key_size, end);
      if (size == 0) break;
      p = key + key_size + size;
      if (const auto id = keys.intern({reinterpret_cast<const char*>(key), key_size}, i)) {
        *o++ = std::byte{packed::kInternedAttribute};
        std::memcpy(o, &*id, 2);
        o += 2;
        copy(key + key_size, size);
      } else {
        copy(item, static_cast<std::size_t>(p - item));
      }
      continue;
    }
    detail::Reader r(std::span(p + 1, end));
    if (detail::skip_item_body(r, tag) != DecodeError::None) break;
    p += 1 + r.pos();
    if (tag == static_cast<std::uint8_t>(ItemTag::TraceState)) {
      result.trace_state = std::string_view(reinterpret_cast<const char*>(item + 3),
                                            static_cast<std::size_t>(p - item) - 3);
      --result.count;
      continue;
    }
    copy(item, static_cast<std::size_t>(p - item));
  }
  // Checked when received, so every item was read; were it not, the rest goes as it came and
  // decodes as it would have.
  copy(p, static_cast<std::size_t>(end - p));
  result.bytes = static_cast<std::size_t>(o - out);
  return result;
}

// The items of a decoded span's fields, written into `scratch`; nullopt if the item encoding
// cannot hold them.
std::optional<std::pair<std::span<const std::byte>, std::size_t>> encode_decoded(
    const model::Span& span, PackScratch& scratch) {
  if (scratch.bytes.size() < kMaxRecordSize) scratch.bytes.resize(kMaxRecordSize);
  const SpanHeader header{.trace_id = span.trace_id.data(), .span_id = span.span_id.data()};
  SpanEncoder encoder(scratch.bytes, header, {});
  if (!span.status_message.empty()) encoder.status_message(span.status_message);
  for (const auto& a : span.attributes) encoder.attribute(a);
  for (const auto& e : span.events) {
    encoder.event(e.time_unix_ns, e.name, std::span<const model::Attribute>(e.attributes));
  }
  for (const auto& l : span.links) {
    encoder.link(l.trace_id.data(), l.span_id.data(), l.trace_state,
                 std::span<const model::Attribute>(l.attributes));
  }
  const auto length = encoder.finish();
  if (length == 0) return std::nullopt;
  constexpr auto items_at = kRecordHeaderSize + kSpanFixedSize;
  SpanFixed fixed{};
  std::memcpy(&fixed, scratch.bytes.data() + kRecordHeaderSize, sizeof fixed);
  return std::pair{std::span<const std::byte>(scratch.bytes).subspan(items_at, length - items_at),
                   std::size_t{fixed.item_count}};
}

}  // namespace

std::size_t pack(model::Span&& span, model::PackedSpans& trace, model::KeyGenerations& keys,
                 PackScratch& scratch) {
  const auto before = trace.memory_bytes();
  if (trace.empty()) trace.start(span.trace_id, keys.for_new_trace());
  // The trace's own table, an older one if the trace began before a newer one did.
  auto* const table = keys.find(trace.keys());
  bool fits = span.name.size() <= kMaxStringLength && span.trace_state.size() <= kMaxStringLength &&
              table != nullptr;
  std::span<const std::byte> decoded_items;
  std::size_t decoded_count = 0;
  if (fits && has_decoded_items(span)) {
    const auto decoded = encode_decoded(span, scratch);
    fits = decoded.has_value();
    if (decoded) std::tie(decoded_items, decoded_count) = *decoded;
  }
  const auto packed_items = span.packed.bytes();
  const std::size_t count = decoded_count + span.packed.count();
  std::optional<std::uint16_t> resource;
  if (fits && count <= kMaxItems) resource = trace.resource_index(span.resource);
  if (!resource) {
    trace.add_aside(std::move(span));
    return trace.memory_bytes() - before;
  }
  const bool dropped = span.dropped_attributes != 0 || span.dropped_events != 0;
  const std::size_t name_at = packed::kHeadSize + (dropped ? packed::kDroppedSize : 0);
  const std::size_t items_at = name_at + span.name.size();
  // Room for the span's trace state after its items, or for one taken out of them (never more
  // than the item's own bytes).
  // Rounded up as end_record pads the record (ASan: a record ending at the block's last byte
  // had its padding written past it).
  const auto max_size = (items_at + decoded_items.size() + packed_items.size() +
                         span.trace_state.size() + packed::kAlign - 1) &
                        ~(packed::kAlign - 1);
  // Written in place if the block has room for the largest it can be; else aside, and the block
  // grown to what it took (and to what the trace's spans to come are likely to take).
  const bool in_place = trace.room() >= max_size;
  if (!in_place && scratch.record.size() < max_size) scratch.record.resize(max_size);
  auto* record = in_place ? trace.begin_record(max_size) : scratch.record.data();
  packed::store(record, packed::kSpanId, span.span_id);
  packed::store(record, packed::kParent, span.parent_span_id);
  packed::store(record, packed::kStart, span.start_unix_ns);
  packed::store(record, packed::kEnd, span.end_unix_ns);
  packed::store(record, packed::kSeries, span.metrics_series);
  packed::store(record, packed::kNameLen, static_cast<std::uint16_t>(span.name.size()));
  packed::store(record, packed::kResource, *resource);
  packed::store(record, packed::kKind, static_cast<std::uint8_t>(span.kind));
  packed::store(record, packed::kStatus, static_cast<std::uint8_t>(span.status));
  packed::store(record, packed::kTraceFlags, span.trace_flags);
  packed::store(record, packed::kFlags,
                static_cast<std::uint8_t>((span.parent_is_remote ? packed::kRemote : 0) |
                                          (dropped ? packed::kDropped : 0)));
  if (dropped) {
    packed::store(record, packed::kHeadSize, span.dropped_attributes);
    packed::store(record, packed::kHeadSize + 4, span.dropped_events);
  }
  if (!span.name.empty()) std::memcpy(record + name_at, span.name.data(), span.name.size());
  const auto from_decoded = decoded_items.empty() ? Compacted{}
                                                  : compact_items(decoded_items, decoded_count,
                                                                  *table, record + items_at);
  const auto from_packed = compact_items(packed_items, span.packed.count(), *table,
                                         record + items_at + from_decoded.bytes);
  const auto n = from_decoded.bytes + from_packed.bytes;
  // As unpack would leave it: the field, unless an item (the packed ones last) says otherwise.
  const std::string_view trace_state = from_packed.trace_state ? *from_packed.trace_state
                                       : from_decoded.trace_state
                                           ? *from_decoded.trace_state
                                           : std::string_view(span.trace_state);
  if (!trace_state.empty())
    std::memmove(record + items_at + n, trace_state.data(), trace_state.size());
  packed::store(record, packed::kItemsSize, static_cast<std::uint32_t>(n));
  packed::store(record, packed::kTraceStateLen, static_cast<std::uint16_t>(trace_state.size()));
  packed::store(record, packed::kItemCount,
                static_cast<std::uint16_t>(from_decoded.count + from_packed.count));
  const auto size = items_at + n + trace_state.size();
  const auto nth = trace.size() + 1;
  if (in_place) {
    trace.end_record(size);
  } else {
    trace.append_record(record, size, scratch.growth.reserve_after(nth));
  }
  scratch.growth.added(nth, size);
  return trace.memory_bytes() - before;
}

std::size_t pack(model::PackedSpans&& more, model::PackedSpans& trace, model::KeyGenerations& keys,
                 PackScratch& scratch) {
  const auto before = trace.memory_bytes();
  if (trace.empty()) {
    trace = std::move(more);
    if (trace.empty() || keys.find(trace.keys()) != nullptr) return trace.memory_bytes() - before;
    more = std::move(trace);  // its keys are in none of these tables: written again below
  }
  if (more.keys() != trace.keys()) {  // ids of another table (generation): written again
    for (auto& span : take_spans(std::move(more))) pack(std::move(span), trace, keys, scratch);
    return trace.memory_bytes() - before;
  }
  std::uint32_t aside = 0;
  for (const auto view : more.list()) {
    if (view.decoded() != nullptr) {
      trace.add_aside(more.take_aside(aside++));
      continue;
    }
    const auto* from = view.record();
    const auto resource = trace.resource_index(view.resource());
    if (!resource) {
      trace.add_aside(materialize(view));
      continue;
    }
    const auto size = packed::record_size(from);
    auto* record = trace.begin_record(size);
    std::memcpy(record, from, size);
    packed::store(record, packed::kResource, *resource);
    trace.end_record(size);
  }
  more = model::PackedSpans{};
  return trace.memory_bytes() - before;
}

model::Span materialize(const model::SpanView& view) {
  if (const auto* decoded = view.decoded()) return *decoded;
  const auto* record = view.record();
  model::Span span;
  span.trace_id = view.trace_id();
  span.span_id = view.span_id();
  span.parent_span_id = view.parent_span_id();
  span.start_unix_ns = view.start_unix_ns();
  span.end_unix_ns = view.end_unix_ns();
  span.kind = view.kind();
  span.status = view.status();
  span.trace_flags = packed::load<std::uint8_t>(record, packed::kTraceFlags);
  span.parent_is_remote = view.parent_is_remote();
  span.metrics_series = packed::load<std::uint32_t>(record, packed::kSeries);
  span.name = view.name();
  span.trace_state = view.trace_state();
  if ((packed::load<std::uint8_t>(record, packed::kFlags) & packed::kDropped) != 0) {
    span.dropped_attributes = packed::load<std::uint32_t>(record, packed::kHeadSize);
    span.dropped_events = packed::load<std::uint32_t>(record, packed::kHeadSize + 4);
  }
  span.resource = view.resource();
  // Checked when received (and written here from checked bytes): cannot fail short of a bug.
  [[maybe_unused]] const auto e = unpack_items(view.items(), view.item_count(), view.keys(), span);
  return span;
}

model::SpanBatch take_spans(model::PackedSpans&& trace) {
  model::SpanBatch spans;
  spans.reserve(trace.size());
  std::uint32_t aside = 0;
  for (const auto view : trace.list()) {
    spans.push_back(view.decoded() != nullptr ? trace.take_aside(aside++) : materialize(view));
  }
  trace = model::PackedSpans{};
  return spans;
}

}  // namespace tailgate::wire
