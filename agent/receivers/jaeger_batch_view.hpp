#pragma once
// An emitBatch call (proto/jaeger/jaeger_agent.thrift) read from a datagram as views into it:
// what Apache Thrift's generated objects would hold, without making them. read_emit_batch reads
// it with the compact or the binary reader (thrift_*_reader.hpp) as the generated code reads its
// objects: fields of an unexpected type are skipped, a missing required field refuses the call,
// a field sent twice replaces the first (a struct field is read again into the same struct), and
// list elements start empty. Lists are ranges in the view's pools, which keep their capacity
// from one datagram to the next. Owned by one receiver thread.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "receivers/jaeger_thrift.hpp"

namespace tailgate::receivers::jaeger {

/// Elements [first, first + count) of one of the view's pools.
struct Range {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

/// The IDL's TagType numbers.
enum TagTypeNumber : std::int32_t { kString = 0, kDouble = 1, kBool = 2, kLong = 3, kBinary = 4 };
/// The IDL's SpanRefType numbers.
enum RefTypeNumber : std::int32_t { kChildOf = 0, kFollowsFrom = 1 };

struct TagView {
  std::string_view key;
  std::string_view str;
  std::string_view binary;
  double f64 = 0;
  std::int64_t i64 = 0;
  std::int32_t type = kString;  ///< any number a sender chose, not only the IDL's
  bool boolean = false;
  bool has_str = false;  ///< vStr was sent (client-uuid is read only so)
};

struct LogView {
  std::int64_t timestamp = 0;
  Range fields;  ///< in tags
};

struct RefView {
  std::int32_t type = kChildOf;
  std::int64_t trace_low = 0;
  std::int64_t trace_high = 0;
  std::int64_t span_id = 0;
};

struct SpanView {
  std::int64_t trace_low = 0;
  std::int64_t trace_high = 0;
  std::int64_t span_id = 0;
  std::int64_t parent_span_id = 0;
  std::string_view operation_name;
  std::int32_t flags = 0;
  std::int64_t start_time = 0;
  std::int64_t duration = 0;
  Range references;  ///< in refs
  Range tags;        ///< in tags
  Range logs;        ///< in logs
};

struct BatchView {
  std::string_view service_name;
  Range process_tags;  ///< in tags
  Range batch_spans;   ///< in spans
  bool has_stats = false;
  std::int64_t full_queue_dropped = 0;
  std::int64_t too_large_dropped = 0;
  std::int64_t failed_to_emit = 0;

  std::vector<TagView> tags;
  std::vector<LogView> logs;
  std::vector<RefView> refs;
  std::vector<SpanView> spans;

  /// Empty again, the pools' capacity kept.
  void clear() noexcept;
  [[nodiscard]] std::span<const TagView> tags_in(Range r) const noexcept {
    return std::span(tags).subspan(r.first, r.count);
  }
};

/// Reads `datagram` (one emitBatch message) into `out`. Returns why it is not one, or empty.
std::string read_emit_batch(std::span<const std::byte> datagram, Protocol protocol, BatchView& out);

}  // namespace tailgate::receivers::jaeger
