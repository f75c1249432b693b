#pragma once
// tailgate's C++ client: what trading code links to hand finished spans to the tailgate agent
// through this process's shared-memory segment.
//
//   tailgate::Tracer tracer({.service_name = "genesis-orders", .service_version = "1.4.2"});
//   {
//     auto span = tracer.span("genesis.order.execute_market");
//     span.set("order.symbol", "BTCUSDT").set("order.quantity", 0.5);
//     place(order);  // spans started in here are children of `span` (the thread's current span)
//     if (!filled) span.error("rejected by venue");  // status ERROR
//     // catch (const std::exception& e) { span.exception(e).error(e.what()); }: the event, and
//     // ERROR only because this exception fails the span (exception() alone sets no status)
//   }  // ends here: encoded into the span's own buffer and copied into this thread's lane
//
// The hot path (span(), set(), event(), the end) takes no lock, allocates nothing and makes no
// syscall: ids come from a per-thread generator, times from the TSC calibrated against the
// system clock, and the record goes into a lane this thread claimed once. A full lane drops the
// span and counts it; the agent being slow, restarting or absent never blocks the caller. One
// Tracer per process (it owns the process's segment); Spans are used by one thread at a time.

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

// The record encoder, inline so that a span's attributes cost no calls into the library. Installed
// beside this header as <tailgate/wire/encode.hpp>; in the source tree it is agent/wire/.
#include "wire/encode.hpp"

// libtailgate.so exports only what is declared with this.
#define TAILGATE_API __attribute__((visibility("default")))

namespace tailgate {

/// An attribute value: the types the wire format carries (a string, int64, double or bool, or an
/// array of one of them: wire::ArrayView, e.g. std::span<const std::int64_t>).
using Value = wire::ValueView;

struct Attribute {
  std::string_view key;
  Value value;
};

/// OTLP span kinds.
enum class SpanKind : std::uint8_t {
  Unspecified = 0,
  Internal = 1,
  Server = 2,
  Client = 3,
  Producer = 4,
  Consumer = 5
};

/// Identifies a span across processes: what W3C traceparent carries.
struct TAILGATE_API SpanContext {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t trace_flags = 1;  ///< bit 0: sampled
  bool remote = false;           ///< from another process (from_traceparent)

  [[nodiscard]] bool valid() const noexcept;
  /// "00-<trace id>-<span id>-<flags>", 55 characters; writes into `out` without allocating.
  void traceparent(std::span<char, 55> out) const noexcept;
  [[nodiscard]] std::string traceparent() const;
  /// Parses a W3C traceparent header; nullopt if malformed (or all-zero ids, or version ff).
  [[nodiscard]] static std::optional<SpanContext> from_traceparent(
      std::string_view header) noexcept;
  [[nodiscard]] std::string trace_id_hex() const;
  [[nodiscard]] std::string span_id_hex() const;
};

struct TracerOptions {
  std::string service_name = "unknown_service";
  std::string service_version;
  /// More resource attributes (deployment.environment, ...). host.name, process.pid and
  /// telemetry.sdk.* are added unless given here.
  std::vector<std::pair<std::string, std::string>> resource;
  std::string directory = "/dev/shm/tailgate";  ///< the agent's receivers.ring.directory
  std::uint32_t lanes = 8;                      ///< threads with a lane of their own
  std::size_t lane_bytes = 1u << 20;            ///< per lane; a power of two
};

/// What the tracer did, over all threads.
struct TracerStats {
  std::uint64_t dropped = 0;  ///< spans lost in this process: lanes full, no segment, too large
  std::uint64_t dropped_items = 0;  ///< attributes and events left out of spans that were too big
  bool attached = false;            ///< a segment exists (false: every span is dropped)
  /// An agent reads the ring directory: its heartbeat there is under 5 s old. False ("no agent"):
  /// spans wait in the segment until one starts, and are dropped once their lane is full. The
  /// first stats() that finds no agent also says so once on stderr.
  bool agent_reading = false;
  /// Nanoseconds since the agent's last heartbeat; -1 if there is none (no agent has run since
  /// the directory was made).
  std::int64_t agent_heartbeat_age_ns = -1;
};

class Tracer;

/// A span in progress. Ends (and is handed to the agent) when it goes out of scope or at end().
/// Not copyable or movable: it encodes into its own buffer, on the caller's stack. From its start
/// to its end it is its thread's current span (the parent of spans started without one there);
/// it must end on the thread that started it.
class TAILGATE_API Span final {
 public:
  /// Bytes of a span's record kept inside the Span (no allocation). A bigger record moves to the
  /// heap, up to the largest record (wire::kMaxRecordSize); what still does not fit is left out,
  /// counted in dropped_items and in the exported span's dropped attribute and event counts.
  static constexpr std::size_t kBufferBytes = 1024;

  // The ended check inline: a span already ended by end() costs no call here.
  ~Span() {
    if (tracer_ != nullptr) end();
  }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  Span& set(std::string_view key, std::string_view value) noexcept { return put(key, value); }
  Span& set(std::string_view key, const char* value) noexcept {
    return put(key, std::string_view(value));
  }
  Span& set(std::string_view key, bool value) noexcept { return put(key, value); }
  template <std::integral T>
  requires(!std::same_as<T, bool>) Span& set(std::string_view key, T value) noexcept {
    return put(key, static_cast<std::int64_t>(value));
  }
  template <std::floating_point T>
  Span& set(std::string_view key, T value) noexcept {
    return put(key, static_cast<double>(value));
  }
  /// An array attribute (OTLP ArrayValue), of one type. The elements are copied.
  Span& set(std::string_view key, std::span<const std::string_view> values) noexcept {
    return put(key, wire::ArrayView(values));
  }
  Span& set(std::string_view key, std::span<const std::int64_t> values) noexcept {
    return put(key, wire::ArrayView(values));
  }
  Span& set(std::string_view key, std::span<const double> values) noexcept {
    return put(key, wire::ArrayView(values));
  }
  Span& set(std::string_view key, std::span<const bool> values) noexcept {
    return put(key, wire::ArrayView(values));
  }

  /// A timestamped event with up to 255 attributes.
  Span& event(std::string_view name, std::initializer_list<Attribute> attributes = {}) noexcept;
  /// Status ERROR with a message (OpenTelemetry's SetStatus(kError, message)).
  Span& error(std::string_view message) noexcept;
  /// OpenTelemetry's exception event (exception.type, exception.message), as its
  /// RecordException: the status is left as it is. A handled exception is not the span's
  /// failure; for one that is, add .error(message).
  Span& exception(std::string_view type, std::string_view message) noexcept;
  /// The same with the exception's dynamic type, demangled ("std::out_of_range"), and what().
  Span& exception(const std::exception& e) noexcept;
  /// Status OK (an explicit success; the default is unset).
  Span& ok() noexcept;
  /// W3C tracestate to pass on with this span.
  Span& trace_state(std::string_view state) noexcept;

  [[nodiscard]] const SpanContext& context() const noexcept { return context_; }
  [[nodiscard]] bool ended() const noexcept { return tracer_ == nullptr; }
  /// Ends the span now; later calls do nothing. Returns false if it was dropped.
  bool end() noexcept;

 private:
  friend class Tracer;
  // Inline, so that a literal name's copy is a few stores of constants; start() does the rest.
  Span(Tracer& tracer, std::string_view name, const SpanContext* parent, SpanKind kind) noexcept
      : tracer_(&tracer) {
    start(name.size(), parent, kind);
    if (!state_.failed) [[likely]]
      std::memcpy(record_.data() + wire::kRecordHeaderSize + wire::kSpanFixedSize, name.data(),
                  name.size());
  }
  /// Ids, start time and the record's fixed part, room for a name of `name_size` bytes (the
  /// record fails, and the span is dropped at its end, if there is none); makes this span its
  /// thread's current one.
  void start(std::size_t name_size, const SpanContext* parent, SpanKind kind) noexcept;
  // Inline with the value's own type, one bounds check per attribute, the bytes written straight
  // into the record: a literal key's length and bytes are constants here, so its copy is a few
  // stores (measured, callgrind: ~70 instructions an attribute through SpanEncoder's per-field
  // checks, ~20 so). What does not fit (or an ended span: limit_ 0) takes put_slow.
  template <typename V>
  [[gnu::always_inline]] Span& put(std::string_view key, const V& value) noexcept {
    if constexpr (std::is_same_v<V, wire::ArrayView>) {
      put_slow(key, value);  // arrays are rare: out of line, through the encoder
      return *this;
    } else {
      constexpr std::size_t value_bytes = std::is_same_v<V, std::string_view> ? 2
                                          : std::is_same_v<V, bool>           ? 1
                                                                              : 8;
      std::size_t need = 1 + 2 + key.size() + 1 + value_bytes;
      if constexpr (std::is_same_v<V, std::string_view>) need += value.size();
      if (state_.used + need <= limit_) [[likely]] {
        // need <= limit_ < 65,000: the lengths fit their u16, and items (5 bytes or more each)
        // cannot pass kMaxItems.
        std::byte* p = record_.data() + state_.used;
        const auto key_size = static_cast<std::uint16_t>(key.size());
        p[0] = std::byte{static_cast<std::uint8_t>(wire::ItemTag::Attribute)};
        std::memcpy(p + 1, &key_size, 2);
        std::memcpy(p + 3, key.data(), key.size());
        p += 3 + key.size();
        if constexpr (std::is_same_v<V, std::string_view>) {
          const auto size = static_cast<std::uint16_t>(value.size());
          p[0] = std::byte{static_cast<std::uint8_t>(wire::ValueType::String)};
          std::memcpy(p + 1, &size, 2);
          std::memcpy(p + 3, value.data(), value.size());
        } else if constexpr (std::is_same_v<V, bool>) {
          p[0] = std::byte{static_cast<std::uint8_t>(wire::ValueType::Bool)};
          p[1] = std::byte{value ? std::uint8_t{1} : std::uint8_t{0}};
        } else {
          p[0] = std::byte{static_cast<std::uint8_t>(
              std::is_same_v<V, double> ? wire::ValueType::Double : wire::ValueType::Int64)};
          std::memcpy(p + 1, &value, 8);
        }
        state_.used += static_cast<std::uint32_t>(need);
        ++state_.items;
      } else {
        put_slow(key, value);
      }
    }
    return *this;
  }
  /// An attribute that does not fit where the record is (or a span ended): the record grows, or
  /// the attribute is left out and counted. Out of line: rare.
  void put_slow(std::string_view key, std::string_view value) noexcept;
  void put_slow(std::string_view key, std::int64_t value) noexcept;
  void put_slow(std::string_view key, double value) noexcept;
  void put_slow(std::string_view key, bool value) noexcept;
  void put_slow(std::string_view key, const wire::ArrayView& value) noexcept;
  /// Where items may be written up to: short of the record's end by a Dropped item, 0 once the
  /// span ended or its record failed (every attribute then takes put_slow).
  void refresh_limit() noexcept {
    limit_ = tracer_ != nullptr && !state_.failed
                 ? static_cast<std::uint32_t>(record_.size() - wire::kDroppedItemSize)
                 : 0;
  }

  /// end() of a record that failed or left items out. Out of line: rare.
  bool end_slow(Tracer& tracer, std::int64_t elapsed_ns) noexcept;
  /// Room for `need` more bytes: the record moves to (a bigger) heap buffer, up to the largest
  /// record. Out of line: rare, and it allocates.
  void grow(std::size_t need) noexcept;
  template <typename Write>
  void with_encoder(std::size_t need, Write write) noexcept;

  Tracer* tracer_;
  Span* enclosing_;  ///< the thread's current span before this one
  SpanContext context_;
  std::uint64_t start_ticks_;
  wire::EncoderState state_;
  std::uint32_t limit_ = 0;
  std::uint8_t status_ = 0;
  alignas(8) std::array<std::byte, kBufferBytes> buffer_;
  std::unique_ptr<std::byte[]> spill_;    ///< the record once it outgrew buffer_
  std::span<std::byte> record_{buffer_};  ///< buffer_ or spill_ (a Span never moves)
};

class TAILGATE_API Tracer final {
 public:
  /// Creates this process's segment under options.directory (and the directory if need be). If
  /// that fails (no such group, read-only /dev/shm) the tracer still works: it drops and counts
  /// every span, and error() says why. Throws std::logic_error if another Tracer is alive.
  explicit Tracer(const TracerOptions& options);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  /// Starts a span: a child of this thread's current span, or the root of a new trace.
  [[nodiscard]] Span span(std::string_view name, SpanKind kind = SpanKind::Internal) noexcept {
    return Span(*this, name, nullptr, kind);
  }
  /// Starts a child of `parent` (same trace id), e.g. one extracted from a traceparent; if it is
  /// not valid (a request without one), as span(name, kind).
  [[nodiscard]] Span span(std::string_view name, const SpanContext& parent,
                          SpanKind kind = SpanKind::Internal) noexcept {
    return Span(*this, name, parent.valid() ? &parent : nullptr, kind);
  }
  [[nodiscard]] Span span(std::string_view name, const Span& parent,
                          SpanKind kind = SpanKind::Internal) noexcept {
    return Span(*this, name, &parent.context(), kind);
  }
  /// Starts the root of a new trace whatever the current span is (e.g. one trace per market
  /// data message inside a long-running session span).
  [[nodiscard]] Span root_span(std::string_view name, SpanKind kind = SpanKind::Internal) noexcept {
    static constexpr SpanContext kNone{};
    return Span(*this, name, &kNone, kind);
  }

  /// Hands one finished, encoded wire record to the agent (the C ABI and Python use this).
  bool emit(std::span<const std::byte> record) noexcept;
  [[nodiscard]] TracerStats stats() const noexcept;
  /// Why there is no segment, or empty.
  [[nodiscard]] const std::string& error() const noexcept;
  /// The segment file, or empty.
  [[nodiscard]] const std::string& segment_path() const noexcept;

  /// Wall-clock time in unix nanoseconds, from the TSC (no syscall).
  [[nodiscard]] std::uint64_t now_ns() const noexcept;

  struct Impl;

 private:
  friend class Span;
  std::unique_ptr<Impl> impl_;
};

/// This thread's current span (the innermost one started here and not yet ended), or nullptr.
[[nodiscard]] TAILGATE_API Span* current_span() noexcept;
/// Its context, or an invalid one (valid() false) outside any span: for logs.
[[nodiscard]] TAILGATE_API SpanContext current_context() noexcept;

}  // namespace tailgate
