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
