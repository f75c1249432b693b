#include "export/otlp_mapping.hpp"

#include <bit>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <variant>

namespace tailgate::exporter {
namespace {

// Protobuf's wire format: each field is a key (field number << 3 | wire type) and its value;
// a nested message is a length-delimited field, so its size is computed before it is written.
// Proto3 leaves out scalar fields at their default and empty strings; AnyValue's value is a
// oneof, so there false, 0 and "" are written (they are set). Field numbers are OTLP's
// (proto/opentelemetry/...); all but Span.flags (16) are below 16, so their key is one byte.
enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5 };

// ExportTraceServiceRequest, ResourceSpans, Resource, ScopeSpans, InstrumentationScope
constexpr std::uint32_t kRequestResourceSpans = 1;
constexpr std::uint32_t kResourceSpansResource = 1, kResourceSpansScopeSpans = 2;
constexpr std::uint32_t kResourceAttributes = 1;
constexpr std::uint32_t kScopeSpansScope = 1, kScopeSpansSpans = 2;
constexpr std::uint32_t kScopeFieldName = 1, kScopeFieldVersion = 2;
// Span
constexpr std::uint32_t kTraceId = 1, kSpanId = 2, kTraceState = 3, kParentSpanId = 4, kName = 5,
                        kKind = 6, kStart = 7, kEnd = 8, kAttributes = 9, kDroppedAttributes = 10,
                        kEvents = 11, kDroppedEvents = 12, kLinks = 13, kStatus = 15, kFlags = 16;
// Span.Event, Span.Link, Status
constexpr std::uint32_t kEventTime = 1, kEventName = 2, kEventAttributes = 3;
constexpr std::uint32_t kLinkTraceId = 1, kLinkSpanId = 2, kLinkTraceState = 3, kLinkAttributes = 4;
constexpr std::uint32_t kStatusMessage = 2, kStatusCode = 3;
// KeyValue, AnyValue
constexpr std::uint32_t kKey = 1, kValue = 2;
constexpr std::uint32_t kStringValue = 1, kBoolValue = 2, kIntValue = 3, kDoubleValue = 4,
                        kArrayValue = 5;
constexpr std::uint32_t kArrayValues = 1;  // ArrayValue.values: repeated AnyValue

std::size_t varint_size(std::uint64_t v) noexcept {
  return static_cast<std::size_t>(std::bit_width(v | 1) + 6) / 7;
}
/// A field with a one-byte key and `n` bytes of payload behind its length.
std::size_t length_field(std::size_t n) noexcept {
  return 1 + varint_size(n) + n;
}

// OTLP's span flags: W3C trace flags in the low byte; whether the parent is remote (bits 8, 9)
// is known for every span that has a parent.
std::uint32_t flags_of(const model::Span& span) noexcept {
  constexpr std::uint32_t kHasIsRemote = 0x100, kIsRemote = 0x200;
  return span.trace_flags |
         (span.is_root() ? 0 : kHasIsRemote | (span.parent_is_remote ? kIsRemote : 0));
}

bool has_status(const model::Span& span) noexcept {
  return span.status != model::StatusCode::Unset || !span.status_message.empty();
}

/// The instrumentation scope written for a group: the resource's, or ours for our own clients.
std::pair<std::string_view, std::string_view> scope_of(const model::Resource* resource) noexcept {
  if (resource != nullptr && !resource->scope.name.empty())
    return {resource->scope.name, resource->scope.version};
  return {kScopeName, {}};
}

// ---- sizes

// An AnyValue holding one scalar: the oneof writes it even at its default.
std::size_t scalar_size(std::string_view v) noexcept {
  return length_field(v.size());
}
std::size_t scalar_size(std::int64_t v) noexcept {
  return 1 + varint_size(static_cast<std::uint64_t>(v));
}
std::size_t scalar_size(double) noexcept {
  return 1 + 8;
}
std::size_t scalar_size(bool) noexcept {
  return 1 + 1;
}

// An ArrayValue's bytes: each element an AnyValue of its own.
std::size_t array_size(const model::ArrayValue& array) noexcept {
  return std::visit(
      [](const auto& elements) {
        std::size_t n = 0;
        for (const auto& e : elements) n += length_field(scalar_size(e));
        return n;
      },
      array);
}

std::size_t any_value_size(const model::AttributeValue& value) noexcept {
  return std::visit(
      [](const auto& v) -> std::size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, model::ArrayValue>)
          return length_field(array_size(v));
        else
          return scalar_size(v);
      },
      value);
}

std::size_t key_value_size(const model::Attribute& a) noexcept {
  return (a.key.empty() ? 0 : length_field(a.key.size())) + length_field(any_value_size(a.value));
}

std::size_t attributes_size(const std::vector<model::Attribute>& list) noexcept {
  std::size_t n = 0;
  for (const auto& a : list) n += length_field(key_value_size(a));
  return n;
}

std::size_t event_size(const model::Event& e) noexcept {
  return (e.time_unix_ns != 0 ? 1 + 8 : 0) + (e.name.empty() ? 0 : length_field(e.name.size())) +
         attributes_size(e.attributes);
}

std::size_t link_size(const model::Link& l) noexcept {
  return length_field(l.trace_id.size()) + length_field(l.span_id.size()) +
         (l.trace_state.empty() ? 0 : length_field(l.trace_state.size())) +
         attributes_size(l.attributes);
}

std::size_t status_size(const model::Span& span) noexcept {
  return (span.status_message.empty() ? 0 : length_field(span.status_message.size())) +
         (span.status == model::StatusCode::Unset
              ? 0
              : 1 + varint_size(static_cast<std::uint64_t>(span.status)));
}

std::size_t span_size(const model::Span& span) noexcept {
  std::size_t n = length_field(span.trace_id.size()) + length_field(span.span_id.size());
  if (!span.trace_state.empty()) n += length_field(span.trace_state.size());
  if (!span.is_root()) n += length_field(span.parent_span_id.size());
  if (!span.name.empty()) n += length_field(span.name.size());
  if (span.kind != model::SpanKind::Unspecified)
    n += 1 + varint_size(static_cast<std::uint64_t>(span.kind));
  if (span.start_unix_ns != 0) n += 1 + 8;
  if (span.end_unix_ns != 0) n += 1 + 8;
  n += attributes_size(span.attributes);
  if (span.dropped_attributes != 0) n += 1 + varint_size(span.dropped_attributes);
  for (const auto& e : span.events) n += length_field(event_size(e));
  if (span.dropped_events != 0) n += 1 + varint_size(span.dropped_events);
  for (const auto& l : span.links) n += length_field(link_size(l));
  if (has_status(span)) n += length_field(status_size(span));
  if (flags_of(span) != 0) n += 2 + 4;  // key 16 takes two bytes
  return n;
}

std::size_t scope_size(const model::Resource* resource) noexcept {
  const auto [name, version] = scope_of(resource);
  return length_field(name.size()) + (version.empty() ? 0 : length_field(version.size()));
}

// ---- writing, in field-number order (as protobuf's own serializer does)

class Writer final {
 public:
  explicit Writer(char* out) noexcept : p_(out) {}
  [[nodiscard]] const char* position() const noexcept { return p_; }

  void varint(std::uint64_t v) noexcept {
    while (v >= 0x80) {
      *p_++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<char>(v);
  }
  void key(std::uint32_t field, WireType type) noexcept { varint(field << 3 | type); }
  void uint(std::uint32_t field, std::uint64_t v) noexcept {
    key(field, kVarint);
    varint(v);
  }
  /// The key and length of a nested message whose `n` bytes follow.
  void header(std::uint32_t field, std::size_t n) noexcept {
    key(field, kLength);
    varint(n);
  }
  void bytes(std::uint32_t field, const void* data, std::size_t n) noexcept {
    header(field, n);
    std::memcpy(p_, data, n);
    p_ += n;
  }
  void text(std::uint32_t field, std::string_view s) noexcept { bytes(field, s.data(), s.size()); }
  void fixed64(std::uint32_t field, std::uint64_t v) noexcept {
    key(field, kFixed64);
    for (int i = 0; i < 8; ++i) *p_++ = static_cast<char>(v >> (8 * i));  // little-endian
  }
  void fixed32(std::uint32_t field, std::uint32_t v) noexcept {
    key(field, kFixed32);
    for (int i = 0; i < 4; ++i) *p_++ = static_cast<char>(v >> (8 * i));
  }

 private:
  char* p_;
};

void write_scalar(Writer& w, std::string_view v) noexcept {
  w.text(kStringValue, v);
}
void write_scalar(Writer& w, std::int64_t v) noexcept {
  w.uint(kIntValue, static_cast<std::uint64_t>(v));
}
void write_scalar(Writer& w, double v) noexcept {
  w.fixed64(kDoubleValue, std::bit_cast<std::uint64_t>(v));
}
void write_scalar(Writer& w, bool v) noexcept {
  w.uint(kBoolValue, v ? 1 : 0);
}

void write_value(Writer& w, const model::AttributeValue& value) noexcept {
  std::visit(
      [&w](const auto& v) {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, model::ArrayValue>) {
          w.header(kArrayValue, array_size(v));
          std::visit(
              [&w](const auto& elements) {
                for (const auto& e : elements) {
                  w.header(kArrayValues, scalar_size(e));
                  write_scalar(w, e);
                }
              },
              v);
        } else {
          write_scalar(w, v);
        }
      },
      value);
}

void write_attributes(Writer& w, std::uint32_t field, const std::vector<model::Attribute>& list) {
  for (const auto& a : list) {
    w.header(field, key_value_size(a));
    if (!a.key.empty()) w.text(kKey, a.key);
    w.header(kValue, any_value_size(a.value));
    write_value(w, a.value);
  }
}

void write_span(Writer& w, const model::Span& span) {
  w.bytes(kTraceId, span.trace_id.data(), span.trace_id.size());
  w.bytes(kSpanId, span.span_id.data(), span.span_id.size());
  if (!span.trace_state.empty()) w.text(kTraceState, span.trace_state);
  if (!span.is_root())
    w.bytes(kParentSpanId, span.parent_span_id.data(), span.parent_span_id.size());
  if (!span.name.empty()) w.text(kName, span.name);
  if (span.kind != model::SpanKind::Unspecified)
    w.uint(kKind, static_cast<std::uint64_t>(span.kind));
  if (span.start_unix_ns != 0) w.fixed64(kStart, span.start_unix_ns);
  if (span.end_unix_ns != 0) w.fixed64(kEnd, span.end_unix_ns);
  write_attributes(w, kAttributes, span.attributes);
  if (span.dropped_attributes != 0) w.uint(kDroppedAttributes, span.dropped_attributes);
  for (const auto& e : span.events) {
    w.header(kEvents, event_size(e));
    if (e.time_unix_ns != 0) w.fixed64(kEventTime, e.time_unix_ns);
    if (!e.name.empty()) w.text(kEventName, e.name);
    write_attributes(w, kEventAttributes, e.attributes);
  }
  if (span.dropped_events != 0) w.uint(kDroppedEvents, span.dropped_events);
  for (const auto& l : span.links) {
    w.header(kLinks, link_size(l));
    w.bytes(kLinkTraceId, l.trace_id.data(), l.trace_id.size());
    w.bytes(kLinkSpanId, l.span_id.data(), l.span_id.size());
    if (!l.trace_state.empty()) w.text(kLinkTraceState, l.trace_state);
    write_attributes(w, kLinkAttributes, l.attributes);
  }
  if (has_status(span)) {
    w.header(kStatus, status_size(span));
    if (!span.status_message.empty()) w.text(kStatusMessage, span.status_message);
    if (span.status != model::StatusCode::Unset)
      w.uint(kStatusCode, static_cast<std::uint64_t>(span.status));
  }
  if (const auto flags = flags_of(span); flags != 0) w.fixed32(kFlags, flags);
}

}  // namespace

void RequestEncoder::add(const model::Span& span) {
  // Requests hold few distinct resources, so a linear scan beats hashing attribute lists; the
  // pointer check catches the common case of spans sharing one decoded resource.
  const model::Resource* resource = span.resource.get();
  ++spans_;
  for (auto& group : groups_) {
    if (group.resource == resource ||
        (group.resource != nullptr && resource != nullptr && *group.resource == *resource)) {
      group.spans.push_back(&span);
      return;
    }
  }
  groups_.push_back({resource, {&span}});
}

std::string RequestEncoder::encode() {
  // Sizes first (each span's is needed twice: in its own length and in its group's).
  struct Sizes {
    std::size_t resource, scope, scope_spans, resource_spans;
  };
  std::vector<Sizes> group_sizes;
  group_sizes.reserve(groups_.size());
  std::vector<std::size_t> span_sizes;
  span_sizes.reserve(spans_);
  std::size_t total = 0;
  for (const auto& group : groups_) {
    Sizes s{};
    s.resource = group.resource != nullptr ? attributes_size(group.resource->attributes) : 0;
    s.scope = scope_size(group.resource);
    s.scope_spans = length_field(s.scope);
    for (const auto* span : group.spans) {
      span_sizes.push_back(span_size(*span));
      s.scope_spans += length_field(span_sizes.back());
    }
    s.resource_spans =
        (group.resource != nullptr ? length_field(s.resource) : 0) + length_field(s.scope_spans);
    total += length_field(s.resource_spans);
    group_sizes.push_back(s);
  }

  std::string out(total, '\0');
  Writer w(out.data());
  auto next_span_size = span_sizes.begin();
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const auto& group = groups_[g];
    const auto& s = group_sizes[g];
    w.header(kRequestResourceSpans, s.resource_spans);
    if (group.resource != nullptr) {
      w.header(kResourceSpansResource, s.resource);
      write_attributes(w, kResourceAttributes, group.resource->attributes);
    }
    w.header(kResourceSpansScopeSpans, s.scope_spans);
    w.header(kScopeSpansScope, s.scope);
    const auto [name, version] = scope_of(group.resource);
    w.text(kScopeFieldName, name);
    if (!version.empty()) w.text(kScopeFieldVersion, version);
    for (const auto* span : group.spans) {
      w.header(kScopeSpansSpans, *next_span_size++);
      write_span(w, *span);
    }
  }
  assert(w.position() == out.data() + out.size());
  groups_.clear();
  spans_ = 0;
  return out;
}

std::string encode_request(std::span<const model::Span> spans) {
  RequestEncoder encoder;
  for (const auto& span : spans) encoder.add(span);
  return encoder.encode();
}

}  // namespace tailgate::exporter
