#pragma once
// Builds model::Trace views for policy tests (contrib's newTraceWithSpans): a list of spans with
// names, statuses, timings and attributes, and the summary the trace table would keep.

#include <cstdint>
#include <string>
#include <vector>

#include "model/trace.hpp"

namespace tailgate::testing {

struct SpanSpec {
  std::string name = "op";
  bool error = false;
  std::uint64_t start_ms = 0;
  std::uint64_t end_ms = 1;
  std::vector<model::Attribute> attributes = {};
};

using Specs = std::vector<SpanSpec>;

class TraceBuilder {
 public:
  explicit TraceBuilder(std::vector<SpanSpec> specs, std::uint64_t id_seed = 1) {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      model::Span s;
      s.trace_id[15] = static_cast<std::uint8_t>(id_seed);
      s.trace_id[14] = static_cast<std::uint8_t>(id_seed >> 8);
      s.span_id[0] = static_cast<std::uint8_t>(i + 1);
      if (i > 0) s.parent_span_id[0] = 1;
      s.name = specs[i].name;
      s.status = specs[i].error ? model::StatusCode::Error : model::StatusCode::Unset;
      s.start_unix_ns = specs[i].start_ms * 1'000'000;
      s.end_unix_ns = specs[i].end_ms * 1'000'000;
      s.attributes = specs[i].attributes;
      spans_.push_back(std::move(s));
    }
  }
  [[nodiscard]] model::Trace view() const {
    model::Trace t;
    if (!spans_.empty()) t.trace_id = spans_[0].trace_id;
    t.spans = spans_;
    std::uint64_t lo = UINT64_MAX, hi = 0;
    for (const auto& s : spans_) {
      t.has_error |= s.status == model::StatusCode::Error;
      t.root_seen |= s.is_root();
      lo = std::min(lo, s.start_unix_ns);
      hi = std::max(hi, s.end_unix_ns);
    }
    t.duration_ns = hi > lo ? hi - lo : 0;
    return t;
  }

 private:
  std::vector<model::Span> spans_;
};

}  // namespace tailgate::testing
