// The span_metrics section: dimensions, histogram bounds and the bounds on series and labels.
#include <algorithm>
#include <string>
#include <vector>

#include "config/section.hpp"

namespace tailgate::config {

using detail::quoted;

void parse_span_metrics(detail::Section& span_metrics, SpanMetricsConfig& m) {
  span_metrics.read("enabled", m.enabled);
  span_metrics.read("dimensions", m.dimensions);
  std::vector<std::string> buckets;
  span_metrics.read("buckets", buckets);
  if (span_metrics.at("buckets").IsDefined()) {
    if (buckets.empty() || buckets.size() > 64) {
      span_metrics.fail(span_metrics.at("buckets"), "span_metrics.buckets",
                        "must list 1 to 64 durations");
    }
    m.buckets.clear();
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      const auto key = "span_metrics.buckets[" + std::to_string(i) + "]";
      std::chrono::nanoseconds bound{};
      if (!parse_duration(buckets[i], bound) || bound.count() <= 0) {
        span_metrics.fail(
            span_metrics.at("buckets")[i], key,
            "expected a duration above 0 such as 100us, 2.5ms or 1s, got " + quoted(buckets[i]));
      }
      if (!m.buckets.empty() && bound <= m.buckets.back()) {
        span_metrics.fail(span_metrics.at("buckets")[i], key,
                          "bounds must increase, and " + quoted(buckets[i]) +
                              " does not exceed the one before it");
      }
      m.buckets.push_back(bound);
    }
  }
  span_metrics.read_count("max_series", m.max_series);
  span_metrics.read_count("max_label_value_bytes", m.max_label_value_bytes);
  if (m.max_label_value_bytes < 64) {
    span_metrics.fail(span_metrics.at("max_label_value_bytes"),
                      "span_metrics.max_label_value_bytes",
                      "must be at least 64 (room for a keyed hash of a redacted dimension)");
  }
  if (m.dimensions.size() > 8) {
    span_metrics.fail(span_metrics.at("dimensions"), "span_metrics.dimensions",
                      "at most 8 attribute keys (each multiplies the series)");
  }
  std::vector<std::string> labels{"service_name", "span_name", "span_kind", "status_code", "le"};
  for (std::size_t i = 0; i < m.dimensions.size(); ++i) {
    const auto label = metric_label_name(m.dimensions[i]);
    if (std::find(labels.begin(), labels.end(), label) != labels.end()) {
      span_metrics.fail(
          span_metrics.at("dimensions")[i], "span_metrics.dimensions[" + std::to_string(i) + "]",
          quoted(m.dimensions[i]) + " would be the label " + label + ", which is taken");
    }
    labels.push_back(label);
  }
  span_metrics.finish();
}

}  // namespace tailgate::config
