#pragma once
// The YAML reading helpers that load_config.cpp and the section parsers beside it share: one
// mapping read key by key (unknown keys are errors), ${ENV} substitution, endpoint checks. Used
// only inside config/; the one place besides load_config.cpp that includes yaml-cpp.

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/load_config.hpp"

namespace tailgate::config::detail {

inline std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

inline std::string format_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// Expands ${VAR} and ${VAR:-default} in one scalar. An unset variable without a default is an
// error: silently exporting to "" is worse than refusing to start.
inline std::string expand_env(const std::string& value, const std::string& file, std::size_t line,
                              const std::string& key) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto open = value.find("${", pos);
    if (open == std::string::npos) break;
    const auto close = value.find('}', open);
    if (close == std::string::npos) {
      throw ConfigError(file, line, key, "unterminated ${ in " + quoted(value));
    }
    out.append(value, pos, open - pos);
    std::string name = value.substr(open + 2, close - open - 2);
    std::optional<std::string> fallback;
    if (const auto dash = name.find(":-"); dash != std::string::npos) {
      fallback = name.substr(dash + 2);
      name.resize(dash);
    }
    if (const char* env = std::getenv(name.c_str()); env != nullptr && *env != '\0') {
      out += env;
    } else if (fallback) {
      out += *fallback;
    } else {
      throw ConfigError(file, line, key, "environment variable " + name + " is not set");
    }
    pos = close + 1;
  }
  out.append(value, pos);
  return out;
}

// One YAML mapping, read key by key. Every read marks its key as known; finish() then turns any
// key nobody read into an error, so a typo never silently falls back to a default.
class Section {
 public:
  Section(YAML::Node node, std::string path, const std::string& file)
      : node_(std::move(node)), path_(std::move(path)), file_(file) {
    if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
      fail(node_, path_.empty() ? "(top level)" : path_, "expected a mapping of keys");
    }
  }

  Section child(std::string_view key) { return Section(lookup(key), key_path(key), file_); }

  void read(std::string_view key, bool& out) {
    with_scalar(key, [&](const std::string& v, const YAML::Node& n) {
      if (v == "true")
        out = true;
      else if (v == "false")
        out = false;
      else
        fail(n, key_path(key), "expected true or false, got " + quoted(v));
    });
  }
  void read(std::string_view key, std::string& out) {
    with_scalar(key, [&](const std::string& v, const YAML::Node&) { out = v; });
  }
  void read_count(std::string_view key, std::size_t& out) {
    with_scalar(key, [&](const std::string& v, const YAML::Node& n) {
      std::size_t parsed = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
      if (ec != std::errc{} || end != v.data() + v.size() || parsed == 0) {
        fail(n, key_path(key), "expected a whole number above 0, got " + quoted(v));
      }
      out = parsed;
    });
  }
  void read_size(std::string_view key, std::size_t& out) {
    with_scalar(key, [&](const std::string& v, const YAML::Node& n) {
      if (!parse_size(v, out) || out == 0) {
        fail(n, key_path(key), "expected a size above 0 such as 64KiB or 8MiB, got " + quoted(v));
      }
    });
  }
  void read(std::string_view key, std::chrono::milliseconds& out) {
    with_scalar(key, [&](const std::string& v, const YAML::Node& n) {
      if (!parse_duration(v, out) || out.count() <= 0) {
        fail(n, key_path(key),
             "expected a duration above 0 such as 250ms, 5s or 1m, got " + quoted(v));
      }
    });
  }
  template <typename Enum>
  void read_enum(std::string_view key, Enum& out,
                 std::initializer_list<std::pair<const char*, Enum>> choices) {
    with_scalar(key, [&](const std::string& v, const YAML::Node& n) {
      std::string allowed;
      for (const auto& [name, value] : choices) {
        if (v == name) {
          out = value;
          return;
        }
        allowed += (allowed.empty() ? "" : ", ") + std::string(name);
      }
      fail(n, key_path(key), "expected one of " + allowed + ", got " + quoted(v));
    });
  }
  /// A number in [min, max].
  void read_number(std::string_view key, double& out, double min, double max) {
    with_scalar(key, [&](const std::string& v, const YAML::Node& n) {
      double parsed = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
      if (ec != std::errc{} || end != v.data() + v.size() || parsed < min || parsed > max) {
        fail(n, key_path(key),
             "must be a number in [" + format_number(min) + ", " + format_number(max) + "], got " +
                 quoted(v));
      }
      out = parsed;
    });
  }
  void read(std::string_view key, std::vector<std::string>& out) {
    const auto node = lookup(key);
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsSequence()) fail(node, key_path(key), "expected a list");
    out.clear();
    for (std::size_t i = 0; i < node.size(); ++i) {
      const auto item = node[i];
      const auto path = key_path(key) + "[" + std::to_string(i) + "]";
      if (!item.IsScalar()) fail(item, path, "expected a single value");
      out.push_back(expand_env(item.Scalar(), file_, line_of(item), path));
    }
  }
  /// A list of mappings: one Section per element, named key[i].
  std::vector<Section> sections(std::string_view key) {
    const auto node = lookup(key);
    std::vector<Section> out;
    if (!node.IsDefined() || node.IsNull()) return out;
    if (!node.IsSequence()) fail(node, key_path(key), "expected a list");
    for (std::size_t i = 0; i < node.size(); ++i) {
      out.emplace_back(node[i], key_path(key) + "[" + std::to_string(i) + "]", file_);
      if (!node[i].IsMap())
        fail(node[i], key_path(key) + "[" + std::to_string(i) + "]", "expected a mapping of keys");
    }
    return out;
  }
  [[nodiscard]] bool has(std::string_view key) {
    const auto node = lookup(key);
    return node.IsDefined() && !node.IsNull();
  }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const YAML::Node& node() const noexcept { return node_; }

  void read(std::string_view key, std::map<std::string, std::string>& out) {
    const auto node = lookup(key);
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) fail(node, key_path(key), "expected a mapping of names to values");
    out.clear();
    for (const auto& kv : node) {
      const auto name = kv.first.Scalar();
      if (!kv.second.IsScalar()) fail(kv.second, key_path(key) + "." + name, "expected a string");
      out[name] =
          expand_env(kv.second.Scalar(), file_, line_of(kv.second), key_path(key) + "." + name);
    }
  }

  /// The node under `key` (undefined when absent), for checks that span several keys.
  YAML::Node at(std::string_view key) { return lookup(key); }

  /// Fails on any key that no read asked for.
  void finish() const {
    if (!node_.IsDefined() || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      const auto name = kv.first.Scalar();
      if (!known_.contains(name)) {
        std::string allowed;
        for (const auto& k : known_) allowed += (allowed.empty() ? "" : ", ") + k;
        fail(kv.first, key_path(name), "unknown key (known here: " + allowed + ")");
      }
    }
  }

  [[noreturn]] void fail(const YAML::Node& at, const std::string& key,
                         const std::string& message) const {
    throw ConfigError(file_, line_of(at), key, message);
  }

 private:
  static std::size_t line_of(const YAML::Node& n) {
    return n.Mark().is_null() ? 0 : static_cast<std::size_t>(n.Mark().line) + 1;
  }
  std::string key_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  YAML::Node lookup(std::string_view key) {
    known_.insert(std::string(key));
    if (!node_.IsDefined() || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    for (const auto& kv : node_) {
      if (kv.first.Scalar() == key) return kv.second;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }
  template <typename Fn>
  void with_scalar(std::string_view key, Fn&& fn) {
    const auto node = lookup(key);
    if (!node.IsDefined() || node.IsNull()) return;  // absent: keep the default
    if (!node.IsScalar()) fail(node, key_path(key), "expected a single value");
    fn(expand_env(node.Scalar(), file_, line_of(node), key_path(key)), node);
  }

  YAML::Node node_;
  std::string path_;
  const std::string& file_;
  std::set<std::string> known_;
};

/// Port 0 binds any free port: fine for a listener, never an address to send to.
enum class PortZero : bool { Refused, Allowed };

inline void check_endpoint(Section& s, std::string_view name, const std::string& key,
                           const std::string& value, PortZero zero = PortZero::Allowed) {
  const auto colon = value.rfind(':');
  unsigned port = 0;
  const char* begin = colon == std::string::npos ? nullptr : value.data() + colon + 1;
  const char* end = value.data() + value.size();
  const unsigned lowest = zero == PortZero::Allowed ? 0 : 1;
  // from_chars reports a number too large for `port` as out of range with `port` unchanged (0).
  const auto parsed =
      begin == nullptr ? std::from_chars_result{} : std::from_chars(begin, end, port);
  if (colon == std::string::npos || colon == 0 || begin == end || parsed.ec != std::errc{} ||
      parsed.ptr != end || port < lowest || port > 65535) {
    s.fail(s.at(name), key,
           "expected host:port with a port from " + std::to_string(lowest) + " to 65535, got " +
               quoted(value));
  }
}

/// Reads the regular file at `path` (no FIFO, device or directory) of at most `max_bytes` into
/// `text`; returns why it cannot, or empty (config/load_config.cpp).
std::string read_regular_file(const std::string& path, std::size_t max_bytes, std::string& text);

/// Throws ConfigError naming both lines of a key given twice in one mapping
/// (config/duplicate_keys.cpp).
void refuse_duplicate_keys(const YAML::Node& node, const std::string& path,
                           const std::string& file);

}  // namespace tailgate::config::detail

namespace tailgate::config {
/// The peers section (config/load_peers.cpp): reads it into `out` and finishes it.
void parse_peers(detail::Section& peers, PeersConfig& out);
/// The other sections, each in its own config/load_<section>.cpp: read into `out`, finished.
void parse_receivers(detail::Section& receivers, ReceiversConfig& out);
void parse_sampling(detail::Section& sampling, SamplingConfig& out);
void parse_span_metrics(detail::Section& span_metrics, SpanMetricsConfig& out);
void parse_exporter(detail::Section& exporter, ExporterConfig& out);
/// The exporter's checks that come once the whole file is read: cross-key bounds, the
/// OpenTelemetry environment applied (config/otel_environment.hpp), the endpoint and TLS files.
void check_exporter(detail::Section& exporter, ExporterConfig& e);
}  // namespace tailgate::config
