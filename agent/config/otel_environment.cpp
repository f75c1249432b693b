#include "config/otel_environment.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include "config/load_config.hpp"

namespace tailgate::config {
namespace {

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

/// The value of the _TRACES_ variable, else of the general one; null when neither is set.
const char* otlp_env(const char* suffix, std::string& name) {
  for (const char* prefix : {"OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_"}) {
    name = std::string(prefix) + suffix;
    if (const char* v = std::getenv(name.c_str()); v != nullptr && *v != '\0') return v;
  }
  return nullptr;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

void apply_headers(const std::string& var, const char* value, ExporterConfig& exporter) {
  std::stringstream list(value);
  std::string pair;
  while (std::getline(list, pair, ',')) {
    if (trim(pair).empty()) continue;
    const auto eq = pair.find('=');
    std::string name;
    std::string decoded;
    if (eq == std::string::npos || trim(std::string_view(pair).substr(0, eq)).empty() ||
        !percent_decode(trim(std::string_view(pair).substr(0, eq)), name) ||
        !percent_decode(trim(std::string_view(pair).substr(eq + 1)), decoded)) {
      throw ConfigError(
          "environment", 0, var,
          "expected key=value[,key=value] (values percent-encoded), got an entry " + quoted(pair));
    }
    // Header names are case-insensitive and gRPC metadata keys must be lower case.
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    exporter.headers[name] = decoded;
  }
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    unsigned byte = 0;
    if (i + 2 >= in.size()) return false;
    const auto* begin = in.data() + i + 1;
    if (std::from_chars(begin, begin + 2, byte, 16).ptr != begin + 2) return false;
    out += static_cast<char>(byte);
    i += 2;
  }
  return true;
}

bool normalize_endpoint(std::string& endpoint, bool& insecure) {
  if (endpoint.starts_with("http://")) {
    insecure = true;
    endpoint.erase(0, 7);
  } else if (endpoint.starts_with("https://")) {
    insecure = false;
    endpoint.erase(0, 8);
  }
  if (const auto slash = endpoint.find('/'); slash != std::string::npos) endpoint.resize(slash);
  const auto colon = endpoint.rfind(':');
  return colon != std::string::npos && colon != 0 && colon + 1 < endpoint.size();
}

void apply_otel_environment(ExporterConfig& exporter) {
  std::string var;
  if (const char* v = otlp_env("ENDPOINT", var)) {
    std::string endpoint = v;
    if (!normalize_endpoint(endpoint, exporter.insecure)) {
      throw ConfigError("environment", 0, var, "expected [http[s]://]host:port, got " + quoted(v));
    }
    exporter.endpoint = endpoint;
  }
  // The specification's INSECURE applies to an endpoint without a scheme; a scheme said it already.
  if (const char* v = otlp_env("INSECURE", var)) {
    std::string value = v;
    for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (value != "true" && value != "false") {
      throw ConfigError("environment", 0, var, "expected true or false, got " + quoted(v));
    }
    std::string endpoint_var;
    const char* endpoint = otlp_env("ENDPOINT", endpoint_var);
    if (endpoint == nullptr || std::string_view(endpoint).find("://") == std::string_view::npos) {
      exporter.insecure = value == "true";
    }
  }
  if (const char* v = otlp_env("HEADERS", var)) apply_headers(var, v, exporter);
  // Set for the SDKs on the same host, it may say http/protobuf: the agent speaks gRPC only, and
  // an HTTP port given to a gRPC client fails at run time, so it is refused here.
  if (const char* v = otlp_env("PROTOCOL", var); v != nullptr && std::string_view(v) != "grpc") {
    throw ConfigError("environment", 0, var,
                      "the agent exports OTLP over gRPC only: expected grpc, got " + quoted(v));
  }
  if (const char* v = otlp_env("COMPRESSION", var)) {
    const std::string_view c = v;
    if (c == "gzip")
      exporter.compression = Compression::Gzip;
    else if (c == "none")
      exporter.compression = Compression::None;
    else
      throw ConfigError("environment", 0, var, "expected gzip or none, got " + quoted(c));
  }
  if (const char* v = otlp_env("TIMEOUT", var)) {  // milliseconds, as the specification says
    const std::string_view text = v;
    std::uint64_t ms = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc{} || end != text.data() + text.size() || ms == 0 || ms > 3'600'000) {
      throw ConfigError("environment", 0, var,
                        "expected milliseconds from 1 to 3600000, got " + quoted(text));
    }
    exporter.timeout = std::chrono::milliseconds(ms);
  }
  for (const auto& [suffix, path] : {std::pair{"CERTIFICATE", &exporter.ca_file},
                                     std::pair{"CLIENT_CERTIFICATE", &exporter.client_cert_file},
                                     std::pair{"CLIENT_KEY", &exporter.client_key_file}}) {
    if (const char* v = otlp_env(suffix, var)) *path = v;
  }
}

}  // namespace tailgate::config
