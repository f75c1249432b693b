#include "wire/encode.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "model/span.hpp"
#include "wire/write_value.hpp"

namespace tailgate::wire {

void write_value(ByteWriter& w, const model::AttributeValue& value) noexcept {
  std::visit(
      [&w](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, model::ArrayValue>) {
          std::visit([&w](const auto& elements) { w.array(w.element_type(elements), elements); },
                     v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          w.value(std::string_view(v));
        } else {
          w.value(v);
        }
      },
      value);
}

namespace {

void write_attribute(ByteWriter& w, const AttributeView& a) noexcept {
  w.str16(a.key);
  w.value(a.value);
}

void write_attribute(ByteWriter& w, const model::Attribute& a) noexcept {
  w.str16(a.key);
  write_value(w, a.value);
}

std::size_t finish_record(ByteWriter& w, RecordType type) noexcept {
  if (w.failed() || w.size() > kMaxRecordSize) return 0;
  RecordHeader header{static_cast<std::uint32_t>(w.size()), static_cast<std::uint16_t>(type),
                      kSchemaVersion};
  std::memcpy(w.data(), &header, sizeof header);
  return w.size();
}

}  // namespace

SpanEncoder::SpanEncoder(std::span<std::byte> out, const SpanHeader& h, std::string_view name,
                         bool skip_items) noexcept
    : w_(skip_items ? short_of_dropped(out) : out), full_(out), skip_items_(skip_items) {
  RecordHeader placeholder{};  // written for real by finish()
  w_.bytes(&placeholder, sizeof placeholder);
  SpanFixed fixed{};
  std::memcpy(fixed.trace_id, h.trace_id, sizeof fixed.trace_id);
  std::memcpy(fixed.span_id, h.span_id, sizeof fixed.span_id);
  if (h.parent_span_id != nullptr) {
    std::memcpy(fixed.parent_span_id, h.parent_span_id, sizeof fixed.parent_span_id);
  }
  fixed.start_unix_ns = h.start_unix_ns;
  fixed.end_unix_ns = h.end_unix_ns;
  fixed.kind = h.kind;
  fixed.status = h.status;
  fixed.trace_flags = h.trace_flags;
  fixed.span_flags = h.span_flags;
  if (name.size() > kMaxStringLength) w_.fail();
  fixed.name_len = static_cast<std::uint16_t>(name.size());
  w_.bytes(&fixed, sizeof fixed);
  w_.bytes(name.data(), name.size());
}

void SpanEncoder::attribute(const model::Attribute& attribute) noexcept {
  if (!begin_item(ItemTag::Attribute)) return;
  write_attribute(w_, attribute);
  end_item();
}

template <typename Attribute>
void SpanEncoder::event_item(std::uint64_t time_unix_ns, std::string_view name,
                             std::span<const Attribute> attributes) noexcept {
  if (!begin_item(ItemTag::Event)) return;
  if (attributes.size() > kMaxEventAttributes) w_.fail();
  w_.u64(time_unix_ns);
  w_.str16(name);
  w_.u8(static_cast<std::uint8_t>(attributes.size()));
  for (const auto& a : attributes) write_attribute(w_, a);
  end_item();
}

void SpanEncoder::event(std::uint64_t time_unix_ns, std::string_view name,
                        std::span<const AttributeView> attributes) noexcept {
  event_item(time_unix_ns, name, attributes);
}

void SpanEncoder::event(std::uint64_t time_unix_ns, std::string_view name,
                        std::span<const model::Attribute> attributes) noexcept {
  event_item(time_unix_ns, name, attributes);
}

template <typename Attribute>
void SpanEncoder::link_item(const std::uint8_t* trace_id, const std::uint8_t* span_id,
                            std::string_view trace_state,
                            std::span<const Attribute> attributes) noexcept {
  if (!begin_item(ItemTag::Link)) return;
  if (attributes.size() > kMaxEventAttributes) w_.fail();
  w_.bytes(trace_id, 16);
  w_.bytes(span_id, 8);
  w_.str16(trace_state);
  w_.u8(static_cast<std::uint8_t>(attributes.size()));
  for (const auto& a : attributes) write_attribute(w_, a);
  end_item();
}

void SpanEncoder::link(const std::uint8_t* trace_id, const std::uint8_t* span_id,
                       std::string_view trace_state,
                       std::span<const AttributeView> attributes) noexcept {
  link_item(trace_id, span_id, trace_state, attributes);
}

void SpanEncoder::link(const std::uint8_t* trace_id, const std::uint8_t* span_id,
                       std::string_view trace_state,
                       std::span<const model::Attribute> attributes) noexcept {
  link_item(trace_id, span_id, trace_state, attributes);
}

void SpanEncoder::status_message(std::string_view message) noexcept {
  if (!begin_item(ItemTag::StatusMessage)) return;
  w_.str16(message);
  end_item();
}

void SpanEncoder::trace_state(std::string_view state) noexcept {
  if (!begin_item(ItemTag::TraceState)) return;
  w_.str16(state);
  end_item();
}

void SpanEncoder::dropped(const model::Span& span) noexcept {
  if (!begin_item(ItemTag::Dropped)) return;
  w_.u16(static_cast<std::uint16_t>(std::min<std::uint32_t>(span.dropped_attributes, 0xFFFF)));
  w_.u16(static_cast<std::uint16_t>(std::min<std::uint32_t>(span.dropped_events, 0xFFFF)));
  end_item();
}

void SpanEncoder::set_status(std::uint8_t status) noexcept {
  if (w_.failed()) return;
  std::memcpy(w_.data() + kRecordHeaderSize + offsetof(SpanFixed, status), &status, 1);
}

void SpanEncoder::set_end(std::uint64_t end_unix_ns) noexcept {
  if (w_.failed()) return;
  std::memcpy(w_.data() + kRecordHeaderSize + offsetof(SpanFixed, end_unix_ns), &end_unix_ns, 8);
}

std::size_t SpanEncoder::finish() noexcept {
  if (w_.failed()) return 0;
  if ((dropped_attributes_ != 0 || dropped_events_ != 0) && items_ < kMaxItems) {
    ByteWriter w(full_, w_.size());  // into the room kept for it
    w.u8(static_cast<std::uint8_t>(ItemTag::Dropped));
    w.u16(dropped_attributes_);
    w.u16(dropped_events_);
    if (!w.failed()) {
      w_ = w;
      ++items_;
    }
  }
  const auto count = static_cast<std::uint16_t>(items_);
  std::memcpy(w_.data() + kRecordHeaderSize + offsetof(SpanFixed, item_count), &count, 2);
  return finish_record(w_, RecordType::Span);
}

std::size_t encode_resource(std::span<std::byte> out,
                            std::span<const AttributeView> attributes) noexcept {
  ByteWriter w(out);
  RecordHeader placeholder{};
  w.bytes(&placeholder, sizeof placeholder);
  if (attributes.size() > kMaxItems) return 0;
  w.u16(static_cast<std::uint16_t>(attributes.size()));
  for (const auto& a : attributes) write_attribute(w, a);
  return finish_record(w, RecordType::Resource);
}

std::size_t encode_loss(std::span<std::byte> out, std::uint64_t count) noexcept {
  ByteWriter w(out);
  RecordHeader placeholder{};
  w.bytes(&placeholder, sizeof placeholder);
  w.u64(count);
  return finish_record(w, RecordType::Loss);
}

std::size_t encode_span(const model::Span& span, std::span<std::byte> out) noexcept {
  if (!span.packed.empty()) return 0;  // items only wire::unpack can read: see encode.hpp
  const SpanHeader header{.trace_id = span.trace_id.data(),
                          .span_id = span.span_id.data(),
                          .parent_span_id = span.parent_span_id.data(),
                          .start_unix_ns = span.start_unix_ns,
                          .end_unix_ns = span.end_unix_ns,
                          .kind = static_cast<std::uint8_t>(span.kind),
                          .status = static_cast<std::uint8_t>(span.status),
                          .trace_flags = span.trace_flags,
                          .span_flags = span.parent_is_remote ? kParentIsRemote : std::uint8_t{0}};
  SpanEncoder encoder(out, header, span.name);
  if (!span.status_message.empty()) encoder.status_message(span.status_message);
  if (!span.trace_state.empty()) encoder.trace_state(span.trace_state);
  for (const auto& a : span.attributes) encoder.attribute(a);
  if (span.dropped_attributes != 0 || span.dropped_events != 0) encoder.dropped(span);
  for (const auto& e : span.events) {
    encoder.event(e.time_unix_ns, e.name, std::span<const model::Attribute>(e.attributes));
  }
  for (const auto& l : span.links) {
    encoder.link(l.trace_id.data(), l.span_id.data(), l.trace_state,
                 std::span<const model::Attribute>(l.attributes));
  }
  return encoder.finish();
}

std::size_t encode_resource(const model::Resource& resource, std::span<std::byte> out) noexcept {
  ByteWriter w(out);
  RecordHeader placeholder{};
  w.bytes(&placeholder, sizeof placeholder);
  if (resource.attributes.size() > kMaxItems) return 0;
  w.u16(static_cast<std::uint16_t>(resource.attributes.size()));
  for (const auto& a : resource.attributes) write_attribute(w, a);
  return finish_record(w, RecordType::Resource);
}

}  // namespace tailgate::wire
