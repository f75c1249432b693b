#pragma once
// The record format shared by the shared-memory ring and the native UDP receiver: framing,
// record types and the fixed part of a span record. Encoders live in encode.hpp (used by the
// client and tools), decoders in decode.hpp (used by the agent). docs/wire-format.md has the same
// drawing. All integers are little-endian; the agent and its producers share one host.
//
// Record (8-byte header, then payload; the next record starts at the next multiple of 8):
//
//   0        4        6        8
//   +--------+--------+--------+---------------------------------+
//   | length | type   | schema | payload: length - 8 bytes        |
//   | u32    | u16    | u16    |                                  |
//   +--------+--------+--------+---------------------------------+
//   length counts header + payload, not the alignment padding after it. In the ring it is
//   written last (0 = not yet committed); on UDP it simply frames.
//
// Span payload, schema 1 (fixed part, 56 bytes):
//
//   0  trace_id      16 B      24 parent_span_id  8 B (all zero: root)
//  16  span_id        8 B      32 start_unix_ns u64    40 end_unix_ns u64
//  48  kind u8  49 status u8  50 trace_flags u8  51 span_flags u8 (bit 0: the parent is remote)
//  52  name_len u16            54 item_count u16
//  56  name (name_len bytes, UTF-8), then exactly item_count items, ending the payload
//      (the count makes a record cut at an item boundary detectable):
//
//   item = tag u8, then
//     1 attribute       key (u16 len + bytes), value
//     2 event           time_unix_ns u64, name (u16 len + bytes), count u8, count x (key, value)
//     3 status message  u16 len + bytes
//     4 trace state     u16 len + bytes (W3C tracestate)
//   value = type u8, then 1 string: u16 len + bytes | 2 int64: 8 B | 3 double: 8 B IEEE 754
//                         | 4 bool: 1 B (0 or 1)
//                         | 5 array: element type u8 (1-4), count u16, count x element's bytes
//
// Resource payload, schema 1: count u16, then exactly count (key, value) pairs.
// Loss payload, schema 1: count u64 (records the producer dropped before this one).

#include <bit>
#include <cstddef>
#include <cstdint>

namespace tailgate::wire {

static_assert(std::endian::native == std::endian::little,
              "the record format is little-endian and copied as such");

enum class RecordType : std::uint16_t { Padding = 0, Span = 1, Resource = 2, Loss = 3 };
enum class ItemTag : std::uint8_t {
  Attribute = 1,
  Event = 2,
  StatusMessage = 3,
  TraceState = 4,
  Dropped = 5,  ///< u16 attributes, u16 events: what the producer left out (its buffer was full)
  Link = 6,     ///< trace_id 16 B, span_id 8 B, trace state, count u8, count x (key, value)
};
/// Bytes of a Dropped item; a producer encoding in skip mode keeps room for it.
inline constexpr std::size_t kDroppedItemSize = 5;
/// Array: an OTLP ArrayValue of one scalar type (elements are 1-4, never arrays).
enum class ValueType : std::uint8_t { String = 1, Int64 = 2, Double = 3, Bool = 4, Array = 5 };
/// An array's count is a u16.
inline constexpr std::size_t kMaxArrayElements = 0xFFFF;

inline constexpr std::uint16_t kSchemaVersion = 1;
inline constexpr std::size_t kRecordHeaderSize = 8;
inline constexpr std::size_t kRecordAlignment = 8;
inline constexpr std::size_t kSpanFixedSize = 56;
/// The largest record: it must fit one UDP datagram (the jaeger-agent's 65,000-byte limit).
inline constexpr std::size_t kMaxRecordSize = 65000;
inline constexpr std::size_t kMaxStringLength = 0xFFFF;
inline constexpr std::size_t kMaxEventAttributes = 0xFF;
/// span_flags: the parent span is in another process (its context came in a traceparent), so
/// this span is the root of what this host will see of the trace.
inline constexpr std::uint8_t kParentIsRemote = 0x01;

struct RecordHeader {
  std::uint32_t length;
  std::uint16_t type;
  std::uint16_t schema;
};
static_assert(sizeof(RecordHeader) == kRecordHeaderSize);
static_assert(offsetof(RecordHeader, type) == 4 && offsetof(RecordHeader, schema) == 6);

struct SpanFixed {
  std::uint8_t trace_id[16];
  std::uint8_t span_id[8];
  std::uint8_t parent_span_id[8];
  std::uint64_t start_unix_ns;
  std::uint64_t end_unix_ns;
  std::uint8_t kind;
  std::uint8_t status;
  std::uint8_t trace_flags;
  std::uint8_t span_flags;  ///< kParentIsRemote; other bits 0
  std::uint16_t name_len;
  std::uint16_t item_count;
};
static_assert(sizeof(SpanFixed) == kSpanFixedSize);
static_assert(offsetof(SpanFixed, span_id) == 16 && offsetof(SpanFixed, parent_span_id) == 24);
static_assert(offsetof(SpanFixed, start_unix_ns) == 32 && offsetof(SpanFixed, end_unix_ns) == 40);
static_assert(offsetof(SpanFixed, kind) == 48 && offsetof(SpanFixed, name_len) == 52);
static_assert(offsetof(SpanFixed, item_count) == 54);
inline constexpr std::size_t kMaxItems = 0xFFFF;

[[nodiscard]] constexpr std::size_t align_record(std::size_t n) noexcept {
  return (n + kRecordAlignment - 1) & ~(kRecordAlignment - 1);
}

}  // namespace tailgate::wire
