#pragma once
// The owning span: the agent's one internal model. Receivers build it, the pipeline and sampler
// read it, the exporter maps it to OTLP. Spans from the ring and UDP keep their items packed
// until they are kept (PackedItems); the pipeline decodes them before anything after it looks. A
// Span is a value; it moves between threads only inside a SpanBatch through a SpanQueue, so it
// needs no synchronisation of its own.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace tailgate::model {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

/// Values follow OTLP's Span.SpanKind numbering so the mapping is a cast.
enum class SpanKind : std::uint8_t {
  Unspecified = 0,
  Internal,
  Server,
  Client,
  Producer,
  Consumer
};
/// Values follow OTLP's Status.StatusCode numbering.
enum class StatusCode : std::uint8_t { Unset = 0, Ok = 1, Error = 2 };

/// An OTLP ArrayValue of one scalar type: OpenTelemetry's API takes homogeneous arrays only (the
/// OTLP receiver keeps any other array as JSON text, as it does kvlists). An empty array is an
/// empty list of strings.
using ArrayValue = std::variant<std::vector<std::string>, std::vector<std::int64_t>,
                                std::vector<double>, std::vector<bool>>;
using AttributeValue = std::variant<std::string, std::int64_t, double, bool, ArrayValue>;

/// Whether two values are the same data: doubles compared bit for bit, so that 0.0 and -0.0
/// differ and a NaN equals itself. Resources are shared between senders and grouped for export by
/// equality, and with `==` on doubles a sender's -0.0 left under another's 0.0 (found by an
/// outside attack).
[[nodiscard]] inline bool same_bits(double a, double b) noexcept {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}
[[nodiscard]] inline bool identical(const AttributeValue& a, const AttributeValue& b) noexcept {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<double>(&a)) return same_bits(*x, std::get<double>(b));
  if (const auto* x = std::get_if<ArrayValue>(&a)) {
    const auto& y = std::get<ArrayValue>(b);
    if (const auto* xs = std::get_if<std::vector<double>>(x)) {
      const auto* ys = std::get_if<std::vector<double>>(&y);
      return ys != nullptr && std::equal(xs->begin(), xs->end(), ys->begin(), ys->end(), same_bits);
    }
    return *x == y;
  }
  return a == b;
}

struct Attribute {
  std::string key;
  AttributeValue value;
  bool operator==(const Attribute& other) const noexcept {
    return key == other.key && identical(value, other.value);
  }
};

struct Event {
  std::uint64_t time_unix_ns = 0;
  std::string name;
  std::vector<Attribute> attributes;
  bool operator==(const Event&) const = default;
};

/// A span's relation to another span that is not its parent (OTLP link; Jaeger FOLLOWS_FROM).
struct Link {
  TraceId trace_id{};
  SpanId span_id{};
  std::string trace_state;
  std::vector<Attribute> attributes;
  bool operator==(const Link&) const = default;
};

/// The library that recorded the spans (OTLP's instrumentation scope). Empty for tailgate's own
/// clients, which the exporter names itself.
struct InstrumentationScope {
  std::string name;
  std::string version;
  bool operator==(const InstrumentationScope&) const = default;
};

/// What produced the spans (service.name, host.name, ...) and with which library: sent once per
/// producer (or request), shared by every span from it, so the exporter can group spans by
/// resource without comparing strings. The scope lives here rather than in each span for the
/// same reason: it is per producer, and a span's bytes are what the trace table buffers.
struct Resource {
  std::vector<Attribute> attributes;
  InstrumentationScope scope;
  bool operator==(const Resource&) const = default;
};

/// A span's items (attributes, events, status message, trace state) still in the record format's
/// item encoding (wire/span_record.hpp), as the ring and UDP receivers got them: checked when
/// received, decoded (wire::unpack) only when the span is kept. Buffered like this a trading span
/// costs about a third of its decoded vectors (each attribute's variant is 72 bytes; its encoding
/// is 20), and a span sampled out never pays for decoding what no policy read. Empty for spans
/// made decoded (OTLP, Jaeger, tests). A value: copies copy the bytes.
class PackedItems {
 public:
  PackedItems() = default;
  PackedItems(const std::byte* data, std::uint32_t size, std::uint16_t count)
      : bytes_(size == 0 ? nullptr : std::make_unique_for_overwrite<std::byte[]>(size)),
        size_(size),
        count_(count) {
    if (size != 0) std::memcpy(bytes_.get(), data, size);
  }
  PackedItems(const PackedItems& other)
      : PackedItems(other.bytes_.get(), other.size_, other.count_) {}
  PackedItems& operator=(const PackedItems& other) {
    if (this != &other) *this = PackedItems(other);
    return *this;
  }
  PackedItems(PackedItems&& other) noexcept
      : bytes_(std::move(other.bytes_)),
        size_(std::exchange(other.size_, 0)),
        count_(std::exchange(other.count_, 0)) {}
  PackedItems& operator=(PackedItems&& other) noexcept {
    bytes_ = std::move(other.bytes_);
    size_ = std::exchange(other.size_, 0);
    count_ = std::exchange(other.count_, 0);
    return *this;
  }
  ~PackedItems() = default;

  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] std::uint16_t count() const noexcept { return count_; }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<std::byte[]> bytes_;
  std::uint32_t size_ = 0;
  std::uint16_t count_ = 0;
};

struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  ///< all zero for a root span
  std::uint64_t start_unix_ns = 0;
  std::uint64_t end_unix_ns = 0;
  SpanKind kind = SpanKind::Unspecified;
  StatusCode status = StatusCode::Unset;
  std::uint8_t trace_flags = 0;   ///< W3C trace flags (bit 0: sampled upstream)
  bool parent_is_remote = false;  ///< the parent span is in another process
  /// Span metrics' series for this span, set when it is counted and read back when it is kept
  /// (for the exemplar) without a second lookup; kNoSeries before. Fits in padding.
  std::uint32_t metrics_series = kNoSeries;
  static constexpr std::uint32_t kNoSeries = 0xFFFFFFFF;
  std::string name;
  std::string status_message;
  std::string trace_state;  ///< W3C tracestate as received
  std::vector<Attribute> attributes;
  std::vector<Event> events;
  std::vector<Link> links;
  std::uint32_t dropped_attributes = 0;      ///< left out by limits (OTLP dropped_attributes_count)
  std::uint32_t dropped_events = 0;          ///< left out by limits (OTLP dropped_events_count)
  std::shared_ptr<const Resource> resource;  ///< never null once decoded
  /// Items not yet decoded into the fields above (ring and UDP spans until kept); readers of
  /// attributes before the decision use wire::AttributeCursor, which sees both forms.
  PackedItems packed;

  [[nodiscard]] bool is_root() const noexcept { return parent_span_id == SpanId{}; }
  /// The root of what this host sees of the trace: no parent, or a parent in another process
  /// (a service whose callers are elsewhere never sees their spans, so it must not wait for them).
  [[nodiscard]] bool is_local_root() const noexcept { return is_root() || parent_is_remote; }
  [[nodiscard]] std::uint64_t duration_ns() const noexcept {
    return end_unix_ns > start_unix_ns ? end_unix_ns - start_unix_ns : 0;
  }
};

using SpanBatch = std::vector<Span>;

/// Heap bytes of an array value, its strings' by `heap`.
template <typename HeapOfString>
[[nodiscard]] std::size_t array_bytes(const ArrayValue& array, const HeapOfString& heap) noexcept {
  return std::visit(
      [&heap](const auto& elements) {
        using Element = typename std::decay_t<decltype(elements)>::value_type;
        if constexpr (std::is_same_v<Element, bool>) {
          return elements.capacity() / 8;
        } else {
          std::size_t n = elements.capacity() * sizeof(Element);
          if constexpr (std::is_same_v<Element, std::string>) {
            for (const auto& s : elements) n += heap(s);
          }
          return n;
        }
      },
      array);
}

/// Heap and inline bytes a span holds, for memory budgets: what it costs to buffer, not its
/// encoded size. Strings short enough for the small-string buffer cost nothing extra.
[[nodiscard]] inline std::size_t memory_bytes(const Span& span) noexcept {
  const auto heap = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
  const auto attributes = [&heap](const std::vector<Attribute>& list) {
    std::size_t n = list.capacity() * sizeof(Attribute);
    for (const auto& a : list) {
      n += heap(a.key);
      if (const auto* v = std::get_if<std::string>(&a.value)) n += heap(*v);
      if (const auto* array = std::get_if<ArrayValue>(&a.value)) n += array_bytes(*array, heap);
    }
    return n;
  };
  std::size_t n = sizeof(Span) + heap(span.name) + heap(span.status_message) +
                  heap(span.trace_state) + attributes(span.attributes) +
                  span.events.capacity() * sizeof(Event);
  for (const auto& e : span.events) n += heap(e.name) + attributes(e.attributes);
  n += span.packed.bytes().size();
  n += span.links.capacity() * sizeof(Link);
  for (const auto& l : span.links) n += heap(l.trace_state) + attributes(l.attributes);
  return n;
}

}  // namespace tailgate::model
