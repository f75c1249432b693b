#include "wire/decode.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "telemetry/counters.hpp"
#include "wire/reader.hpp"
#include "wire/span_record.hpp"

namespace tailgate::wire {

using detail::read_value;
using detail::Reader;
using detail::ref_of;
using detail::skip_item_body;
using detail::skip_value;

namespace {

DecodeError skip_attribute(Reader& r) noexcept {
  std::string_view key;
  return r.view16(key) ? skip_value(r) : DecodeError::Truncated;
}

}  // namespace

DecodeError detail::skip_item_body(Reader& r, std::uint8_t tag) noexcept {
  std::string_view text;
  switch (static_cast<ItemTag>(tag)) {
    case ItemTag::Attribute:
      return skip_attribute(r);
    case ItemTag::Event: {
      std::uint8_t count = 0;
      if (!r.skip(8) || !r.view16(text) || !r.u8(count)) return DecodeError::Truncated;
      for (std::size_t i = 0; i < count; ++i) {
        if (auto e = skip_attribute(r); e != DecodeError::None) return e;
      }
      return DecodeError::None;
    }
    case ItemTag::StatusMessage:
    case ItemTag::TraceState:
      return r.view16(text) ? DecodeError::None : DecodeError::Truncated;
    case ItemTag::Dropped:
      return r.skip(4) ? DecodeError::None : DecodeError::Truncated;
    case ItemTag::Link: {
      std::uint8_t count = 0;
      if (!r.skip(24) || !r.view16(text) || !r.u8(count)) return DecodeError::Truncated;
      for (std::size_t i = 0; i < count; ++i) {
        if (auto e = skip_attribute(r); e != DecodeError::None) return e;
      }
      return DecodeError::None;
    }
  }
  return DecodeError::UnknownType;
}

namespace {

// Checks one item and moves past it without decoding (Items::Packed).
DecodeError skip_item(Reader& r) noexcept {
  std::uint8_t tag = 0;
  if (!r.u8(tag)) return DecodeError::Truncated;
  return skip_item_body(r, tag);
}

// Packed items: moves past items that are not attributes to the next attribute's key and leaves
// `r` at its value. False when none is left (or the bytes end: they were checked on receipt, so
// that means nothing is left to read either).
// `keys`: of a buffered span's interned attributes, if any.
bool next_attribute_key(Reader& r, std::size_t& items_left, std::string_view& key,
                        const model::KeyTable* keys = nullptr) noexcept {
  while (items_left > 0) {
    --items_left;
    std::uint8_t tag = 0;
    if (!r.u8(tag)) return false;
    if (static_cast<ItemTag>(tag) == ItemTag::Attribute) return r.view16(key);
    if (tag == model::packed::kInternedAttribute && keys != nullptr) {
      std::uint16_t id = 0;
      if (!r.u16(id)) return false;
      key = keys->key(id);
      return true;
    }
    if (skip_item_body(r, tag) != DecodeError::None) return false;
  }
  return false;
}

DecodeError read_attribute(Reader& r, model::Attribute& out) {
  if (!r.str16(out.key)) return DecodeError::Truncated;
  return read_value(r, out.value);
}

DecodeError read_event(Reader& r, model::Event& out) {
  std::uint8_t count = 0;
  if (!r.u64(out.time_unix_ns) || !r.str16(out.name) || !r.u8(count)) {
    return DecodeError::Truncated;
  }
  out.attributes.resize(count);
  for (auto& a : out.attributes) {
    if (auto e = read_attribute(r, a); e != DecodeError::None) return e;
  }
  return DecodeError::None;
}

DecodeError read_link(Reader& r, model::Link& out) {
  std::uint8_t count = 0;
  if (!r.bytes(out.trace_id.data(), 16) || !r.bytes(out.span_id.data(), 8) ||
      !r.str16(out.trace_state) || !r.u8(count)) {
    return DecodeError::Truncated;
  }
  out.attributes.resize(count);
  for (auto& a : out.attributes) {
    if (auto e = read_attribute(r, a); e != DecodeError::None) return e;
  }
  return DecodeError::None;
}

DecodeError read_item(Reader& r, model::Span& out, const model::KeyTable* keys = nullptr) {
  std::uint8_t tag = 0;
  if (!r.u8(tag)) return DecodeError::Truncated;
  if (tag == model::packed::kInternedAttribute && keys != nullptr) {
    std::uint16_t id = 0;
    if (!r.u16(id)) return DecodeError::Truncated;
    auto& a = out.attributes.emplace_back();
    a.key = keys->key(id);
    return read_value(r, a.value);
  }
  switch (static_cast<ItemTag>(tag)) {
    case ItemTag::Attribute:
      return read_attribute(r, out.attributes.emplace_back());
    case ItemTag::Event:
      return read_event(r, out.events.emplace_back());
    case ItemTag::StatusMessage:
      return r.str16(out.status_message) ? DecodeError::None : DecodeError::Truncated;
    case ItemTag::TraceState:
      return r.str16(out.trace_state) ? DecodeError::None : DecodeError::Truncated;
    case ItemTag::Link:
      return read_link(r, out.links.emplace_back());
    case ItemTag::Dropped: {  // added to what the agent's own limits leave out later
      std::uint16_t attributes = 0, events = 0;
      if (!r.u16(attributes) || !r.u16(events)) return DecodeError::Truncated;
      out.dropped_attributes += attributes;
      out.dropped_events += events;
      return DecodeError::None;
    }
  }
  return DecodeError::UnknownType;
}

}  // namespace

DecodeError unpack(model::Span& span) {
  if (span.packed.empty()) return DecodeError::None;
  const auto items = std::move(span.packed);
  return unpack_items(items.bytes(), items.count(), nullptr, span);
}

std::optional<std::string_view> trace_state_item(std::span<const std::byte> items,
                                                 std::size_t count) noexcept {
  std::optional<std::string_view> found;
  Reader r(items);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint8_t tag = 0;
    if (!r.u8(tag)) break;
    if (tag == static_cast<std::uint8_t>(ItemTag::TraceState)) {
      std::string_view text;
      if (!r.view16(text)) break;
      found = text;
    } else if (detail::skip_item_body(r, tag) != DecodeError::None) {
      break;
    }
  }
  return found;
}

DecodeError unpack_items(std::span<const std::byte> items, std::size_t count,
                         const model::KeyTable* keys, model::Span& out) {
  Reader r(items);
  // With room for the two attributes a kept span gets next (Sampler::annotate: the policy and its
  // probability): else the vector grows again, moving each attribute, for every kept span.
  out.attributes.reserve(out.attributes.size() + count + 2);
  for (std::size_t i = 0; i < count; ++i) {
    if (auto e = read_item(r, out, keys); e != DecodeError::None) return e;
  }
  return r.done() ? DecodeError::None : DecodeError::TrailingBytes;
}

std::optional<AttributeRef> AttributeCursor::next() noexcept {
  if (decoded_ != nullptr) {
    if (at_ >= decoded_->size()) return std::nullopt;
    const auto& a = (*decoded_)[at_++];
    return AttributeRef{a.key, ref_of(a.value)};
  }
  Reader r(items_, at_);
  AttributeRef out;
  if (next_attribute_key(r, items_left_, out.key, keys_) &&
      read_value(r, out.value) == DecodeError::None) {
    at_ = r.pos();
    return out;
  }
  items_left_ = 0;
  return std::nullopt;
}

std::optional<ValueRef> find_attribute(const model::Span& span, std::string_view key) noexcept {
  if (span.packed.empty()) {
    for (const auto& a : span.attributes) {
      if (a.key == key) return ref_of(a.value);
    }
    return std::nullopt;
  }
  Reader r(span.packed.bytes());
  std::size_t items_left = span.packed.count();
  std::string_view name;
  while (next_attribute_key(r, items_left, name)) {
    if (name == key) {
      ValueRef out;
      if (read_value(r, out) != DecodeError::None) break;
      return out;
    }
    if (skip_value(r) != DecodeError::None) break;
  }
  return std::nullopt;
}

std::string_view to_string(DecodeError e) noexcept {
  switch (e) {
    case DecodeError::None:
      return "none";
    case DecodeError::Truncated:
      return "truncated";
    case DecodeError::UnsupportedSchema:
      return "unsupported_schema";
    case DecodeError::UnknownType:
      return "unknown_type";
    case DecodeError::BadValue:
      return "bad_value";
    case DecodeError::TrailingBytes:
      return "trailing_bytes";
    case DecodeError::ZeroId:
      return "zero_id";
  }
  return "unknown";
}

DecodeError decode_span(std::span<const std::byte> payload,
                        std::shared_ptr<const model::Resource> resource, model::Span& out,
                        Items items) {
  Reader r(payload);
  SpanFixed fixed{};
  if (!r.bytes(&fixed, sizeof fixed)) return DecodeError::Truncated;
  if (fixed.kind > static_cast<std::uint8_t>(model::SpanKind::Consumer) ||
      fixed.status > static_cast<std::uint8_t>(model::StatusCode::Error)) {
    return DecodeError::BadValue;
  }
  const auto zero = [](const auto& id) {
    return std::all_of(std::begin(id), std::end(id), [](std::uint8_t b) { return b == 0; });
  };
  if (zero(fixed.trace_id) || zero(fixed.span_id)) return DecodeError::ZeroId;
  std::memcpy(out.trace_id.data(), fixed.trace_id, out.trace_id.size());
  std::memcpy(out.span_id.data(), fixed.span_id, out.span_id.size());
  std::memcpy(out.parent_span_id.data(), fixed.parent_span_id, out.parent_span_id.size());
  out.start_unix_ns = fixed.start_unix_ns;
  out.end_unix_ns = fixed.end_unix_ns;
  out.kind = static_cast<model::SpanKind>(fixed.kind);
  out.status = static_cast<model::StatusCode>(fixed.status);
  out.trace_flags = fixed.trace_flags;
  out.parent_is_remote = (fixed.span_flags & kParentIsRemote) != 0 && !out.is_root();
  if (!r.str(out.name, fixed.name_len)) return DecodeError::Truncated;
  const auto first_item = r.pos();
  if (items == Items::Packed) {
    for (std::size_t i = 0; i < fixed.item_count; ++i) {
      if (auto e = skip_item(r); e != DecodeError::None) return e;
    }
  } else {
    // Items are mostly attributes: one allocation for them instead of a growing vector's four or
    // five (and its unused half, which the trace table would buffer). Bounded by what the payload
    // could hold, so a hostile count allocates nothing large.
    out.attributes.reserve(std::min<std::size_t>(fixed.item_count, payload.size() / 4));
    for (std::size_t i = 0; i < fixed.item_count; ++i) {
      if (auto e = read_item(r, out); e != DecodeError::None) return e;
    }
  }
  if (!r.done()) return DecodeError::TrailingBytes;
  if (items == Items::Packed) {
    out.packed = model::PackedItems(payload.data() + first_item,
                                    static_cast<std::uint32_t>(payload.size() - first_item),
                                    fixed.item_count);
  }
  out.resource = std::move(resource);
  return DecodeError::None;
}

DecodeError decode_resource(std::span<const std::byte> payload, model::Resource& out) {
  Reader r(payload);
  std::uint16_t count = 0;
  if (!r.u16(count)) return DecodeError::Truncated;
  for (std::size_t i = 0; i < count; ++i) {
    if (auto e = read_attribute(r, out.attributes.emplace_back()); e != DecodeError::None) {
      return e;
    }
  }
  return r.done() ? DecodeError::None : DecodeError::TrailingBytes;
}

std::shared_ptr<const model::Resource> unknown_resource() {
  static const auto resource = std::make_shared<const model::Resource>(
      model::Resource{{{"service.name", std::string("unknown_service")}}});
  return resource;
}

DatagramResult decode_datagram(std::span<const std::byte> datagram, model::SpanBatch& out,
                               Items items) {
  DatagramResult result;
  auto resource = unknown_resource();
  const auto note = [&result](DecodeError e) {
    ++result.malformed_records;
    if (result.first_error == DecodeError::None) result.first_error = e;
  };
  std::size_t offset = 0;
  while (offset < datagram.size()) {
    RecordHeader header{};
    if (datagram.size() - offset < sizeof header) {
      result.framing_error = DecodeError::Truncated;
      note(DecodeError::Truncated);
      break;
    }
    std::memcpy(&header, datagram.data() + offset, sizeof header);
    if (header.length < sizeof header || header.length > datagram.size() - offset) {
      result.framing_error = DecodeError::Truncated;
      note(DecodeError::Truncated);
      break;
    }
    const auto payload = datagram.subspan(offset + sizeof header, header.length - sizeof header);
    offset += std::min(align_record(header.length), datagram.size() - offset);
    if (header.schema != kSchemaVersion) {
      note(DecodeError::UnsupportedSchema);
      continue;
    }
    switch (static_cast<RecordType>(header.type)) {
      case RecordType::Span: {
        model::Span span;
        if (auto e = decode_span(payload, resource, span, items); e == DecodeError::ZeroId) {
          ++result.zero_id_spans;
        } else if (e != DecodeError::None) {
          note(e);
        } else {
          out.push_back(std::move(span));
          ++result.spans;
        }
        break;
      }
      case RecordType::Resource: {
        auto next = std::make_shared<model::Resource>();
        if (auto e = decode_resource(payload, *next); e != DecodeError::None) {
          // Spans after a broken resource record must not be credited to the previous resource.
          note(e);
          resource = unknown_resource();
        } else {
          resource = std::move(next);
        }
        break;
      }
      case RecordType::Loss: {
        std::uint64_t count = 0;
        if (payload.size() != sizeof count) {
          note(DecodeError::Truncated);
        } else {
          std::memcpy(&count, payload.data(), sizeof count);
          // The count comes from outside: add without wrapping (the receiver bounds it).
          result.producer_losses = telemetry::saturating_add(result.producer_losses, count);
        }
        break;
      }
      case RecordType::Padding:  // ring-only: a datagram has no wrap to pad
      default:
        note(DecodeError::UnknownType);
        break;
    }
  }
  return result;
}

}  // namespace tailgate::wire
