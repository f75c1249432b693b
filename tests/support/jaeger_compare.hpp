#pragma once
// The packed Jaeger decoder (receivers/jaeger_packed.hpp) against its reference, the libthrift
// decoder (decode_emit_batch_thrift), on the same datagram. Used by the receiver tests and the
// fuzz_jaeger_packed target.

#include <cstddef>
#include <span>
#include <string>

#include "receivers/jaeger_thrift.hpp"
#include "support/otlp_packed_compare.hpp"
#include "wire/decode.hpp"

namespace tailgate::testing {

struct JaegerComparison {
  std::string difference;  ///< empty: the same result
  bool accepted = false;   ///< the reference decoded the datagram
  std::size_t spans = 0;
  std::size_t packed_spans = 0;  ///< of them, with their items packed
};

inline std::string client_difference(const receivers::jaeger::DecodeResult& a,
                                     const receivers::jaeger::DecodeResult& b) {
  if (a.client.has_value() != b.client.has_value()) return "client stats (present)";
  if (!a.client) return {};
  if (a.client->client_uuid != b.client->client_uuid ||
      a.client->full_queue != b.client->full_queue || a.client->too_large != b.client->too_large ||
      a.client->failed_to_emit != b.client->failed_to_emit) {
    return "client stats";
  }
  return {};
}

/// Decodes `datagram` both ways and says where the results differ: whether it is refused, the
/// counts, the client stats, and every span field for field once the packed spans are unpacked.
inline JaegerComparison compare_jaeger(std::span<const std::byte> datagram,
                                       receivers::jaeger::Protocol protocol) {
  namespace jaeger = receivers::jaeger;
  JaegerComparison out;
  model::SpanBatch reference, packed;
  const auto r = jaeger::decode_emit_batch_thrift(datagram, protocol, reference);
  const auto p = jaeger::decode_emit_batch(datagram, protocol, packed);
  out.accepted = r.malformed == 0;
  if (r.malformed != p.malformed) {
    out.difference = out.accepted ? "refused what the reference takes: " + p.error
                                  : "took what the reference refuses (" + r.error + ")";
    return out;
  }
  if (!out.accepted) {
    if (!packed.empty() || p.spans != 0 || p.client) out.difference = "took part of a refusal";
    return out;
  }
  if (r.spans != p.spans || r.zero_ids != p.zero_ids || r.empty != p.empty || r.error != p.error) {
    out.difference = "counts or error";
    return out;
  }
  if (auto d = client_difference(r, p); !d.empty()) {
    out.difference = d;
    return out;
  }
  if (reference.size() != packed.size() || packed.size() != p.spans) {
    out.difference = "number of spans";
    return out;
  }
  out.spans = packed.size();
  for (std::size_t i = 0; i < packed.size(); ++i) {
    if (!packed[i].packed.empty()) ++out.packed_spans;
    if (wire::unpack(packed[i]) != wire::DecodeError::None) {
      out.difference = "span " + std::to_string(i) + " does not unpack";
      return out;
    }
    if (auto d = span_difference(reference[i], packed[i]); !d.empty()) {
      out.difference = "span " + std::to_string(i) + ": " + d;
      return out;
    }
    if (i > 0 && packed[i].resource != packed[0].resource) {
      out.difference = "spans of one datagram with different resources";
      return out;
    }
  }
  return out;
}

}  // namespace tailgate::testing
