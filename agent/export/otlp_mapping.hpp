#pragma once
// The one mapping from the agent's span model to OTLP: a serialized ExportTraceServiceRequest
// written straight from the spans, grouped as OTLP wants it (one ResourceSpans per distinct
// resource, one ScopeSpans inside it). Written by hand rather than through the generated message
// classes: building a message object per span, attribute and value and then serializing it was
// most of the export thread's time (perf), and a request held as a message took twice the memory
// of its bytes. The generated classes still parse these bytes in the tests, field by field.
// Pure; callable from any thread.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/span.hpp"

namespace tailgate::exporter {

/// The instrumentation scope named on exported spans: our producers' client library.
inline constexpr std::string_view kScopeName = "tailgate";

/// Collects spans for one request, grouped by resource (equal resources share one group), and
/// writes them. Holds pointers: the spans must stay alive and unchanged until encode().
class RequestEncoder final {
 public:
  void add(const model::Span& span);
  [[nodiscard]] std::size_t spans() const noexcept { return spans_; }
  /// The serialized ExportTraceServiceRequest of every span added; the encoder is empty after.
  [[nodiscard]] std::string encode();

 private:
  struct Group {
    const model::Resource* resource;
    std::vector<const model::Span*> spans;
  };
  std::vector<Group> groups_;
  std::size_t spans_ = 0;
};

/// The serialized ExportTraceServiceRequest of `spans`.
[[nodiscard]] std::string encode_request(std::span<const model::Span> spans);

}  // namespace tailgate::exporter
