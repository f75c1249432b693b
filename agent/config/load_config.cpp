#include "config/load_config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "config/otel_environment.hpp"
#include "config/section.hpp"

namespace tailgate::config {
namespace {

using detail::check_endpoint;
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

Config parse(const YAML::Node& root, const std::string& file) {
  Config config;
  Section top(root, "", file);

  auto log = top.child("log");
  log.read_enum("level", config.log.level,
                {{"trace", LogLevel::Trace},
                 {"debug", LogLevel::Debug},
                 {"info", LogLevel::Info},
                 {"warn", LogLevel::Warn},
                 {"error", LogLevel::Error},
                 {"off", LogLevel::Off}});
  log.read_enum("format", config.log.format,
                {{"text", LogFormat::Text}, {"json", LogFormat::Json}});
  log.finish();

  auto admin = top.child("admin");
  auto& a = config.admin;
  admin.read("enabled", a.enabled);
  admin.read("endpoint", a.endpoint);
  check_endpoint(admin, "endpoint", "admin.endpoint", a.endpoint);
  admin.read("stall_after", a.stall_after);
  admin.read("export_failing_after", a.export_failing_after);
  admin.read_number("queue_high_water", a.queue_high_water, 0.01, 1.0);
  admin.read_number("drop_rate_threshold", a.drop_rate_threshold, 0.0, 1.0);
  admin.read_number("export_failure_threshold", a.export_failure_threshold, 0.0, 1.0);
  // The trace log's index holds 32-bit positions; 16M records is already 2 GB.
  auto lookup_entries = static_cast<double>(a.trace_lookup_entries);
  admin.read_number("trace_lookup_entries", lookup_entries, 1, 16777216);
  a.trace_lookup_entries = static_cast<std::size_t>(lookup_entries);
  admin.read("jaeger_ui_url", a.jaeger_ui_url);
  if (!a.jaeger_ui_url.empty() && !a.jaeger_ui_url.starts_with("http://") &&
      !a.jaeger_ui_url.starts_with("https://")) {
    admin.fail(admin.at("jaeger_ui_url"), "admin.jaeger_ui_url",
               "expected an http:// or https:// URL, got " + quoted(a.jaeger_ui_url));
  }
  admin.finish();

  auto receivers = top.child("receivers");
  const auto read_udp = [&receivers](std::string_view name, UdpReceiverConfig& u) {
    auto udp = receivers.child(name);
    udp.read("enabled", u.enabled);
    udp.read("endpoint", u.endpoint);
    check_endpoint(udp, "endpoint", "receivers." + std::string(name) + ".endpoint", u.endpoint);
    udp.read_size("socket_buffer", u.socket_buffer_bytes);
    udp.finish();
  };
  read_udp("udp", config.receivers.udp);
  read_udp("jaeger_compact", config.receivers.jaeger_compact);
  read_udp("jaeger_binary", config.receivers.jaeger_binary);
  const auto read_otlp = [&receivers](std::string_view name, OtlpReceiverConfig& o) {
    auto otlp = receivers.child(name);
    otlp.read("enabled", o.enabled);
    otlp.read("endpoint", o.endpoint);
    check_endpoint(otlp, "endpoint", "receivers." + std::string(name) + ".endpoint", o.endpoint);
    otlp.read_size("max_request_bytes", o.max_request_bytes);
    if (o.max_request_bytes < 1024 || o.max_request_bytes > (1u << 30)) {
      otlp.fail(otlp.at("max_request_bytes"),
                "receivers." + std::string(name) + ".max_request_bytes",
                "expected a size from 1KiB to 1GiB");
    }
    if (name == "otlp_grpc") {
      otlp.read_count("max_inflight_requests", o.max_inflight_requests);
      if (o.max_inflight_requests > 1024) {
        otlp.fail(otlp.at("max_inflight_requests"), "receivers.otlp_grpc.max_inflight_requests",
                  "expected a number from 1 to 1024");
      }
    }
    otlp.finish();
  };
  read_otlp("otlp_grpc", config.receivers.otlp_grpc);
  read_otlp("otlp_http", config.receivers.otlp_http);
  auto ring = receivers.child("ring");
  auto& r = config.receivers.ring;
  ring.read("enabled", r.enabled);
  ring.read("directory", r.directory);
  ring.read("group", r.group);
  ring.read("scan_interval", r.scan_interval);
  ring.read("stalled_write_timeout", r.stalled_write_timeout);
  ring.read_count("max_segments", r.max_segments);
  ring.finish();
  receivers.finish();

  auto pipeline = top.child("pipeline");
  pipeline.read_count("queue_spans", config.pipeline.queue_spans);
  pipeline.read_size("queue_bytes", config.pipeline.queue_bytes);
  pipeline.finish();

  auto sampling = top.child("sampling");
  parse_sampling(sampling, config.sampling);

  auto exporter = top.child("exporter");
  auto& e = config.exporter;
  exporter.read("endpoint", e.endpoint);
  exporter.read("insecure", e.insecure);
  exporter.read("ca_file", e.ca_file);
  exporter.read("client_cert_file", e.client_cert_file);
  exporter.read("client_key_file", e.client_key_file);
  exporter.read("headers", e.headers);
  exporter.read_enum("compression", e.compression,
                     {{"none", Compression::None}, {"gzip", Compression::Gzip}});
  exporter.read("timeout", e.timeout);
  exporter.read_count("max_batch_spans", e.max_batch_spans);
  exporter.read("max_batch_delay", e.max_batch_delay);
  exporter.read_count("queue_spans", e.queue_spans);
  exporter.read_size("queue_bytes", e.queue_bytes);
  exporter.read_count("max_inflight_requests", e.max_inflight_requests);
  exporter.read("initial_backoff", e.initial_backoff);
  exporter.read("max_backoff", e.max_backoff);
  exporter.read("max_retry_time", e.max_retry_time);
  exporter.read("shutdown_grace", e.shutdown_grace);
  exporter.read("spool_directory", e.spool_directory);
  exporter.read_size("spool_max_bytes", e.spool_max_bytes);
  exporter.finish();

  auto span_metrics = top.child("span_metrics");
  auto& m = config.span_metrics;
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

  auto redaction = top.child("redaction");
  redaction.read("keys", config.redaction.keys);
  redaction.read_enum("action", config.redaction.action,
                      {{"remove", RedactionAction::Remove}, {"hash", RedactionAction::Hash}});
  redaction.read("hash_key", config.redaction.hash_key);
  redaction.finish();

  auto limits = top.child("limits");
  auto& l = config.limits;
  limits.read_count("max_attribute_value_bytes", l.max_attribute_value_bytes);
  limits.read_count("max_attributes_per_span", l.max_attributes_per_span);
  limits.read_count("max_events_per_span", l.max_events_per_span);
  limits.read_count("max_span_name_bytes", l.max_span_name_bytes);
  limits.read_count("max_spans_per_trace", l.max_spans_per_trace);
  for (const auto& [key, value] :
       {std::pair{"max_attribute_value_bytes", l.max_attribute_value_bytes},
        std::pair{"max_span_name_bytes", l.max_span_name_bytes}}) {
    if (value < 8) {
      limits.fail(limits.at(key), std::string("limits.") + key,
                  "must be at least 8 (room for the truncation mark)");
    }
  }
  limits.finish();

  auto state = top.child("state");
  state.read("directory", config.state.directory);
  state.finish();

  auto peers = top.child("peers");
  parse_peers(peers, config.peers);
  top.finish();

  if (e.max_batch_spans > e.queue_spans) {
    exporter.fail(exporter.at("max_batch_spans"), "exporter.max_batch_spans",
                  "must not exceed exporter.queue_spans (" + std::to_string(e.queue_spans) + ")");
  }
  if (e.initial_backoff > e.max_backoff) {
    exporter.fail(exporter.at("initial_backoff"), "exporter.initial_backoff",
                  "must not exceed exporter.max_backoff");
  }

  // The file takes the endpoint forms the environment takes (http:// plaintext, https:// TLS).
  if (!normalize_endpoint(e.endpoint, e.insecure)) {
    exporter.fail(exporter.at("endpoint"), "exporter.endpoint",
                  "expected [http[s]://]host:port, got " + quoted(e.endpoint));
  }
  apply_otel_environment(e);
  check_endpoint(exporter, "endpoint", "exporter.endpoint", e.endpoint);
  for (const auto& [key, path] :
       {std::pair{"ca_file", &e.ca_file}, std::pair{"client_cert_file", &e.client_cert_file},
        std::pair{"client_key_file", &e.client_key_file}}) {
    if (!e.insecure && !path->empty() && !std::ifstream(*path)) {
      exporter.fail(exporter.at(key), std::string("exporter.") + key,
                    "cannot read " + quoted(*path));
    }
  }
  if (e.client_cert_file.empty() != e.client_key_file.empty()) {
    exporter.fail(exporter.at("client_cert_file"), "exporter.client_cert_file",
                  "client_cert_file and client_key_file go together");
  }
  return config;
}

}  // namespace

ConfigError::ConfigError(std::string file, std::size_t line, std::string key, std::string message)
    : std::runtime_error(file + ":" + (line > 0 ? std::to_string(line) + ":" : std::string()) +
                         " " + (key.empty() ? "" : key + ": ") + message),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

namespace {
bool parse_duration_ms(std::string_view text, double& ms) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || value < 0) return false;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (unit == "us")
    ms = value / 1000;
  else if (unit == "ms")
    ms = value;
  else if (unit == "s")
    ms = value * 1000;
  else if (unit == "m")
    ms = value * 60'000;
  else if (unit == "h")
    ms = value * 3'600'000;
  else
    return false;
  return ms <= 1e12;
}
}  // namespace

bool parse_duration(std::string_view text, std::chrono::milliseconds& out) {
  double ms = 0;
  if (!parse_duration_ms(text, ms)) return false;
  out = std::chrono::milliseconds(static_cast<std::int64_t>(ms + 0.5));
  return true;
}

bool parse_duration(std::string_view text, std::chrono::nanoseconds& out) {
  double ms = 0;
  if (!parse_duration_ms(text, ms)) return false;
  out = std::chrono::nanoseconds(static_cast<std::int64_t>(ms * 1e6 + 0.5));
  return true;
}

bool parse_size(std::string_view text, std::size_t& out) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{}) return false;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1ull << 10;
  else if (unit == "MiB")
    scale = 1ull << 20;
  else if (unit == "GiB")
    scale = 1ull << 30;
  else if (unit == "KB")
    scale = 1000;
  else if (unit == "MB")
    scale = 1000'000;
  else if (unit == "GB")
    scale = 1000'000'000;
  else
    return false;
  if (value > (std::uint64_t{1} << 50) / scale) return false;
  out = static_cast<std::size_t>(value * scale);
  return true;
}

namespace {
// yaml-cpp keeps every pair of a mapping but a lookup finds the first: a second `exporter:`
// section would be ignored without a word. Refuse it, naming both lines.
void refuse_duplicate_keys(const YAML::Node& node, const std::string& path,
                           const std::string& file) {
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      refuse_duplicate_keys(node[i], path + "[" + std::to_string(i) + "]", file);
    }
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int> seen;  // key -> its first line
  for (const auto& pair : node) {
    const auto key = pair.first.IsScalar() ? pair.first.Scalar() : std::string("?");
    const auto full = path.empty() ? key : path + "." + key;
    const int line = pair.first.Mark().line + 1;
    if (const auto [it, fresh] = seen.emplace(key, line); !fresh) {
      throw ConfigError(file, static_cast<std::size_t>(line), full,
                        "duplicate key (first at line " + std::to_string(it->second) +
                            "): the two would not be merged");
    }
    refuse_duplicate_keys(pair.second, full, file);
  }
}
}  // namespace

Config load_config_text(std::string_view text, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    throw ConfigError(name, e.mark.is_null() ? 0 : static_cast<std::size_t>(e.mark.line) + 1, "",
                      "not valid YAML: " + e.msg);
  }
  refuse_duplicate_keys(root, "", name);
  try {
    return parse(root, name);
  } catch (const YAML::Exception& e) {
    throw ConfigError(name, e.mark.is_null() ? 0 : static_cast<std::size_t>(e.mark.line) + 1, "",
                      e.msg);
  }
}

Config load_defaults() {
  return load_config_text("", "built-in defaults");
}

Config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path, 0, "", "cannot open the file");
  std::stringstream text;
  text << in.rdbuf();
  return load_config_text(text.str(), path);
}

}  // namespace tailgate::config
