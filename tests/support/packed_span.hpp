#pragma once
// A span as a record (encoded), and as the ring and UDP receivers hand it on: encoded, then decoded
// with its items packed.

#include <span>
#include <vector>

#include <catch2/catch.hpp>

#include "model/span.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"
#include "wire/span_record.hpp"

namespace tailgate::testing {

/// The span's record (header and payload).
inline std::vector<std::byte> encoded(const model::Span& span) {
  std::vector<std::byte> record(wire::kMaxRecordSize);
  const auto n = wire::encode_span(span, record);
  REQUIRE(n > 0);
  record.resize(n);
  return record;
}

/// A record's payload: what decode_span reads.
inline std::span<const std::byte> payload_of(const std::vector<std::byte>& record) {
  return std::span(record).subspan(wire::kRecordHeaderSize);
}

/// Checks that two spans agree in their fixed fields, name, status message, trace state,
/// attributes and events.
inline void check_same_span(const model::Span& a, const model::Span& b) {
  CHECK(a.trace_id == b.trace_id);
  CHECK(a.span_id == b.span_id);
  CHECK(a.parent_span_id == b.parent_span_id);
  CHECK(a.start_unix_ns == b.start_unix_ns);
  CHECK(a.end_unix_ns == b.end_unix_ns);
  CHECK(a.kind == b.kind);
  CHECK(a.status == b.status);
  CHECK(a.trace_flags == b.trace_flags);
  CHECK(a.parent_is_remote == b.parent_is_remote);
  CHECK(a.name == b.name);
  CHECK(a.status_message == b.status_message);
  CHECK(a.trace_state == b.trace_state);
  CHECK(a.attributes == b.attributes);
  CHECK(a.events == b.events);
}

inline model::Span packed(const model::Span& span) {
  const auto record = encoded(span);
  REQUIRE(record.size() > wire::kRecordHeaderSize);
  model::Span out;
  REQUIRE(wire::decode_span(payload_of(record), span.resource, out, wire::Items::Packed) ==
          wire::DecodeError::None);
  REQUIRE((span.attributes.empty() || !out.packed.empty()));
  return out;
}

}  // namespace tailgate::testing
