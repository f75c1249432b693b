#pragma once
// Reads a producer's segment back the way the agent does (attach, decode the resource, drain every
// lane including the overflow lane, decode each span), for tests of what producers wrote.
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "model/span.hpp"
#include "shm/segment.hpp"
#include "wire/decode.hpp"

namespace tailgate::testing {

inline std::vector<model::Span> segment_spans(const std::string& path,
                                              model::Resource* resource_out = nullptr) {
  auto segment = shm::Segment::attach(path);
  auto resource = std::make_shared<model::Resource>();
  const auto bytes = segment->resource();
  REQUIRE(wire::decode_resource(bytes.subspan(wire::kRecordHeaderSize), *resource) ==
          wire::DecodeError::None);
  if (resource_out != nullptr) *resource_out = *resource;
  std::vector<model::Span> spans;
  for (std::size_t lane = 0; lane <= segment->lane_count(); ++lane) {
    segment->reader(lane).drain(
        [&](wire::RecordType type, std::span<const std::byte> payload) {
          if (type != wire::RecordType::Span) return;
          model::Span span;
          REQUIRE(wire::decode_span(payload, resource, span) == wire::DecodeError::None);
          spans.push_back(std::move(span));
        },
        SIZE_MAX);
  }
  return spans;
}

}  // namespace tailgate::testing
