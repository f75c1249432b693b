#include "export/otlp_mapping.hpp"

#include <type_traits>
#include <utility>
#include <vector>

namespace tailgate::exporter {
namespace {

void to_otlp(const model::Attribute& in, otlp::common::v1::KeyValue& out) {
  out.set_key(in.key);
  auto* value = out.mutable_value();
  std::visit(
      [value](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>)
          value->set_string_value(v);
        else if constexpr (std::is_same_v<T, std::int64_t>)
          value->set_int_value(v);
        else if constexpr (std::is_same_v<T, double>)
          value->set_double_value(v);
        else
          value->set_bool_value(v);
      },
      in.value);
}

template <typename Repeated>
void to_otlp(const std::vector<model::Attribute>& in, Repeated& out) {
  out.Reserve(static_cast<int>(in.size()));
  for (const auto& a : in) to_otlp(a, *out.Add());
}

}  // namespace

void to_otlp(const model::Span& span, otlp::trace::v1::Span& out) {
  out.set_trace_id(span.trace_id.data(), span.trace_id.size());
  out.set_span_id(span.span_id.data(), span.span_id.size());
  if (!span.is_root())
    out.set_parent_span_id(span.parent_span_id.data(), span.parent_span_id.size());
  if (!span.trace_state.empty()) out.set_trace_state(span.trace_state);
  // OTLP's span flags: W3C trace flags in the low byte; whether the parent is remote (bits 8, 9)
  // is known for every span that has a parent.
  constexpr std::uint32_t kHasIsRemote = 0x100, kIsRemote = 0x200;
  out.set_flags(span.trace_flags |
                (span.is_root() ? 0 : kHasIsRemote | (span.parent_is_remote ? kIsRemote : 0)));
  out.set_name(span.name);
  out.set_dropped_attributes_count(span.dropped_attributes);
  out.set_dropped_events_count(span.dropped_events);
  out.set_kind(static_cast<otlp::trace::v1::Span::SpanKind>(span.kind));
  out.set_start_time_unix_nano(span.start_unix_ns);
  out.set_end_time_unix_nano(span.end_unix_ns);
  to_otlp(span.attributes, *out.mutable_attributes());
  out.mutable_events()->Reserve(static_cast<int>(span.events.size()));
  for (const auto& e : span.events) {
    auto* event = out.add_events();
    event->set_time_unix_nano(e.time_unix_ns);
    event->set_name(e.name);
    to_otlp(e.attributes, *event->mutable_attributes());
  }
  out.mutable_links()->Reserve(static_cast<int>(span.links.size()));
  for (const auto& l : span.links) {
    auto* link = out.add_links();
    link->set_trace_id(l.trace_id.data(), l.trace_id.size());
    link->set_span_id(l.span_id.data(), l.span_id.size());
    if (!l.trace_state.empty()) link->set_trace_state(l.trace_state);
    to_otlp(l.attributes, *link->mutable_attributes());
  }
  if (span.status != model::StatusCode::Unset || !span.status_message.empty()) {
    auto* status = out.mutable_status();
    status->set_code(static_cast<otlp::trace::v1::Status::StatusCode>(span.status));
    status->set_message(span.status_message);
  }
}

void append_spans(std::span<const model::Span> spans,
                  otlp::collector::trace::v1::ExportTraceServiceRequest& request) {
  // Batches hold few distinct resources, so a linear scan beats hashing attribute lists; the
  // pointer check catches the common case of spans sharing one decoded resource.
  std::vector<std::pair<const model::Resource*, otlp::trace::v1::ScopeSpans*>> groups;
  for (const auto& span : spans) {
    const model::Resource* resource = span.resource.get();
    otlp::trace::v1::ScopeSpans* scope = nullptr;
    for (auto& [known, group] : groups) {
      if (known == resource || (known && resource && *known == *resource)) {
        scope = group;
        break;
      }
    }
    if (scope == nullptr) {
      auto* rs = request.add_resource_spans();
      if (resource != nullptr)
        to_otlp(resource->attributes, *rs->mutable_resource()->mutable_attributes());
      scope = rs->add_scope_spans();
      if (resource != nullptr && !resource->scope.name.empty()) {
        scope->mutable_scope()->set_name(resource->scope.name);
        scope->mutable_scope()->set_version(resource->scope.version);
      } else {
        scope->mutable_scope()->set_name(kScopeName);
      }
      groups.emplace_back(resource, scope);
    }
    to_otlp(span, *scope->add_spans());
  }
}

}  // namespace tailgate::exporter
