#pragma once
// The last stage a kept span passes before the exporter: redaction (attribute values under keys
// like api_key or password removed, or replaced by a keyed hash: the span's, its events', its
// links' and its resource's, and members under such keys inside values that are JSON text, as
// OTLP maps arrive; and the password of any URL in a string value, the span's name, its events'
// names and its status message) and limits (long values and names cut, attributes and events past
// their count left out, and said so in OTLP's dropped counts). Only kept spans pay for it.
// Pipeline thread only.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "model/resource_memo.hpp"
#include "model/span.hpp"
#include "scrub/key_matcher.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::scrub {

class Scrubber final {
 public:
  Scrubber(const config::RedactionConfig& redaction, const config::LimitsConfig& limits,
           telemetry::Counters& counters);

  /// Redacts, then applies the limits, in place. The span's resource, shared with other spans,
  /// is replaced by a scrubbed copy if it holds anything to redact or cut.
  void apply(model::Span& span);
  [[nodiscard]] std::size_t max_spans_per_trace() const noexcept {
    return limits_.max_spans_per_trace;
  }
  /// Whether values under `key` are redacted.
  [[nodiscard]] bool secret(std::string_view key);
  /// The matcher behind secret(), for others that must agree with it (span metric dimensions).
  [[nodiscard]] const KeyMatcher& keys() const noexcept { return matcher_; }
  /// "hmac-sha256:" and the first 32 hex digits of HMAC-SHA256(hash key, text).
  [[nodiscard]] std::string keyed_hash(std::string_view text) const;
  /// What a secret value (as text) shows where it cannot be left out, e.g. a metric label: its
  /// keyed hash, or "redacted" under action remove.
  [[nodiscard]] std::string replacement(std::string_view text) const;
  /// A secret value's replacement as a value: a scalar's as text, an array's element by element
  /// (an array of their replacements).
  [[nodiscard]] model::AttributeValue replacement_value(const model::AttributeValue& value) const;

 private:
  void redact(std::vector<model::Attribute>& attributes);
  void redact_urls(std::string& text);
  /// Members under secret keys inside a value that is JSON text (an OTLP map arrives so).
  void redact_json(std::string& text);
  void cut(std::string& text, std::size_t max_bytes, telemetry::Limit limit);
  void limit_values(std::vector<model::Attribute>& attributes);

  /// `resource` as it may leave: itself, or a copy redacted and cut, made once per resource.
  [[nodiscard]] std::shared_ptr<const model::Resource> scrubbed(
      const std::shared_ptr<const model::Resource>& resource);

  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const noexcept {
      return std::hash<std::string_view>{}(key);
    }
  };
  /// Verdicts by key as written: spans repeat a handful of keys, and matching every key against
  /// every pattern was the largest cost of a kept span in the pipeline (perf, at 100% keep).
  /// Bounded: emptied when full, so unbounded key sets cost matching, not memory.
  static constexpr std::size_t kMaxVerdicts = 4096;
  std::unordered_map<std::string, bool, KeyHash, std::equal_to<>> verdicts_;
  /// What leaves in a resource's place: a copy redacted and cut, or null when the resource
  /// leaves as it is. Spans of one producer share one resource; bounded in entries and in the
  /// copies' bytes (a copy is cut to the limits, yet a resource may have thousands of values).
  static constexpr std::size_t kMaxResources = 1024;
  static constexpr std::size_t kMaxResourceBytes = std::size_t{16} << 20;
  model::ResourceMemo<std::shared_ptr<const model::Resource>> resources_{kMaxResources,
                                                                         kMaxResourceBytes};
  KeyMatcher matcher_;
  config::RedactionAction action_;
  std::string hash_key_;
  config::LimitsConfig limits_;
  telemetry::Counters& counters_;
};

}  // namespace tailgate::scrub
