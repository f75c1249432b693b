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
  parse_receivers(receivers, config.receivers);

  auto pipeline = top.child("pipeline");
  pipeline.read_count("queue_spans", config.pipeline.queue_spans);
  pipeline.read_size("queue_bytes", config.pipeline.queue_bytes);
  pipeline.finish();

  auto sampling = top.child("sampling");
  parse_sampling(sampling, config.sampling);

  auto exporter = top.child("exporter");
  parse_exporter(exporter, config.exporter);

  auto span_metrics = top.child("span_metrics");
  parse_span_metrics(span_metrics, config.span_metrics);

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

  check_exporter(exporter, config.exporter);
  return config;
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
  detail::refuse_duplicate_keys(root, "", name);
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
