#pragma once
// The decoded, owning span: the agent's one internal model. Receivers build it, the pipeline and
// sampler read it, the exporter maps it to OTLP. A Span is a value; it moves between threads only
// inside a SpanBatch through a SpanQueue, so it needs no synchronisation of its own.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
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

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;

struct Attribute {
  std::string key;
  AttributeValue value;
  bool operator==(const Attribute&) const = default;
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

  [[nodiscard]] bool is_root() const noexcept { return parent_span_id == SpanId{}; }
  /// The root of what this host sees of the trace: no parent, or a parent in another process
  /// (a service whose callers are elsewhere never sees their spans, so it must not wait for them).
  [[nodiscard]] bool is_local_root() const noexcept { return is_root() || parent_is_remote; }
  [[nodiscard]] std::uint64_t duration_ns() const noexcept {
    return end_unix_ns > start_unix_ns ? end_unix_ns - start_unix_ns : 0;
  }
};

using SpanBatch = std::vector<Span>;

/// Heap and inline bytes a span holds, for memory budgets: what it costs to buffer, not its
/// encoded size. Strings short enough for the small-string buffer cost nothing extra.
[[nodiscard]] inline std::size_t memory_bytes(const Span& span) noexcept {
  const auto heap = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
  const auto attributes = [&heap](const std::vector<Attribute>& list) {
    std::size_t n = list.capacity() * sizeof(Attribute);
    for (const auto& a : list) {
      n += heap(a.key);
      if (const auto* v = std::get_if<std::string>(&a.value)) n += heap(*v);
    }
    return n;
  };
  std::size_t n = sizeof(Span) + heap(span.name) + heap(span.status_message) +
                  heap(span.trace_state) + attributes(span.attributes) +
                  span.events.capacity() * sizeof(Event);
  for (const auto& e : span.events) n += heap(e.name) + attributes(e.attributes);
  n += span.links.capacity() * sizeof(Link);
  for (const auto& l : span.links) n += heap(l.trace_state) + attributes(l.attributes);
  return n;
}

}  // namespace tailgate::model
