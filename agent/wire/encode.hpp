#pragma once
// Writers of the record format (span_record.hpp) into a caller's buffer: no allocation, no
// exception, so the client's hot path and the tools can use them alike. A writer that runs out of
// room, or is handed a string too long for its u16 length, turns "failed" and finish() returns 0:
// the caller counts the record as dropped. Not thread-safe; one writer per record.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "span_record.hpp"  // a sibling: this pair is also installed as <tailgate/wire/...>

namespace tailgate::model {
struct Span;
struct Resource;
struct Attribute;
}  // namespace tailgate::model

namespace tailgate::wire {

/// An array value: one scalar type, as OpenTelemetry's API allows (OTLP's ArrayValue).
using ArrayView = std::variant<std::span<const std::string_view>, std::span<const std::int64_t>,
                               std::span<const double>, std::span<const bool>>;
using ValueView = std::variant<std::string_view, std::int64_t, double, bool, ArrayView>;

struct AttributeView {
  std::string_view key;
  ValueView value;
};

/// Bytes `v` takes in the record format, its type byte included: what a producer makes room for.
[[nodiscard]] inline std::size_t encoded_size(const ValueView& v) noexcept {
  struct Size {
    std::size_t operator()(std::string_view s) const noexcept { return 3 + s.size(); }
    std::size_t operator()(std::int64_t) const noexcept { return 1 + 8; }
    std::size_t operator()(double) const noexcept { return 1 + 8; }
    std::size_t operator()(bool) const noexcept { return 1 + 1; }
    std::size_t operator()(const ArrayView& array) const noexcept {
      return std::visit(
          [this](const auto& elements) {
            std::size_t n = 1 + 1 + 2;  // type, element type, count
            // An element is its value without the type byte.
            for (const auto& e : elements) n += (*this)(e)-1;
            return n;
          },
          array);
    }
  };
  return std::visit(Size{}, v);
}

/// The fixed part of a span, as raw codes (OTLP numbering for kind and status).
struct SpanHeader {
  const std::uint8_t* trace_id = nullptr;        ///< 16 bytes
  const std::uint8_t* span_id = nullptr;         ///< 8 bytes
  const std::uint8_t* parent_span_id = nullptr;  ///< 8 bytes, or nullptr for a root span
  std::uint64_t start_unix_ns = 0;
  std::uint64_t end_unix_ns = 0;
  std::uint8_t kind = 0;
  std::uint8_t status = 0;
  std::uint8_t trace_flags = 0;
  std::uint8_t span_flags = 0;  ///< kParentIsRemote
};

/// Appends bytes to a fixed buffer and remembers whether everything fitted.
class ByteWriter {
  // What an element of `Elements` is written as: strings as views.
  template <typename Elements>
  using ElementOf =
      std::conditional_t<std::is_convertible_v<typename Elements::value_type, std::string_view>,
                         std::string_view, std::remove_cv_t<typename Elements::value_type>>;

 public:
  explicit ByteWriter(std::span<std::byte> out, std::size_t used = 0) noexcept
      : out_(out), used_(used) {}
  // Inline: a span's encoding is dozens of these, on the client's hot path.
  void bytes(const void* data, std::size_t n) noexcept {
    if (failed_ || n > out_.size() - used_) [[unlikely]] {
      failed_ = true;
      return;
    }
    if (n != 0) std::memcpy(out_.data() + used_, data, n);
    used_ += n;
  }
  void u8(std::uint8_t v) noexcept { bytes(&v, 1); }
  void u16(std::uint16_t v) noexcept { bytes(&v, 2); }
  void u64(std::uint64_t v) noexcept { bytes(&v, 8); }
  void str16(std::string_view s) noexcept {
    if (s.size() > kMaxStringLength) [[unlikely]] {
      failed_ = true;
      return;
    }
    u16(static_cast<std::uint16_t>(s.size()));
    bytes(s.data(), s.size());
  }
  // A value's bytes after its type byte (an array's elements are written so).
  void body(std::string_view v) noexcept { str16(v); }
  void body(std::int64_t v) noexcept { bytes(&v, 8); }
  void body(double v) noexcept { bytes(&v, 8); }
  void body(bool v) noexcept { u8(v ? 1 : 0); }
  // One writer per type, so that a caller whose type is known pays no variant dispatch.
  void value(std::string_view v) noexcept {
    u8(static_cast<std::uint8_t>(ValueType::String));
    body(v);
  }
  void value(std::int64_t v) noexcept {
    u8(static_cast<std::uint8_t>(ValueType::Int64));
    body(v);
  }
  void value(double v) noexcept {
    u8(static_cast<std::uint8_t>(ValueType::Double));
    body(v);
  }
  void value(bool v) noexcept {
    u8(static_cast<std::uint8_t>(ValueType::Bool));
    body(v);
  }
  /// An array of `element`s: the client's spans and the agent's vectors (model::ArrayValue) alike.
  template <typename Elements>
  void array(ValueType element, const Elements& elements) noexcept {
    if (elements.size() > kMaxArrayElements) [[unlikely]] {
      failed_ = true;
      return;
    }
    u8(static_cast<std::uint8_t>(ValueType::Array));
    u8(static_cast<std::uint8_t>(element));
    u16(static_cast<std::uint16_t>(elements.size()));
    for (const auto& e : elements) body(static_cast<ElementOf<Elements>>(e));
  }
  void value(const ArrayView& v) noexcept {
    std::visit([this](const auto& elements) { array(element_type(elements), elements); }, v);
  }
  void value(const ValueView& v) noexcept {
    std::visit([this](const auto& x) { value(x); }, v);
  }
  /// The element type of an array of `E`s.
  template <typename Elements>
  static constexpr ValueType element_type(const Elements&) noexcept {
    using E = ElementOf<Elements>;
    static_assert(std::is_same_v<E, std::string_view> || std::is_same_v<E, std::int64_t> ||
                      std::is_same_v<E, double> || std::is_same_v<E, bool>,
                  "array elements are strings, int64_t, double or bool");
    if constexpr (std::is_same_v<E, std::string_view>) {
      return ValueType::String;
    } else if constexpr (std::is_same_v<E, std::int64_t>) {
      return ValueType::Int64;
    } else if constexpr (std::is_same_v<E, double>) {
      return ValueType::Double;
    } else {
      return ValueType::Bool;
    }
  }
  void fail() noexcept { failed_ = true; }
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  [[nodiscard]] std::size_t size() const noexcept { return used_; }
  /// Back to an earlier size(), and no longer failed: the caller gives up what came after.
  void rewind(std::size_t size) noexcept {
    used_ = size;
    failed_ = false;
  }
  [[nodiscard]] std::byte* data() noexcept { return out_.data(); }

 private:
  std::span<std::byte> out_;
  std::size_t used_ = 0;
  bool failed_ = false;
};

/// Where a SpanEncoder stands, so a record can be built across calls (the client's Span keeps one
/// beside its buffer).
struct EncoderState {
  std::uint32_t used = 0;
  std::uint16_t items = 0;
  std::uint16_t dropped_items = 0;       ///< every item left out
  std::uint16_t dropped_attributes = 0;  ///< ...of which attributes
  std::uint16_t dropped_events = 0;      ///< ...and events
  bool failed = false;
};

/// Writes one span record: header and name first, then items in any order, then finish().
/// By default an item that does not fit fails the record; with skip_items it is left out and
/// counted (dropped_items), so that a span with too much detail still arrives, and finish() adds
/// a Dropped item saying how many attributes and events went (the agent exports them as OTLP's
/// dropped counts): items stop kDroppedItemSize bytes short of the buffer's end to keep room.
class SpanEncoder final {
 public:
  SpanEncoder(std::span<std::byte> out, const SpanHeader& header, std::string_view name,
              bool skip_items = false) noexcept;
  /// Continues a record begun over the same buffer (skip_items mode).
  SpanEncoder(std::span<std::byte> out, const EncoderState& state) noexcept
      : w_(short_of_dropped(out), state.used),
        full_(out),
        items_(state.items),
        dropped_items_(state.dropped_items),
        dropped_attributes_(state.dropped_attributes),
        dropped_events_(state.dropped_events),
        skip_items_(true) {
    if (state.failed) w_.fail();
  }
  [[nodiscard]] EncoderState state() const noexcept {
    return {static_cast<std::uint32_t>(w_.size()),
            static_cast<std::uint16_t>(items_),
            dropped_items_,
            dropped_attributes_,
            dropped_events_,
            w_.failed()};
  }
  // Inline, like the rest of an attribute's path: the client calls it per attribute, per span.
  // `V` is ValueView or one of its four types (then encoded without a variant dispatch).
  template <typename V>
  void attribute(std::string_view key, const V& value) noexcept {
    static_assert(std::is_same_v<V, ValueView> || std::is_same_v<V, std::string_view> ||
                      std::is_same_v<V, std::int64_t> || std::is_same_v<V, double> ||
                      std::is_same_v<V, bool> || std::is_same_v<V, ArrayView>,
                  "an attribute value is a ValueView, string_view, int64_t, double, bool or "
                  "ArrayView");
    if (!begin_item(ItemTag::Attribute)) return;
    w_.str16(key);
    w_.value(value);
    end_item();
  }
  /// An agent-side attribute (encode_span; wire::write_value writes its value).
  void attribute(const model::Attribute& attribute) noexcept;
  void event(std::uint64_t time_unix_ns, std::string_view name,
             std::span<const AttributeView> attributes = {}) noexcept;
  void event(std::uint64_t time_unix_ns, std::string_view name,
             std::span<const model::Attribute> attributes) noexcept;
  /// A link to another span (OpenTelemetry's span links), with up to 255 attributes.
  void link(const std::uint8_t* trace_id, const std::uint8_t* span_id, std::string_view trace_state,
            std::span<const AttributeView> attributes = {}) noexcept;
  void link(const std::uint8_t* trace_id, const std::uint8_t* span_id, std::string_view trace_state,
            std::span<const model::Attribute> attributes) noexcept;
  void status_message(std::string_view message) noexcept;
  void trace_state(std::string_view state) noexcept;
  /// A Dropped item carrying an agent-side span's dropped counts (encode_span).
  void dropped(const model::Span& span) noexcept;
  /// Patches the fixed part: the status and end time are often known only when the span ends.
  void set_status(std::uint8_t status) noexcept;
  void set_end(std::uint64_t end_unix_ns) noexcept;
  /// Writes the record header; returns the record's length, or 0 if anything did not fit.
  [[nodiscard]] std::size_t finish() noexcept;

 private:
  static std::span<std::byte> short_of_dropped(std::span<std::byte> out) noexcept {
    return out.first(out.size() > kDroppedItemSize ? out.size() - kDroppedItemSize : 0);
  }
  template <typename Attribute>
  void event_item(std::uint64_t time_unix_ns, std::string_view name,
                  std::span<const Attribute> attributes) noexcept;
  template <typename Attribute>
  void link_item(const std::uint8_t* trace_id, const std::uint8_t* span_id,
                 std::string_view trace_state, std::span<const Attribute> attributes) noexcept;
  bool begin_item(ItemTag tag) noexcept {
    if (w_.failed()) return false;  // the record is lost already: nothing to skip
    item_start_ = w_.size();
    tag_ = tag;
    if (++items_ > kMaxItems) w_.fail();
    w_.u8(static_cast<std::uint8_t>(tag));
    return true;
  }
  void end_item() noexcept {
    if (!w_.failed() || !skip_items_) return;
    w_.rewind(item_start_);  // left out, counted; the record goes on without it
    --items_;
    const auto more = [](std::uint16_t& n) {
      n = n == 0xFFFF ? n : static_cast<std::uint16_t>(n + 1);
    };
    more(dropped_items_);
    if (tag_ == ItemTag::Attribute) more(dropped_attributes_);
    if (tag_ == ItemTag::Event) more(dropped_events_);
  }
  ByteWriter w_;
  std::span<std::byte> full_;  ///< the whole buffer (w_ stops short of it in skip mode)
  std::size_t items_ = 0;
  std::size_t item_start_ = 0;
  ItemTag tag_ = ItemTag::Attribute;
  std::uint16_t dropped_items_ = 0;
  std::uint16_t dropped_attributes_ = 0;
  std::uint16_t dropped_events_ = 0;
  bool skip_items_ = false;
};

/// Writes a resource record; returns its length, or 0 if it did not fit.
[[nodiscard]] std::size_t encode_resource(std::span<std::byte> out,
                                          std::span<const AttributeView> attributes) noexcept;

/// Writes a loss record carrying `count`; returns its length, or 0 if it did not fit.
[[nodiscard]] std::size_t encode_loss(std::span<std::byte> out, std::uint64_t count) noexcept;

/// Encodes an agent-side span (tests, tools, re-encoding). Returns the length, or 0, which is
/// also what a span still holding packed items gets: wire::unpack it first.
[[nodiscard]] std::size_t encode_span(const model::Span& span, std::span<std::byte> out) noexcept;
/// Encodes an agent-side resource. Returns the length, or 0.
[[nodiscard]] std::size_t encode_resource(const model::Resource& resource,
                                          std::span<std::byte> out) noexcept;

}  // namespace tailgate::wire
