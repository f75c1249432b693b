// The exporter section, and the checks on it that need the whole file read first (the
// environment's OpenTelemetry variables apply between the two).
#include <cctype>
#include <map>
#include <string>
#include <utility>

#include "config/otel_environment.hpp"
#include "config/section.hpp"

namespace tailgate::config {

using detail::check_endpoint;
using detail::quoted;

namespace {
// A PEM file of the exporter's TLS: Debian's whole CA bundle is ~200 KiB.
constexpr std::size_t kMaxPemBytes = 16 << 20;
}  // namespace

void parse_exporter(detail::Section& exporter, ExporterConfig& e) {
  exporter.read("endpoint", e.endpoint);
  exporter.read("insecure", e.insecure);
  exporter.read("ca_file", e.ca_file);
  exporter.read("client_cert_file", e.client_cert_file);
  exporter.read("client_key_file", e.client_key_file);
  exporter.read("headers", e.headers);
  // Header names are case-insensitive and gRPC metadata keys must be lower case (as from the
  // environment): `Authorization: ...` in the file is `authorization`.
  std::map<std::string, std::string> lower;
  for (auto& [name, value] : e.headers) {
    std::string key = name;
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lower[key] = std::move(value);
  }
  e.headers = std::move(lower);
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
}

void check_exporter(detail::Section& exporter, ExporterConfig& e) {
  if (e.max_batch_spans > e.queue_spans) {
    exporter.fail(exporter.at("max_batch_spans"), "exporter.max_batch_spans",
                  "must not exceed exporter.queue_spans (" + std::to_string(e.queue_spans) + ")");
  }
  if (e.initial_backoff > e.max_backoff) {
    exporter.fail(exporter.at("initial_backoff"), "exporter.initial_backoff",
                  "must not exceed exporter.max_backoff");
  }

  // The file takes the endpoint forms the environment takes (http:// plaintext, https:// TLS).
  // Empty is left to the start-up checks (config/startup_checks.hpp): `tailgate explain` reads
  // the same file and needs no exporter.
  if (!e.endpoint.empty() && !normalize_endpoint(e.endpoint, e.insecure)) {
    exporter.fail(exporter.at("endpoint"), "exporter.endpoint",
                  "expected [http[s]://]host:port, got " + quoted(e.endpoint));
  }
  apply_otel_environment(e);
  if (!e.endpoint.empty()) {
    check_endpoint(exporter, "endpoint", "exporter.endpoint", e.endpoint,
                   detail::PortZero::Refused);
  }
  for (const auto& [key, path] :
       {std::pair{"ca_file", &e.ca_file}, std::pair{"client_cert_file", &e.client_cert_file},
        std::pair{"client_key_file", &e.client_key_file}}) {
    if (e.insecure || path->empty()) continue;
    std::string pem;
    if (auto problem = detail::read_regular_file(*path, kMaxPemBytes, pem); !problem.empty()) {
      exporter.fail(exporter.at(key), std::string("exporter.") + key,
                    "cannot read " + quoted(*path) + ": " + problem);
    }
  }
  if (e.client_cert_file.empty() != e.client_key_file.empty()) {
    exporter.fail(exporter.at("client_cert_file"), "exporter.client_cert_file",
                  "client_cert_file and client_key_file go together");
  }
}

}  // namespace tailgate::config
