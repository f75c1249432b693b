#pragma once
// The OTLP request for a list of spans built with protobuf's generated classes, independent of the
// agent's hand-written encoder (export/otlp_mapping): the oracle its bytes are compared with, by
// the mapping test and the fuzz_otlp_encode target. Groups by resource as the encoder does (equal
// resources share one group, in order of first appearance).

#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "export/otlp_mapping.hpp"
#include "model/span.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace tailgate::testing {

namespace otlp_pb = opentelemetry::proto;

inline void reference_attributes(
    const std::vector<model::Attribute>& in,
    google::protobuf::RepeatedPtrField<otlp_pb::common::v1::KeyValue>& out) {
  for (const auto& a : in) {
    auto* kv = out.Add();
    kv->set_key(a.key);
    auto* value = kv->mutable_value();
    if (const auto* s = std::get_if<std::string>(&a.value)) value->set_string_value(*s);
    if (const auto* i = std::get_if<std::int64_t>(&a.value)) value->set_int_value(*i);
    if (const auto* d = std::get_if<double>(&a.value)) value->set_double_value(*d);
    if (const auto* b = std::get_if<bool>(&a.value)) value->set_bool_value(*b);
    if (const auto* array = std::get_if<model::ArrayValue>(&a.value)) {
      auto* values = value->mutable_array_value();  // set even when empty, as the encoder does
      std::visit(
          [values](const auto& elements) {
            for (const auto& e : elements) {
              auto* element = values->add_values();
              using E = typename std::decay_t<decltype(elements)>::value_type;
              if constexpr (std::is_same_v<E, std::string>)
                element->set_string_value(e);
              else if constexpr (std::is_same_v<E, std::int64_t>)
                element->set_int_value(e);
              else if constexpr (std::is_same_v<E, double>)
                element->set_double_value(e);
              else
                element->set_bool_value(e);
            }
          },
          *array);
    }
  }
}

inline void reference_span(const model::Span& span, otlp_pb::trace::v1::Span& out) {
  out.set_trace_id(span.trace_id.data(), span.trace_id.size());
  out.set_span_id(span.span_id.data(), span.span_id.size());
  if (!span.is_root())
    out.set_parent_span_id(span.parent_span_id.data(), span.parent_span_id.size());
  out.set_trace_state(span.trace_state);
  out.set_flags(span.trace_flags |
                (span.is_root() ? 0 : 0x100 | (span.parent_is_remote ? 0x200 : 0)));
  out.set_name(span.name);
  out.set_dropped_attributes_count(span.dropped_attributes);
  out.set_dropped_events_count(span.dropped_events);
  out.set_kind(static_cast<otlp_pb::trace::v1::Span::SpanKind>(span.kind));
  out.set_start_time_unix_nano(span.start_unix_ns);
  out.set_end_time_unix_nano(span.end_unix_ns);
  reference_attributes(span.attributes, *out.mutable_attributes());
  for (const auto& e : span.events) {
    auto* event = out.add_events();
    event->set_time_unix_nano(e.time_unix_ns);
    event->set_name(e.name);
    reference_attributes(e.attributes, *event->mutable_attributes());
  }
  for (const auto& l : span.links) {
    auto* link = out.add_links();
    link->set_trace_id(l.trace_id.data(), l.trace_id.size());
    link->set_span_id(l.span_id.data(), l.span_id.size());
    link->set_trace_state(l.trace_state);
    reference_attributes(l.attributes, *link->mutable_attributes());
  }
  if (span.status != model::StatusCode::Unset || !span.status_message.empty()) {
    out.mutable_status()->set_code(
        static_cast<otlp_pb::trace::v1::Status::StatusCode>(span.status));
    out.mutable_status()->set_message(span.status_message);
  }
}

/// The request's bytes as protobuf writes them (deterministically).
inline std::string reference_request(const std::vector<model::Span>& spans) {
  std::vector<const model::Resource*> groups;
  const auto same = [](const model::Resource* a, const model::Resource* b) {
    return a == b || (a != nullptr && b != nullptr && *a == *b);
  };
  for (const auto& span : spans) {
    bool known = false;
    for (const auto* g : groups) known = known || same(g, span.resource.get());
    if (!known) groups.push_back(span.resource.get());
  }
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  for (const auto* resource : groups) {
    auto* rs = request.add_resource_spans();
    if (resource != nullptr)
      reference_attributes(resource->attributes, *rs->mutable_resource()->mutable_attributes());
    auto* ss = rs->add_scope_spans();
    if (resource != nullptr && !resource->scope.name.empty()) {
      ss->mutable_scope()->set_name(resource->scope.name);
      ss->mutable_scope()->set_version(resource->scope.version);
    } else {
      ss->mutable_scope()->set_name(std::string(exporter::kScopeName));
    }
    for (const auto& span : spans) {
      if (same(span.resource.get(), resource)) reference_span(span, *ss->add_spans());
    }
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  return bytes;
}

}  // namespace tailgate::testing
