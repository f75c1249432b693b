// The sampling section: timings, memory bounds, load shedding and the policies (also re-read on
// SIGHUP).
#include <set>
#include <variant>

#include "config/section.hpp"

namespace tailgate::config {
namespace {

using detail::format_number;
using detail::quoted;
using detail::Section;

PolicyConfig parse_policy(Section& s) {
  std::string type;
  s.read("type", type);
  const auto named = [&s](auto config) {
    s.read("name", config.name);
    s.read_number("probability", config.probability, 0.0, 1.0);
    return config;
  };
  PolicyConfig out;
  if (type == "error") {
    out = named(ErrorPolicyConfig{});
  } else if (type == "latency") {
    auto c = named(LatencyPolicyConfig{});
    s.read("threshold", c.threshold);
    out = c;
  } else if (type == "span_name") {
    auto c = named(SpanNamePolicyConfig{});
    s.read("patterns", c.patterns);
    if (c.patterns.empty())
      s.fail(s.at("patterns"), s.path() + ".patterns", "must list at least one pattern");
    out = c;
  } else if (type == "attribute") {
    auto c = named(AttributePolicyConfig{});
    s.read("key", c.key);
    s.read("values", c.values);
    if (c.key.empty()) s.fail(s.node(), s.path() + ".key", "must name an attribute key");
    if (c.values.empty()) s.fail(s.node(), s.path() + ".values", "must list at least one value");
    out = c;
  } else if (type == "base") {
    out = named(BasePolicyConfig{});
  } else {
    s.fail(type.empty() ? s.node() : s.at("type"), s.path() + ".type",
           "expected one of error, latency, span_name, attribute, base, got " + quoted(type));
  }
  s.finish();
  return out;
}

}  // namespace

void parse_sampling(Section& sampling, SamplingConfig& c) {
  sampling.read("decision_wait", c.decision_wait);
  sampling.read("max_trace_age", c.max_trace_age);
  sampling.read_size("max_buffered_bytes", c.max_buffered_bytes);
  sampling.read_count("max_spans_per_trace", c.max_spans_per_trace);
  sampling.read_size("max_bytes_per_trace", c.max_bytes_per_trace);
  sampling.read_number("target_spans_per_second", c.target_spans_per_second, 0.0, 1e9);
  sampling.read_count("decision_cache_entries", c.decision_cache_entries);
  sampling.read_number("stress_enter", c.stress_enter, 0.01, 1.0);
  sampling.read_number("stress_exit", c.stress_exit, 0.0, 1.0);
  sampling.read("hold_time", c.hold_time);
  sampling.read_size("hold_bytes", c.hold_bytes);
  if (c.stress_exit >= c.stress_enter) {
    sampling.fail(sampling.at("stress_exit"), "sampling.stress_exit",
                  "must be below sampling.stress_enter (" + format_number(c.stress_enter) + ")");
  }
  if (c.max_trace_age < c.decision_wait) {
    sampling.fail(sampling.at("max_trace_age"), "sampling.max_trace_age",
                  "must not be shorter than sampling.decision_wait");
  }
  if (sampling.has("policies")) {
    c.policies.clear();
    std::set<std::string> names;
    bool base_seen = false;
    for (auto& p : sampling.sections("policies")) {
      c.policies.push_back(parse_policy(p));
      const auto name = std::visit([](const auto& x) { return x.name; }, c.policies.back());
      if (name.empty()) p.fail(p.node(), p.path() + ".name", "every policy needs a name");
      if (!names.insert(name).second) {
        p.fail(p.at("name"), p.path() + ".name", "duplicate policy name " + quoted(name));
      }
      if (std::holds_alternative<BasePolicyConfig>(c.policies.back())) {
        if (base_seen) p.fail(p.at("type"), p.path() + ".type", "only one base policy may be set");
        base_seen = true;
      }
    }
    if (c.policies.empty()) {
      sampling.fail(sampling.at("policies"), "sampling.policies", "must list at least one policy");
    }
    // The decision cache keeps a policy index in 4 bits, one value meaning "none".
    if (c.policies.size() > 15) {
      sampling.fail(sampling.at("policies"), "sampling.policies",
                    "at most 15 policies, got " + std::to_string(c.policies.size()));
    }
  }
  sampling.finish();
}

}  // namespace tailgate::config
