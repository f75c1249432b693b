#include "receivers/jaeger_packed.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "receivers/base64.hpp"
#include "receivers/jaeger_mapping.hpp"
#include "wire/encode.hpp"
#include "wire/span_record.hpp"

namespace tailgate::receivers::jaeger {
namespace {

constexpr std::string_view kRefTypeKey = "opentracing.ref_type";

bool is_text(const TagView& t) noexcept {
  return t.type != kDouble && t.type != kBool && t.type != kLong;
}

// The text a tag's value is written as: a binary value's base64 is longer than its bytes.
std::size_t text_size(const TagView& t) noexcept {
  return t.type == kBinary ? 4 * ((t.binary.size() + 2) / 3) : t.str.size();
}

bool fits16(std::size_t n) noexcept {
  return n <= wire::kMaxStringLength;
}

bool key_value_fits(const TagView& t) noexcept {
  return fits16(t.key.size()) && (!is_text(t) || fits16(text_size(t)));
}

// Bytes of a key and value in the item encoding.
std::size_t key_value_size(const TagView& t) noexcept {
  std::size_t value = t.type == kBool ? 2 : 9;  // type byte, then 1 or 8 bytes
  if (is_text(t)) value = 3 + text_size(t);     // type byte, u16 length, bytes
  return 2 + t.key.size() + value;
}

// The reference's value_of: binary as base64 text; a type number the IDL lacks keeps the text
// sent with it.
model::AttributeValue decoded_value(const TagView& t) {
  switch (t.type) {
    case kDouble:
      return t.f64;
    case kBool:
      return t.boolean;
    case kLong:
      return t.i64;
    case kBinary:
      return base64(t.binary);
    default:
      return std::string(t.str);
  }
}

// The fallback for a span the item encoding cannot hold: the same items as decoded fields.
struct DecodedItems {
  model::Span& span;
  bool attribute(const TagView& t) {
    span.attributes.push_back({std::string(t.key), decoded_value(t)});
    return true;
  }
  bool link(const model::TraceId& trace_id, const model::SpanId& span_id,
            std::string_view ref_type) {
    span.links.push_back({.trace_id = trace_id,
                          .span_id = span_id,
                          .trace_state = {},
                          .attributes = {{std::string(kRefTypeKey), std::string(ref_type)}}});
    return true;
  }
  bool event(std::uint64_t time, std::string_view name,
             std::span<const TagView* const> attributes) {
    auto& e = span.events.emplace_back();
    e.time_unix_ns = time;
    e.name = name;
    e.attributes.reserve(attributes.size());
    for (const auto* t : attributes)
      e.attributes.push_back({std::string(t->key), decoded_value(*t)});
    return true;
  }
  bool status_message(std::string_view text) {
    span.status_message = text;
    return true;
  }
  bool trace_state(std::string_view text) {
    span.trace_state = text;
    return true;
  }
};

// The span's tags, references and logs mapped as the reference maps them: the tags with a
// meaning in OTLP into span fields, the rest through `out`. False if `out` cannot hold them.
template <typename Out>
bool map_items(const BatchView& batch, const SpanView& in, model::Span& span, Out& out,
               std::vector<const TagView*>& event_attributes) {
  bool error_tag = false;
  std::string_view status_message, trace_state;
  for (const auto& t : batch.tags_in(in.tags)) {
    const bool text = t.type == kString;
    if (t.key == "span.kind" && text) {
      span.kind = kind_of(t.str);
      if (span.kind != model::SpanKind::Unspecified) continue;
    } else if (t.key == "error") {
      error_tag = (t.type == kBool && t.boolean) || (text && (t.str == "true" || t.str == "True"));
      if (error_tag || t.type == kBool) continue;
    } else if (t.key == "otel.status_code" && text) {
      if (t.str == "ERROR" || t.str == "OK") {
        span.status = t.str == "OK" ? model::StatusCode::Ok : model::StatusCode::Error;
        continue;
      }
    } else if (t.key == "otel.status_description" && text) {
      status_message = t.str;
      continue;
    } else if (t.key == "w3c.tracestate" && text) {
      trace_state = t.str;
      continue;
    }
    if (!out.attribute(t)) return false;
  }
  if (error_tag) span.status = model::StatusCode::Error;

  for (const auto& ref : std::span(batch.refs).subspan(in.references.first, in.references.count)) {
    const bool same_trace = ref.trace_high == in.trace_high && ref.trace_low == in.trace_low;
    if (ref.type == kChildOf && same_trace) {
      if (span.is_root()) {
        span.parent_span_id = span_id_of(ref.span_id);
        continue;
      }
      if (ref.span_id == in.parent_span_id) continue;  // the parent, said twice
    }
    if (!out.link(trace_id_of(ref.trace_high, ref.trace_low), span_id_of(ref.span_id),
                  ref_type_name(ref.type == kFollowsFrom))) {
      return false;
    }
  }

  for (const auto& log : std::span(batch.logs).subspan(in.logs.first, in.logs.count)) {
    std::string_view name;
    event_attributes.clear();
    for (const auto& field : batch.tags_in(log.fields)) {
      if (field.key == "event" && field.type == kString && name.empty()) {
        name = field.str;  // the first non-empty one names the event
      } else {
        event_attributes.push_back(&field);
      }
    }
    if (!out.event(micros_to_nanos(log.timestamp), name, event_attributes)) return false;
  }
  return (status_message.empty() || out.status_message(status_message)) &&
         (trace_state.empty() || out.trace_state(trace_state));
}

// What a span's own fields say, before its tags and references.
void set_fields(const SpanView& in, model::Span& span) {
  span.trace_id = trace_id_of(in.trace_high, in.trace_low);
  span.span_id = span_id_of(in.span_id);
  if (in.parent_span_id != 0) span.parent_span_id = span_id_of(in.parent_span_id);
  span.name = in.operation_name;
  span.trace_flags = static_cast<std::uint8_t>(in.flags & 0x1);
  set_times(in.start_time, in.duration, span);
}

}  // namespace

template <typename Write>
bool ItemWriter::add(std::size_t size, Write&& write) {
  if (count_ >= wire::kMaxItems) return false;
  if (bytes_.size() < used_ + size) bytes_.resize(std::max(used_ + size, 2 * bytes_.size()));
  wire::ByteWriter w(std::span<std::byte>(bytes_).first(used_ + size), used_);
  write(w);
  assert(!w.failed() && w.size() == used_ + size);  // sizes and lengths were checked before
  used_ += size;
  ++count_;
  return true;
}

void ItemWriter::key_value(wire::ByteWriter& w, const TagView& t) {
  w.str16(t.key);
  switch (t.type) {
    case kDouble:
      return w.value(t.f64);
    case kBool:
      return w.value(t.boolean);
    case kLong:
      return w.value(t.i64);
    case kBinary:
      base64_into(t.binary, base64_);
      return w.value(std::string_view(base64_));
    default:
      return w.value(t.str);
  }
}

bool ItemWriter::attribute(const TagView& t) {
  return key_value_fits(t) && add(1 + key_value_size(t), [&](wire::ByteWriter& w) {
           w.u8(static_cast<std::uint8_t>(wire::ItemTag::Attribute));
           key_value(w, t);
         });
}

bool ItemWriter::link(const model::TraceId& trace_id, const model::SpanId& span_id,
                      std::string_view ref_type) {
  // tag, ids, empty trace state, one attribute: key, then a string value
  const auto size = 1 + 16 + 8 + 2 + 1 + (2 + kRefTypeKey.size() + 3 + ref_type.size());
  return add(size, [&](wire::ByteWriter& w) {
    w.u8(static_cast<std::uint8_t>(wire::ItemTag::Link));
    w.bytes(trace_id.data(), trace_id.size());
    w.bytes(span_id.data(), span_id.size());
    w.str16({});
    w.u8(1);
    w.str16(kRefTypeKey);
    w.value(ref_type);
  });
}

bool ItemWriter::event(std::uint64_t time_unix_ns, std::string_view name,
                       std::span<const TagView* const> attributes) {
  if (!fits16(name.size()) || attributes.size() > wire::kMaxEventAttributes) return false;
  std::size_t size = 1 + 8 + 2 + name.size() + 1;
  for (const auto* t : attributes) {
    if (!key_value_fits(*t)) return false;
    size += key_value_size(*t);
  }
  return add(size, [&](wire::ByteWriter& w) {
    w.u8(static_cast<std::uint8_t>(wire::ItemTag::Event));
    w.u64(time_unix_ns);
    w.str16(name);
    w.u8(static_cast<std::uint8_t>(attributes.size()));
    for (const auto* t : attributes) key_value(w, *t);
  });
}

bool ItemWriter::text_item(wire::ItemTag tag, std::string_view text) {
  return fits16(text.size()) && add(3 + text.size(), [&](wire::ByteWriter& w) {
           w.u8(static_cast<std::uint8_t>(tag));
           w.str16(text);
         });
}

bool ItemWriter::status_message(std::string_view text) {
  return text_item(wire::ItemTag::StatusMessage, text);
}

bool ItemWriter::trace_state(std::string_view text) {
  return text_item(wire::ItemTag::TraceState, text);
}

model::PackedItems ItemWriter::packed() const {
  return {bytes_.data(), static_cast<std::uint32_t>(used_), static_cast<std::uint16_t>(count_)};
}

DecodeResult PackedDecoder::decode(std::span<const std::byte> datagram, Protocol protocol,
                                   model::SpanBatch& out) {
  DecodeResult result;
  if (auto why = read_emit_batch(datagram, protocol, view_); !why.empty()) {
    result.malformed = 1;
    result.error = std::move(why);
    return result;
  }
  resource_current_ = false;
  const auto spans =
      std::span(view_.spans).subspan(view_.batch_spans.first, view_.batch_spans.count);
  if (out.capacity() < out.size() + spans.size()) {
    out.reserve(std::max(out.size() + spans.size(), 2 * out.capacity()));
  }
  for (const auto& in : spans) {
    if ((in.trace_low == 0 && in.trace_high == 0) || in.span_id == 0) {
      ++result.zero_ids;
      if (result.error.empty()) result.error = "span without a trace or span id";
      continue;
    }
    auto& span = out.emplace_back();
    map_span(in, span);
    span.resource = resource();
    ++result.spans;
  }
  result.client = client_stats();
  // Nothing to take (garbage often parses as an empty batch); a stats report alone is taken.
  result.empty = spans.empty() && !result.client;
  return result;
}

void PackedDecoder::map_span(const SpanView& in, model::Span& span) {
  set_fields(in, span);
  items_.clear();
  if (map_items(view_, in, span, items_, event_attributes_)) {
    span.packed = items_.packed();
  } else {  // beyond the item encoding: the same mapping, into decoded fields
    span = model::Span{};
    set_fields(in, span);
    DecodedItems decoded{span};
    map_items(view_, in, span, decoded, event_attributes_);
  }
  span.parent_is_remote = parent_is_remote(span);
}

std::shared_ptr<const model::Resource> PackedDecoder::resource() {
  if (resource_current_) return resource_;
  resource_current_ = true;
  model::Resource made;
  const auto tags = view_.tags_in(view_.process_tags);
  made.attributes.reserve(tags.size() + 1);
  made.attributes.push_back({"service.name", std::string(view_.service_name)});
  for (const auto& t : tags) {
    if (t.key != "service.name") made.attributes.push_back({std::string(t.key), decoded_value(t)});
  }
  if (resource_ == nullptr || !(*resource_ == made)) {
    resource_ = std::make_shared<const model::Resource>(std::move(made));
  }
  return resource_;
}

std::optional<ClientStats> PackedDecoder::client_stats() const {
  if (!view_.has_stats) return std::nullopt;
  ClientStats stats;
  for (const auto& t : view_.tags_in(view_.process_tags)) {
    if (t.key == "client-uuid" && t.has_str) stats.client_uuid = t.str.substr(0, 128);
  }
  if (stats.client_uuid.empty()) return std::nullopt;  // no id: its totals cannot be told apart
  const auto count = [](std::int64_t n) { return n > 0 ? static_cast<std::uint64_t>(n) : 0u; };
  stats.full_queue = count(view_.full_queue_dropped);
  stats.too_large = count(view_.too_large_dropped);
  stats.failed_to_emit = count(view_.failed_to_emit);
  return stats;
}

DecodeResult decode_emit_batch(std::span<const std::byte> datagram, Protocol protocol,
                               model::SpanBatch& out) {
  PackedDecoder decoder;
  return decoder.decode(datagram, protocol, out);
}

}  // namespace tailgate::receivers::jaeger
