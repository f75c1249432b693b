#include "scrub/scrubber.hpp"

#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <variant>

#include "model/resource_ledger.hpp"
#include "scrub/json_secrets.hpp"
#include "scrub/url_credentials.hpp"
#include "scrub/utf8.hpp"
#include "scrub/value_text.hpp"

namespace tailgate::scrub {
namespace {

/// Calls `f` on a value's text: the string, or each string of an array (each is a value of its
/// own to redaction, repair and limits, as OpenTelemetry's limits treat array elements).
template <typename Value, typename F>
void for_each_text(Value& value, const F& f) {
  if (auto* text = std::get_if<std::string>(&value)) {
    f(*text);
  } else if (auto* array = std::get_if<model::ArrayValue>(&value)) {
    if (auto* texts = std::get_if<std::vector<std::string>>(array)) {
      for (auto& t : *texts) f(t);
    }
  }
}

/// Keys and string values made valid UTF-8 (see scrub/utf8.hpp); how many strings were not.
std::uint64_t make_valid_utf8_all(std::vector<model::Attribute>& attributes) {
  std::uint64_t repaired = 0;
  for (auto& a : attributes) {
    repaired += make_valid_utf8(a.key) ? 1 : 0;
    for_each_text(a.value,
                  [&repaired](std::string& text) { repaired += make_valid_utf8(text) ? 1 : 0; });
  }
  return repaired;
}

bool valid_utf8(std::string_view s) noexcept {
  while (!s.empty()) {
    const auto n = utf8_length(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

bool valid_utf8(const model::Attribute& a) noexcept {
  bool valid = valid_utf8(a.key);
  for_each_text(a.value, [&valid](const std::string& text) { valid = valid && valid_utf8(text); });
  return valid;
}

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // "…", the truncation mark

}  // namespace

Scrubber::Scrubber(const config::RedactionConfig& redaction, const config::LimitsConfig& limits,
                   telemetry::Counters& counters)
    : matcher_(redaction.keys),
      action_(redaction.action),
      hash_key_(redaction.hash_key),
      limits_(limits),
      counters_(counters) {
  if (hash_key_.empty()) {
    hash_key_.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(hash_key_.data()), 32) != 1)
      throw std::runtime_error("redaction: no random bytes for the hash key");
  }
}

bool Scrubber::secret(std::string_view key) {
  if (matcher_.empty()) return false;
  if (const auto it = verdicts_.find(key); it != verdicts_.end()) return it->second;
  if (verdicts_.size() >= kMaxVerdicts) verdicts_.clear();
  const bool verdict = matcher_.matches(key);
  verdicts_.emplace(key, verdict);
  return verdict;
}

std::string Scrubber::keyed_hash(std::string_view text) const {
  unsigned char digest[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), hash_key_.data(), static_cast<int>(hash_key_.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "hmac-sha256:";
  for (unsigned int i = 0; i < 16 && i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

std::string Scrubber::replacement(std::string_view text) const {
  return action_ == config::RedactionAction::Hash ? keyed_hash(text) : std::string("redacted");
}

model::AttributeValue Scrubber::replacement_value(const model::AttributeValue& value) const {
  const auto* array = std::get_if<model::ArrayValue>(&value);
  if (array == nullptr) return replacement(to_text(value));
  // An array stays an array, of its elements' replacements.
  return std::visit(
      [this](const auto& elements) {
        std::vector<std::string> out;
        out.reserve(elements.size());
        for (const auto& e : elements) out.push_back(replacement(to_text(e)));
        return model::AttributeValue(model::ArrayValue(std::move(out)));
      },
      *array);
}

void Scrubber::redact_urls(std::string& text) {
  if (const auto n = redact_url_credentials(text))
    counters_.url_credentials_redacted.fetch_add(n, std::memory_order_relaxed);
}

void Scrubber::redact_json(std::string& text) {
  if (text.empty() || (text.front() != '{' && text.front() != '[')) return;  // the common case
  const JsonRedaction how{[this](std::string_view key) { return secret(key); },
                          [this](std::string_view value) { return replacement(value); },
                          action_ == config::RedactionAction::Remove};
  if (const auto n = redact_json_secrets(text, how))
    counters_.attributes_redacted.fetch_add(n, std::memory_order_relaxed);
}

void Scrubber::redact(std::vector<model::Attribute>& attributes) {
  for (auto it = attributes.begin(); it != attributes.end();) {
    if (!secret(it->key)) {
      for_each_text(it->value, [this](std::string& text) {
        redact_urls(text);
        redact_json(text);
      });
      ++it;
      continue;
    }
    counters_.attributes_redacted.fetch_add(1, std::memory_order_relaxed);
    if (action_ == config::RedactionAction::Remove) {
      it = attributes.erase(it);
    } else {
      it->value = replacement_value(it->value);
      ++it;
    }
  }
}

void Scrubber::cut(std::string& text, std::size_t max_bytes, telemetry::Limit limit) {
  if (text.size() <= max_bytes) return;
  // Room for the mark, then back to the start of a UTF-8 character (never half of one).
  std::size_t end = max_bytes - kEllipsis.size();
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  text += kEllipsis;
  counters_.limits_applied[static_cast<std::size_t>(limit)].fetch_add(1, std::memory_order_relaxed);
}

void Scrubber::limit_values(std::vector<model::Attribute>& attributes) {
  for (auto& a : attributes) {
    for_each_text(a.value, [this](std::string& text) {
      cut(text, limits_.max_attribute_value_bytes, telemetry::Limit::AttributeValueBytes);
    });
  }
}

std::shared_ptr<const model::Resource> Scrubber::scrubbed(
    const std::shared_ptr<const model::Resource>& resource) {
  if (const auto* copy = resources_.find(resource.get())) return *copy ? *copy : resource;
  const auto needs_scrubbing = [&](const model::Attribute& a) {
    bool needs = secret(a.key) || !valid_utf8(a);
    for_each_text(a.value, [&](const std::string& text) {
      needs = needs || text.size() > limits_.max_attribute_value_bytes ||
              may_hold_url_credentials(text);
    });
    return needs;
  };
  if (std::none_of(resource->attributes.begin(), resource->attributes.end(), needs_scrubbing)) {
    resources_.put(resource, nullptr, 0);  // leaves as it is: the memo must not hold it
    return resource;
  }
  auto copy = std::make_shared<model::Resource>(*resource);
  if (const auto repaired = make_valid_utf8_all(copy->attributes)) {
    counters_.utf8_strings_repaired.fetch_add(repaired, std::memory_order_relaxed);
  }
  redact(copy->attributes);
  limit_values(copy->attributes);
  const auto bytes = model::ResourceLedger::cost(*copy);
  return resources_.put(resource, std::move(copy), bytes);
}

void Scrubber::apply(model::Span& span) {
  // First: the cuts below step back over UTF-8 continuation bytes, and a backend refuses a whole
  // request over one invalid string.
  std::uint64_t repaired = 0;
  for (auto* text : {&span.name, &span.status_message, &span.trace_state}) {
    repaired += make_valid_utf8(*text) ? 1 : 0;
  }
  repaired += make_valid_utf8_all(span.attributes);
  for (auto& e : span.events) {
    repaired += (make_valid_utf8(e.name) ? 1 : 0) + make_valid_utf8_all(e.attributes);
  }
  for (auto& l : span.links) {
    repaired += (make_valid_utf8(l.trace_state) ? 1 : 0) + make_valid_utf8_all(l.attributes);
  }
  if (repaired > 0) counters_.utf8_strings_repaired.fetch_add(repaired, std::memory_order_relaxed);
  if (span.resource != nullptr) span.resource = scrubbed(span.resource);
  redact(span.attributes);
  for (auto& e : span.events) redact(e.attributes);
  for (auto& l : span.links) redact(l.attributes);  // a link's attributes leave the agent too
  // Before the cuts below, so that a cut cannot leave half a password behind.
  redact_urls(span.name);
  redact_urls(span.status_message);
  redact_urls(span.trace_state);  // a tracestate value may carry a URL (`:`, `/`, `@` are legal)
  for (auto& e : span.events) redact_urls(e.name);
  for (auto& l : span.links) redact_urls(l.trace_state);

  cut(span.name, limits_.max_span_name_bytes, telemetry::Limit::SpanNameBytes);
  if (span.attributes.size() > limits_.max_attributes_per_span) {
    const auto extra = span.attributes.size() - limits_.max_attributes_per_span;
    span.attributes.resize(limits_.max_attributes_per_span);
    span.dropped_attributes += static_cast<std::uint32_t>(extra);
    counters_.limits_applied[static_cast<std::size_t>(telemetry::Limit::AttributesPerSpan)]
        .fetch_add(extra, std::memory_order_relaxed);
  }
  limit_values(span.attributes);
  if (span.events.size() > limits_.max_events_per_span) {
    const auto extra = span.events.size() - limits_.max_events_per_span;
    span.events.resize(limits_.max_events_per_span);
    span.dropped_events += static_cast<std::uint32_t>(extra);
    counters_.limits_applied[static_cast<std::size_t>(telemetry::Limit::EventsPerSpan)].fetch_add(
        extra, std::memory_order_relaxed);
  }
  for (auto& e : span.events) limit_values(e.attributes);
  for (auto& l : span.links) limit_values(l.attributes);
}

}  // namespace tailgate::scrub
