#pragma once
// Metrics from every span, before sampling: per (service.name, span name, kind, status, and the
// configured attribute dimensions) a call counter, an error counter and a duration histogram, so
// that rates, error ratios and latency percentiles are true although only a few percent of the
// traces are kept. Each histogram bucket remembers the last span of a *kept* trace that fell into
// it (an exemplar: its trace id links a latency spike to a trace that is in Jaeger). Past
// max_series, new label sets fold into one "other" series, counted. Label values taken from spans
// are bounded (max_label_value_bytes, see label_value.hpp), so max_series bounds memory and the
// scrape; a dimension whose key is a secret to the scrubber shows its value's keyed hash.
//
// The pipeline thread calls record() (every span, as it arrives) and stage_exemplars() /
// commit_exemplars() (kept spans, around the hand-over to the exporter); snapshot() and render()
// are for any thread (the admin server's).

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "model/span.hpp"
#include "telemetry/exposition.hpp"

namespace tailgate::scrub {
class Scrubber;
}

namespace tailgate::spanmetrics {

struct Exemplar {
  model::TraceId trace_id{};
  model::SpanId span_id{};
  double value_seconds = 0;
  double unix_seconds = 0;  ///< the span's end
};

/// One label set's numbers.
struct Series {
  std::string labels;  ///< rendered: service_name="...",span_name="...",...
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  double sum_seconds = 0;
  std::vector<std::uint64_t> buckets;              ///< per bound, not cumulative; last: +Inf
  std::vector<std::optional<Exemplar>> exemplars;  ///< per bucket
};

struct Snapshot {
  std::vector<double> bounds_seconds;
  std::vector<Series> series;
  std::uint64_t folded_spans = 0;      ///< counted in the "other" series, past max_series
  std::uint64_t label_values_cut = 0;  ///< of counted spans, past max_label_value_bytes
  std::size_t max_series = 0;
};

class SpanMetrics final {
 public:
  /// `scrubber` says which dimensions are secrets (its redaction.keys) and hashes their values
  /// with its key, so a label matches the exported attribute; null only in tests and benchmarks.
  explicit SpanMetrics(const config::SpanMetricsConfig& config,
                       const scrub::Scrubber* scrubber = nullptr);
  ~SpanMetrics();
  SpanMetrics(const SpanMetrics&) = delete;
  SpanMetrics& operator=(const SpanMetrics&) = delete;

  /// Counts each span of `batch` once and notes its series in it (pipeline thread).
  void record(model::SpanBatch& batch);
  void record(model::SpanBatch&& batch) { record(batch); }
  /// The same one span at a time, while the span is hot in cache anyway: count() each span under
  /// the lock that counting() returns (held for one batch; readers wait that long at most).
  [[nodiscard]] std::unique_lock<std::mutex> counting() { return std::unique_lock(mutex_); }
  void count(model::Span& span);
  /// Notes the exemplars `kept` would give (pipeline thread, before the hand-over) ...
  void stage_exemplars(const model::SpanBatch& kept);
  /// ... and applies them if the exporter took the spans (else they are forgotten: an exemplar
  /// must name a trace that is on its way to Jaeger).
  void commit_exemplars(bool delivered);

  [[nodiscard]] Snapshot snapshot() const;
  [[nodiscard]] std::size_t series_count() const;

 private:
  struct Key;
  /// One slot of the open-addressing index: the key's hash, its series, its stored key.
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t series = kEmpty;
    std::uint32_t key = 0;
  };
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFF;
  struct Staged {
    std::uint32_t series;
    std::uint32_t bucket;
    Exemplar exemplar;
  };
  /// The span's label set; `counting`: the span is being counted (its cut labels are).
  Key key_of(const model::Span& span, bool counting);
  std::string_view dimension_value(const model::Span& span, std::size_t i, bool& cut);
  /// The series of `key`, or the empty slot where it would go.
  std::pair<std::optional<std::uint32_t>, std::size_t> lookup(const Key& key, std::uint64_t hash);
  std::optional<std::uint32_t> find(const model::Span& span);
  std::uint32_t find_or_add(const model::Span& span);
  std::uint32_t bucket_of(std::uint64_t duration_ns) const noexcept;
  Series make_series(std::string labels) const;

  config::SpanMetricsConfig config_;
  std::vector<std::uint64_t> bounds_ns_;
  std::vector<std::string> dimension_labels_;
  const scrub::Scrubber* scrubber_;
  std::vector<bool> secret_dimensions_;  ///< by dimension: its key matches redaction.keys
  // The index is the pipeline thread's alone; the series (and folded_) are shared with readers.
  // Open addressing (linear probing) on a 64-bit hash, at most half full: a lookup is a hash, a
  // probe or two and one key comparison (std::unordered_map's node chase cost twice that).
  std::vector<Slot> slots_;
  std::vector<Key> keys_;                ///< by Slot::key
  std::deque<std::string> key_storage_;  ///< owns what keys_ point into
  std::shared_ptr<const model::Resource> last_resource_;
  std::string_view last_service_;
  std::string service_scratch_;  ///< last_service_'s text when it had to be cut
  bool last_service_cut_ = false;
  std::string name_scratch_;          ///< the span name's, per span
  std::vector<std::string> scratch_;  ///< dimension values as text, per span
  std::vector<Staged> staged_;
  std::optional<std::uint32_t> other_;

  mutable std::mutex mutex_;  ///< guards series_ and folded_spans_
  std::vector<Series> series_;
  std::uint64_t folded_spans_ = 0;
  std::atomic<std::uint64_t> label_values_cut_{0};
};

/// The span-metric families in `out`'s format; exemplars only in OpenMetrics.
void render(const Snapshot& snapshot, telemetry::Exposition& out);

}  // namespace tailgate::spanmetrics
