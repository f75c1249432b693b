#pragma once
// A span as the ring and UDP receivers hand it on: encoded, then decoded with its items packed.

#include <vector>

#include <catch2/catch.hpp>

#include "model/span.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"
#include "wire/span_record.hpp"

namespace tailgate::testing {

inline model::Span packed(const model::Span& span) {
  std::vector<std::byte> record(wire::kMaxRecordSize);
  const auto n = wire::encode_span(span, record);
  REQUIRE(n > wire::kRecordHeaderSize);
  model::Span out;
  REQUIRE(wire::decode_span(
              std::span(record).subspan(wire::kRecordHeaderSize, n - wire::kRecordHeaderSize),
              span.resource, out, wire::Items::Packed) == wire::DecodeError::None);
  REQUIRE((span.attributes.empty() || !out.packed.empty()));
  return out;
}

}  // namespace tailgate::testing
