#include "config/startup_checks.hpp"

#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/load_config.hpp"

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

// Whether exporting to `exporter` would reach our own OTLP receiver at `receiver`: the same port
// on the same address, a wildcard, or loopback on both sides. A name that does not resolve here
// (the collector's, seen from a build machine) is not us.
bool reaches(const std::string& exporter, const std::string& receiver) {
  for (const auto& to : resolve(exporter)) {
    for (const auto& own : resolve(receiver)) {
      if (to.port() != own.port() || own.port() == 0) continue;
      const auto a = to.address(), b = own.address();
      if (a == b || b.is_unspecified() || (a.is_loopback() && b.is_loopback())) return true;
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
