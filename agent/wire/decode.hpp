#pragma once
// Readers of the record format (span_record.hpp), used by the agent's receivers. They never read
// outside the bytes they are given and never throw on bad input: a record that does not decode is
// reported with a reason, and the caller counts it and moves on to the next record.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "model/packed_spans.hpp"
#include "model/span.hpp"

namespace tailgate::wire {

enum class DecodeError : std::uint8_t {
  None = 0,
  Truncated,          ///< a length points past the end of the record or datagram
  UnsupportedSchema,  ///< a schema version this agent does not know
  UnknownType,        ///< an unknown record type, item tag or value type
  BadValue,           ///< a value outside its domain (bool other than 0/1, kind or status)
  TrailingBytes,      ///< bytes left after the last item the record announced
  ZeroId,             ///< a span whose trace id or span id is all zeros (W3C: invalid)
};
[[nodiscard]] std::string_view to_string(DecodeError e) noexcept;

/// What decode_span does with a span's items (attributes, events, status message, trace state):
/// decode them into the span's fields, or check them and keep their bytes (model::PackedItems),
/// as the agent's ring and UDP receivers do, so that only kept spans pay for decoding (unpack).
enum class Items : std::uint8_t { Decoded, Packed };

/// Decodes a span payload (the bytes after the record header). `resource` is shared by the span.
/// Either way every item is checked: a packed span's items always unpack. A span with an all-zero
/// trace or span id is refused (ZeroId), as the OTLP and Jaeger receivers refuse it.
[[nodiscard]] DecodeError decode_span(std::span<const std::byte> payload,
                                      std::shared_ptr<const model::Resource> resource,
                                      model::Span& out, Items items = Items::Decoded);

/// Decodes a span's packed items into its fields (after any it already has) and frees them.
/// A span without packed items is left as it is.
DecodeError unpack(model::Span& span);
/// Decodes `count` items into `out`'s fields (after any it already has); `keys`, if given, names
/// the keys of a buffered span's interned attributes (model::packed::kInternedAttribute).
/// The trace state among a received span's packed items (the last, as unpack takes it), if any:
/// for the sampler's `ot=rv:` where a span is judged before it is buffered (load shedding).
[[nodiscard]] std::optional<std::string_view> trace_state_item(std::span<const std::byte> items,
                                                               std::size_t count) noexcept;
DecodeError unpack_items(std::span<const std::byte> items, std::size_t count,
                         const model::KeyTable* keys, model::Span& out);

/// An array value as a view into the span that holds it: a decoded span's array, or a packed
/// span's bytes of it (element type, count, elements; checked when the span was received).
struct ArrayRef {
  const model::ArrayValue* decoded = nullptr;
  std::span<const std::byte> packed;
  /// The array itself (a copy).
  [[nodiscard]] model::ArrayValue value() const;
  bool operator==(const ArrayRef& other) const { return value() == other.value(); }
};

/// An attribute value as a view into the span that holds it.
using ValueRef = std::variant<std::string_view, std::int64_t, double, bool, ArrayRef>;
struct AttributeRef {
  std::string_view key;
  ValueRef value;
};

/// The value of the span's first attribute named `key`, packed or decoded alike (span metrics'
/// dimensions). Cheaper than a cursor: the values of other attributes are skipped, not read.
[[nodiscard]] std::optional<ValueRef> find_attribute(const model::Span& span,
                                                     std::string_view key) noexcept;

/// A span's attributes in order, packed or decoded alike: what the policies and span metrics read
/// before a decision, without decoding the span. Views stay valid while the span is unchanged.
class AttributeCursor {
 public:
  explicit AttributeCursor(const model::Span& span) noexcept {
    if (span.packed.empty()) {
      decoded_ = &span.attributes;
    } else {
      items_ = span.packed.bytes();
      items_left_ = span.packed.count();
    }
  }
  /// A span as buffered (model::PackedSpans) or decoded alike.
  explicit AttributeCursor(const model::SpanView& span) noexcept
      : AttributeCursor(span.decoded() != nullptr
                            ? AttributeCursor(*span.decoded())
                            : AttributeCursor(span.items(), span.item_count(), span.keys())) {}
  /// The next attribute, or nothing after the last.
  [[nodiscard]] std::optional<AttributeRef> next() noexcept;

 private:
  AttributeCursor(std::span<const std::byte> items, std::size_t count,
                  const model::KeyTable* keys) noexcept
      : items_(items), keys_(keys), items_left_(count) {}
  const std::vector<model::Attribute>* decoded_ = nullptr;  ///< a decoded span's
  std::span<const std::byte> items_;                        ///< else its items
  const model::KeyTable* keys_ = nullptr;                   ///< of interned attributes
  std::size_t at_ = 0;          ///< byte offset in the items, or index in decoded_
  std::size_t items_left_ = 0;  ///< items not yet read
};

/// Decodes a resource payload.
[[nodiscard]] DecodeError decode_resource(std::span<const std::byte> payload, model::Resource& out);

/// The resource of spans whose producer sent none: OpenTelemetry's "unknown_service".
[[nodiscard]] std::shared_ptr<const model::Resource> unknown_resource();

/// What one datagram held. Records after a malformed one are still decoded when the malformed
/// one's length was readable; a broken frame loses the rest of the datagram (`framing_error`).
struct DatagramResult {
  std::size_t spans = 0;
  std::size_t malformed_records = 0;  ///< records that did not decode (zero-id spans apart)
  std::size_t zero_id_spans = 0;      ///< span records refused for an all-zero id
  std::uint64_t producer_losses = 0;  ///< sum of LOSS records' counts, saturating (never wraps)
  DecodeError framing_error = DecodeError::None;
  DecodeError first_error = DecodeError::None;
};

/// Decodes every record of a datagram, appending spans to `out`. Spans use the resource of the
/// most recent resource record before them in the same datagram, else unknown_resource().
DatagramResult decode_datagram(std::span<const std::byte> datagram, model::SpanBatch& out,
                               Items items = Items::Decoded);

}  // namespace tailgate::wire
