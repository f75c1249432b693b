#include "spanmetrics/span_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "scrub/scrubber.hpp"
#include "scrub/value_text.hpp"
#include "spanmetrics/label_value.hpp"
#include "wire/decode.hpp"

namespace tailgate::spanmetrics {

namespace {
// Names are short (10-40 bytes): an inline multiply-mix over 8-byte words hashes one in a few
// ns, where std::hash's out-of-line murmur took a fifth of record()'s time (perf).
inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) noexcept {
  __extension__ using u128 = unsigned __int128;
  const u128 m = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(m) ^ static_cast<std::uint64_t>(m >> 64);
}

inline std::uint64_t hash_text(std::string_view s, std::uint64_t h) noexcept {
  const char* p = s.data();
  std::size_t n = s.size();
  h = mix(h ^ n, 0x9e3779b97f4a7c15ULL);
  std::uint64_t w = 0;
  for (; n >= 8; p += 8, n -= 8) {
    std::memcpy(&w, p, 8);
    h = mix(h ^ w, 0xa0761d6478bd642fULL);
  }
  if (n > 0) {
    if (s.size() >= 8) {
      std::memcpy(&w, s.data() + s.size() - 8, 8);  // the last 8 bytes, overlapping
    } else {
      w = 0;
      for (std::size_t i = 0; i < n; ++i)
        w |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    }
    h = mix(h ^ w, 0xe7037ed1a0b428dbULL);
  }
  return h;
}
}  // namespace

// A label set as views: into the span for a lookup, into key_storage_ once stored.
struct SpanMetrics::Key {
  static constexpr std::size_t kMaxDimensions = 8;
  std::string_view service;
  std::string_view name;
  std::array<std::string_view, kMaxDimensions> dimensions;
  std::uint8_t dimension_count = 0;
  model::SpanKind kind{};
  model::StatusCode status{};

  [[nodiscard]] std::uint64_t hash() const noexcept {
    std::uint64_t h = static_cast<std::uint64_t>(kind) << 8 | static_cast<std::uint64_t>(status);
    h = hash_text(name, h);
    h = hash_text(service, h);
    for (std::size_t i = 0; i < dimension_count; ++i) h = hash_text(dimensions[i], h);
    return h;
  }
  bool operator==(const Key& o) const noexcept {
    return kind == o.kind && status == o.status && name == o.name && service == o.service &&
           dimension_count == o.dimension_count &&
           std::equal(dimensions.begin(), dimensions.begin() + dimension_count,
                      o.dimensions.begin());
  }
};

namespace {

/// A dimension's value as the scrubber hashes it (its text_of), so the two hashes match.
std::string secret_text(const wire::ValueRef& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string_view>)
          return std::string(v);
        else if constexpr (std::is_same_v<V, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<V, wire::ArrayRef>)
          return scrub::to_text(v.value());
        else
          return std::to_string(v);
      },
      value);
}

std::string_view kind_name(model::SpanKind k) {
  static constexpr std::array<std::string_view, 6> names = {
      "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
      "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
  const auto i = static_cast<std::size_t>(k);
  return i < names.size() ? names[i] : names[0];
}

std::string_view status_name(model::StatusCode s) {
  switch (s) {
    case model::StatusCode::Ok:
      return "STATUS_CODE_OK";
    case model::StatusCode::Error:
      return "STATUS_CODE_ERROR";
    default:
      return "STATUS_CODE_UNSET";
  }
}

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return out;
}

}  // namespace

SpanMetrics::SpanMetrics(const config::SpanMetricsConfig& config, const scrub::Scrubber* scrubber)
    : config_(config),
      scrubber_(scrubber),
      slots_(std::bit_ceil(std::max<std::size_t>(16, 2 * config.max_series))),
      scratch_(config.dimensions.size()) {
  for (const auto b : config.buckets) bounds_ns_.push_back(static_cast<std::uint64_t>(b.count()));
  for (const auto& d : config.dimensions) {
    dimension_labels_.push_back(config::metric_label_name(d));
    secret_dimensions_.push_back(scrubber_ != nullptr && scrubber_->keys().matches(d));
  }
  // Room for the cut mark and for a keyed hash (the config loader asks for 64 at least).
  config_.max_label_value_bytes = std::max<std::size_t>(config_.max_label_value_bytes, 64);
  if (config_.dimensions.size() > Key::kMaxDimensions)
    config_.dimensions.resize(Key::kMaxDimensions);  // the config loader refuses more
}

SpanMetrics::~SpanMetrics() = default;

std::uint32_t SpanMetrics::bucket_of(std::uint64_t duration_ns) const noexcept {
  // Prometheus buckets are "less than or equal": the first bound >= the value.
  return static_cast<std::uint32_t>(
      std::lower_bound(bounds_ns_.begin(), bounds_ns_.end(), duration_ns) - bounds_ns_.begin());
}

Series SpanMetrics::make_series(std::string labels) const {
  Series s;
  s.labels = std::move(labels);
  s.buckets.assign(bounds_ns_.size() + 1, 0);
  s.exemplars.assign(bounds_ns_.size() + 1, std::nullopt);
  return s;
}

std::string_view SpanMetrics::dimension_value(const model::Span& span, std::size_t i, bool& cut) {
  // Packed (ring, UDP) or decoded alike.
  const auto found = wire::find_attribute(span, config_.dimensions[i]);
  if (!found) return {};
  if (secret_dimensions_[i]) {
    // Hashed per span, not per series: two values must not share a series because they share
    // a prefix, and the label must be the hash the exported attribute carries.
    // An array's elements are hashed one by one, as the exported array's are (scrub).
    const auto* array = std::get_if<wire::ArrayRef>(&*found);
    scratch_[i] = array != nullptr ? scrub::to_text(scrubber_->replacement_value(array->value()))
                                   : scrubber_->replacement(secret_text(*found));
    return scratch_[i];
  }
  return std::visit(
      [&](const auto& v) -> std::string_view {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string_view>) {
          const auto label = label_value(v, config_.max_label_value_bytes, scratch_[i]);
          cut = cut || label.cut;
          return label.text;
        } else if constexpr (std::is_same_v<V, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<V, wire::ArrayRef>) {
          // As JSON text, bounded like any text (label_value may answer with `text` itself).
          auto text = scrub::to_text(v.value());
          const auto label = label_value(text, config_.max_label_value_bytes, scratch_[i]);
          cut = cut || label.cut;
          if (label.text.data() == text.data()) scratch_[i] = std::move(text);
          return scratch_[i];
        } else {
          scratch_[i] = fmt::format("{}", v);
          return scratch_[i];
        }
      },
      *found);
}

SpanMetrics::Key SpanMetrics::key_of(const model::Span& span, bool counting) {
  // The span's label set, as views into the span or, for values that had to change (cut,
  // hashed, not text), into this object's scratch strings.
  Key key;
  bool cut = false;
  if (span.resource != last_resource_) {
    last_resource_ = span.resource;
    last_service_ = "unknown_service";
    last_service_cut_ = false;
    if (last_resource_) {
      for (const auto& a : last_resource_->attributes) {
        if (a.key != "service.name") continue;
        if (const auto* v = std::get_if<std::string>(&a.value)) {
          const auto label = label_value(*v, config_.max_label_value_bytes, service_scratch_);
          last_service_ = label.text;
          last_service_cut_ = label.cut;
        }
        break;
      }
    }
  }
  key.service = last_service_;
  const auto name = label_value(span.name, config_.max_label_value_bytes, name_scratch_);
  key.name = name.text;
  cut = last_service_cut_ || name.cut;
  key.kind = span.kind;
  key.status = span.status;
  key.dimension_count = static_cast<std::uint8_t>(config_.dimensions.size());
  for (std::size_t i = 0; i < config_.dimensions.size(); ++i)
    key.dimensions[i] = dimension_value(span, i, cut);
  if (counting && cut) label_values_cut_.fetch_add(1, std::memory_order_relaxed);
  return key;
}

std::pair<std::optional<std::uint32_t>, std::size_t> SpanMetrics::lookup(const Key& key,
                                                                         std::uint64_t hash) {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const auto& slot = slots_[i];
    if (slot.series == kEmpty) return {std::nullopt, i};
    if (slot.hash == hash && keys_[slot.key] == key) return {slot.series, i};
  }
}

std::optional<std::uint32_t> SpanMetrics::find(const model::Span& span) {
  const auto key = key_of(span, false);
  if (const auto found = lookup(key, key.hash()).first) return found;
  return other_;  // folded, if anything was
}

std::uint32_t SpanMetrics::find_or_add(const model::Span& span) {
  const auto key = key_of(span, true);
  const auto hash = key.hash();
  const auto [found, free_slot] = lookup(key, hash);
  if (found) return *found;
  if (keys_.size() >= config_.max_series) {
    ++folded_spans_;
    if (!other_) {
      std::string labels =
          R"(service_name="other",span_name="other",span_kind="other",status_code="other")";
      for (const auto& label : dimension_labels_) labels += fmt::format(R"(,{}="other")", label);
      other_ = static_cast<std::uint32_t>(series_.size());
      series_.push_back(make_series(std::move(labels)));
    }
    return *other_;
  }
  // A new label set: its strings are kept (the index's keys point into them) and its label
  // text rendered once.
  Key stored = key;
  const auto keep = [this](std::string_view v) -> std::string_view {
    return key_storage_.emplace_back(v);
  };
  stored.service = keep(key.service);
  stored.name = keep(key.name);
  for (std::size_t i = 0; i < key.dimension_count; ++i)
    stored.dimensions[i] = keep(key.dimensions[i]);
  std::string labels = fmt::format(
      R"(service_name="{}",span_name="{}",span_kind="{}",status_code="{}")",
      telemetry::escape_label_value(key.service), telemetry::escape_label_value(key.name),
      kind_name(key.kind), status_name(key.status));
  for (std::size_t i = 0; i < key.dimension_count; ++i) {
    labels += fmt::format(R"(,{}="{}")", dimension_labels_[i],
                          telemetry::escape_label_value(key.dimensions[i]));
  }
  const auto index = static_cast<std::uint32_t>(series_.size());
  series_.push_back(make_series(std::move(labels)));
  slots_[free_slot] = {hash, index, static_cast<std::uint32_t>(keys_.size())};
  keys_.push_back(stored);
  return index;
}

void SpanMetrics::record(model::SpanBatch& batch) {
  const auto lock = counting();
  for (auto& span : batch) count(span);
}

void SpanMetrics::count(model::Span& span) {
  span.metrics_series = find_or_add(span);
  auto& s = series_[span.metrics_series];
  const auto duration = span.duration_ns();
  ++s.calls;
  if (span.status == model::StatusCode::Error) ++s.errors;
  s.sum_seconds += static_cast<double>(duration) / 1e9;
  ++s.buckets[bucket_of(duration)];
}

void SpanMetrics::stage_exemplars(const model::SpanBatch& kept) {
  staged_.clear();
  for (const auto& span : kept) {
    // Counted spans carry their series; others (none in the pipeline) are looked up.
    const auto series = span.metrics_series != model::Span::kNoSeries
                            ? std::optional<std::uint32_t>(span.metrics_series)
                            : find(span);
    if (!series || *series >= series_.size()) continue;  // this thread is series_'s writer
    const auto duration = span.duration_ns();
    staged_.push_back({*series, bucket_of(duration),
                       Exemplar{span.trace_id, span.span_id, static_cast<double>(duration) / 1e9,
                                static_cast<double>(span.end_unix_ns) / 1e9}});
  }
}

void SpanMetrics::commit_exemplars(bool delivered) {
  if (delivered && !staged_.empty()) {
    std::lock_guard lock(mutex_);
    for (const auto& s : staged_) series_[s.series].exemplars[s.bucket] = s.exemplar;
  }
  staged_.clear();
}

Snapshot SpanMetrics::snapshot() const {
  Snapshot out;
  for (const auto b : bounds_ns_) out.bounds_seconds.push_back(static_cast<double>(b) / 1e9);
  out.max_series = config_.max_series;
  std::lock_guard lock(mutex_);
  out.series = series_;
  out.folded_spans = folded_spans_;
  out.label_values_cut = label_values_cut_.load(std::memory_order_relaxed);
  return out;
}

std::size_t SpanMetrics::series_count() const {
  std::lock_guard lock(mutex_);
  return series_.size();
}

void render(const Snapshot& m, telemetry::Exposition& out) {
  const bool exemplars = out.format() == telemetry::Format::OpenMetrics;
  out.family("tailgate_span_calls_total", "counter",
             "Spans seen before sampling, kept or not, by operation.");
  for (const auto& s : m.series) out.sample("tailgate_span_calls_total", s.labels, s.calls);
  out.family("tailgate_span_errors_total", "counter",
             "Spans with status ERROR seen before sampling, by operation.");
  for (const auto& s : m.series) out.sample("tailgate_span_errors_total", s.labels, s.errors);
  out.family("tailgate_span_duration_seconds", "histogram",
             "Span durations before sampling, by operation. Exemplars (OpenMetrics) are spans "
             "of kept traces.");
  auto text = std::back_inserter(out.out());
  for (const auto& s : m.series) {
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < s.buckets.size(); ++b) {
      cumulative += s.buckets[b];
      const auto le =
          b < m.bounds_seconds.size() ? telemetry::bound_text(m.bounds_seconds[b]) : "+Inf";
      fmt::format_to(text, "tailgate_span_duration_seconds_bucket{{{},le=\"{}\"}} {}", s.labels, le,
                     cumulative);
      if (exemplars && s.exemplars[b]) {
        const auto& e = *s.exemplars[b];
        fmt::format_to(text, " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {:.3f}", hex(e.trace_id),
                       hex(e.span_id), e.value_seconds, e.unix_seconds);
      }
      out.out() += '\n';
    }
    out.sample("tailgate_span_duration_seconds_sum", s.labels, s.sum_seconds);
    out.sample("tailgate_span_duration_seconds_count", s.labels, cumulative);
  }
  out.gauge("tailgate_span_metrics_series", "Label sets the span metrics hold.",
            static_cast<double>(m.series.size()));
  out.gauge("tailgate_span_metrics_max_series",
            "Label sets past which new ones fold into the \"other\" series.",
            static_cast<double>(m.max_series));
  out.counter("tailgate_span_metrics_folded_spans_total",
              "Spans counted in the \"other\" series because max_series was reached.",
              m.folded_spans);
  out.counter("tailgate_span_metrics_label_values_cut_total",
              "Spans counted whose service name, span name or a dimension value was cut to "
              "span_metrics.max_label_value_bytes.",
              m.label_values_cut);
}

}  // namespace tailgate::spanmetrics
