#include "config/load_config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>

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

namespace detail {

std::string read_regular_file(const std::string& path, std::size_t max_bytes, std::string& text) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for ever.
  struct Descriptor {
    int fd;
    ~Descriptor() {
      if (fd >= 0) ::close(fd);
    }
  } const file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  const int fd = file.fd;
  if (fd < 0) return std::string("cannot open it: ") + std::strerror(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::string("cannot stat it: ") + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) {
    return "not a regular file (a directory, FIFO, socket or device): refused";
  }
  const auto too_large = [max_bytes] {
    return "larger than " + std::to_string(max_bytes) + " bytes: refused";
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return too_large();
  // Read to one byte past the bound whatever fstat said: a file may grow meanwhile, and files
  // under /proc say size 0.
  text.assign(max_bytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const auto n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("cannot read it: ") + std::strerror(errno);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_bytes) return too_large();
  text.resize(got);
  return {};
}

}  // namespace detail

Config load_config(const std::string& path) {
  std::string text;
  if (auto problem = detail::read_regular_file(path, kMaxConfigBytes, text); !problem.empty()) {
    throw ConfigError(path, 0, "", "the config file: " + problem);
  }
  return load_config_text(text, path);
}

}  // namespace tailgate::config
