#include "config/startup_checks.hpp"

#include <algorithm>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/load_config.hpp"
#include "config/section.hpp"

namespace tailgate::config {
namespace {

std::vector<boost::asio::ip::tcp::endpoint> resolve(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return {};
  auto host = endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  std::vector<boost::asio::ip::tcp::endpoint> out;
  for (const auto& e : resolver.resolve(host, endpoint.substr(colon + 1),
                                        boost::asio::ip::tcp::resolver::numeric_service, ec)) {
    out.push_back(e.endpoint());
  }
  return out;
}

// ::ffff:127.0.0.1 is 127.0.0.1: compared as IPv4.
boost::asio::ip::address local_form(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

// gRPC aborts the process on metadata it finds illegal (at the first export, after --validate
// said the file was valid): keys of [0-9a-z-_.] not reserved to gRPC, values of printable ASCII.
void check_headers(const ExporterConfig& exporter, const std::string& source) {
  for (const auto& [key, value] : exporter.headers) {
    const bool key_ok = !key.empty() && key.rfind("grpc-", 0) != 0 &&
                        std::all_of(key.begin(), key.end(), [](char c) {
                          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' ||
                                 c == '_' || c == '.';
                        });
    if (!key_ok) {
      throw ConfigError(source, 0, "exporter.headers",
                        "header name " + detail::quoted(key) +
                            " is not allowed: lower-case letters, digits, '-', '_' and '.' only, "
                            "not starting with grpc-");
    }
    if (!std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7e; })) {
      throw ConfigError(source, 0, "exporter.headers",
                        "the value of header " + detail::quoted(key) +
                            " holds a control or non-ASCII character (a percent-decoded %0A?): "
                            "printable ASCII only");
    }
  }
}

// Whether exporting to `exporter` would reach our own OTLP receiver at `receiver`: the same port
// on the same address, a wildcard, or loopback on both sides. A name that does not resolve here
// (the collector's, seen from a build machine) is not us.
bool reaches(const std::string& exporter, const std::string& receiver) {
  for (const auto& to : resolve(exporter)) {
    for (const auto& own : resolve(receiver)) {
      if (to.port() != own.port() || own.port() == 0) continue;
      const auto a = local_form(to.address()), b = local_form(own.address());
      // 0.0.0.0 or :: as a destination is this host (Linux connects it to loopback).
      const bool a_here = a.is_loopback() || a.is_unspecified();
      if (a == b || b.is_unspecified() || (a_here && b.is_loopback())) return true;
    }
  }
  return false;
}

}  // namespace

void check_startup(const Config& config, const std::string& source) {
  const auto& endpoint = config.exporter.endpoint;
  if (endpoint.empty()) {
    throw ConfigError(source, 0, "exporter.endpoint",
                      "not set: name where kept traces go, the OTLP/gRPC port of Jaeger's "
                      "collector (e.g. jaeger-collector:4317), in the file or in "
                      "OTEL_EXPORTER_OTLP_ENDPOINT. There is no default: localhost:4317 is this "
                      "agent's own OTLP receiver");
  }
  check_headers(config.exporter, source);
  const auto& grpc = config.receivers.otlp_grpc;
  if (grpc.enabled && reaches(endpoint, grpc.endpoint)) {
    throw ConfigError(source, 0, "exporter.endpoint",
                      endpoint + " is this agent's own receivers.otlp_grpc.endpoint " +
                          grpc.endpoint +
                          ": kept spans would be received again without end; point the exporter "
                          "at Jaeger's collector or move the receiver");
  }
}

Config load_for_start(const std::string& path) {
  auto config = path.empty() ? load_defaults() : load_config(path);
  check_startup(config, path.empty() ? "built-in defaults" : path);
  return config;
}

}  // namespace tailgate::config
