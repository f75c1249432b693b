#pragma once
// The packed OTLP decoder (receivers/otlp_packed.hpp) against its reference: protobuf's parse and
// from_otlp, on the same bytes. Used by the receiver tests and the fuzz_otlp_packed target.

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "receivers/otlp_packed.hpp"
#include "wire/decode.hpp"

namespace tailgate::testing {

// Attributes alike, doubles by their bits (a NaN is not equal to itself).
inline bool same_attributes(const std::vector<model::Attribute>& a,
                            const std::vector<model::Attribute>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].value.index() != b[i].value.index()) return false;
    const auto* x = std::get_if<double>(&a[i].value);
    const auto* y = std::get_if<double>(&b[i].value);
    if (x != nullptr ? std::memcmp(x, y, sizeof *x) != 0 : a[i].value != b[i].value) return false;
  }
  return true;
}

inline bool same_events(const std::vector<model::Event>& a, const std::vector<model::Event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].time_unix_ns != b[i].time_unix_ns || a[i].name != b[i].name ||
        !same_attributes(a[i].attributes, b[i].attributes)) {
      return false;
    }
  }
  return true;
}

inline bool same_links(const std::vector<model::Link>& a, const std::vector<model::Link>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].trace_id != b[i].trace_id || a[i].span_id != b[i].span_id ||
        a[i].trace_state != b[i].trace_state ||
        !same_attributes(a[i].attributes, b[i].attributes)) {
      return false;
    }
  }
  return true;
}

/// The first field in which two spans differ, or empty.
inline std::string span_difference(const model::Span& a, const model::Span& b) {
  if (a.trace_id != b.trace_id) return "trace_id";
  if (a.span_id != b.span_id) return "span_id";
  if (a.parent_span_id != b.parent_span_id) return "parent_span_id";
  if (a.start_unix_ns != b.start_unix_ns) return "start_unix_ns";
  if (a.end_unix_ns != b.end_unix_ns) return "end_unix_ns";
  if (a.kind != b.kind) return "kind";
  if (a.status != b.status) return "status";
  if (a.trace_flags != b.trace_flags) return "trace_flags";
  if (a.parent_is_remote != b.parent_is_remote) return "parent_is_remote";
  if (a.name != b.name) return "name";
  if (a.status_message != b.status_message) return "status_message";
  if (a.trace_state != b.trace_state) return "trace_state";
  if (!same_attributes(a.attributes, b.attributes)) return "attributes";
  if (!same_events(a.events, b.events)) return "events";
  if (!same_links(a.links, b.links)) return "links";
  if (a.dropped_attributes != b.dropped_attributes) return "dropped_attributes";
  if (a.dropped_events != b.dropped_events) return "dropped_events";
  if ((a.resource == nullptr) != (b.resource == nullptr)) return "resource (null)";
  if (a.resource != nullptr && (!same_attributes(a.resource->attributes, b.resource->attributes) ||
                                a.resource->scope != b.resource->scope)) {
    return "resource";
  }
  if (!a.packed.empty() || !b.packed.empty()) return "packed items left";
  return {};
}

struct PackedComparison {
  std::string difference;  ///< empty: the same result
  bool accepted = false;   ///< protobuf parsed the bytes
  std::size_t spans = 0;
  std::size_t packed_spans = 0;  ///< of them, with their items packed
};

/// Decodes `bytes` both ways and says where the results differ: whether the request is refused,
/// the counts of spans kept and refused (and the first refusal's reason), and every span field
/// for field once the packed spans are unpacked.
inline PackedComparison compare_packed(std::string_view bytes) {
  PackedComparison out;
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  out.accepted = request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  model::SpanBatch packed;
  receivers::otlp::IngestResult packed_result;
  const auto why = receivers::otlp::from_otlp_bytes(bytes, packed, packed_result);
  if (out.accepted != why.empty()) {
    out.difference = out.accepted ? "refused what protobuf parses: " + why
                                  : std::string("accepted what protobuf refuses");
    return out;
  }
  if (!out.accepted) {
    if (!packed.empty()) out.difference = "spans appended from a refused request";
    return out;
  }
  model::SpanBatch reference;
  const auto result = receivers::otlp::from_otlp(request, reference);
  if (result.spans != packed_result.spans || result.rejected != packed_result.rejected ||
      result.zero_ids != packed_result.zero_ids || result.error != packed_result.error) {
    out.difference = "counts or error";
    return out;
  }
  if (reference.size() != packed.size()) {
    out.difference = "number of spans";
    return out;
  }
  out.spans = packed.size();
  for (std::size_t i = 0; i < packed.size(); ++i) {
    if (!packed[i].packed.empty()) ++out.packed_spans;
    if (const auto e = wire::unpack(packed[i]); e != wire::DecodeError::None) {
      out.difference = "span " + std::to_string(i) + " does not unpack";
      return out;
    }
    if (auto d = span_difference(reference[i], packed[i]); !d.empty()) {
      out.difference = "span " + std::to_string(i) + ": " + d;
      return out;
    }
  }
  return out;
}

}  // namespace tailgate::testing
