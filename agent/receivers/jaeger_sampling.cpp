#include "receivers/jaeger_sampling.hpp"

#include <chrono>

#include "http/http_server.hpp"

namespace tailgate::receivers {
namespace {

// The shape Jaeger clients parse (jaeger-idl's SamplingStrategyResponse as JSON; the Go, Java,
// Node, Python and Ruby clients compare strategyType with the string "PROBABILISTIC").
constexpr std::string_view kSendEverything =
    R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1.0}})";

/// Whether the query names a service (Jaeger's agent answers 400 without one, and so do we).
bool has_service(std::string_view query) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    if (pair.starts_with("service=") && pair.size() > 8) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

}  // namespace

SamplingAnswer handle_jaeger_sampling(std::string_view method, std::string_view target,
                                      telemetry::Counters& counters) {
  const auto q = target.find('?');
  const auto path = target.substr(0, q);
  const auto query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  SamplingAnswer a{.status = 200, .content_type = "text/plain", .body = {}};
  if (path != "/sampling" && path != "/") {
    a.status = 404;
    a.body = "not found: the sampling strategy is at /sampling?service=NAME\n";
  } else if (method != "GET" && method != "HEAD") {  // HEAD: GET without the body (RFC 9110)
    a.status = 405;
    a.body = "GET only\n";
  } else if (!has_service(query)) {
    a.status = 400;
    a.body = "'service' parameter must be provided\n";
  }
  if (a.status != 200) {
    counters.jaeger_sampling_refused.fetch_add(1, std::memory_order_relaxed);
    return a;
  }
  counters.jaeger_sampling_served.fetch_add(1, std::memory_order_relaxed);
  a.content_type = "application/json";
  a.body = kSendEverything;
  return a;
}

JaegerSamplingServer::JaegerSamplingServer(const config::JaegerSamplingConfig& config,
                                           telemetry::Counters& counters)
    : server_(std::make_unique<http::Server>(
          http::ServerOptions{.endpoint = config.endpoint,
                              .config_key = "receivers.jaeger_sampling.endpoint",
                              .on_refused =
                                  [&counters](int) {
                                    counters.jaeger_sampling_refused.fetch_add(
                                        1, std::memory_order_relaxed);
                                  }},
          [&counters](const http::Request& r) {
            auto a = handle_jaeger_sampling(r.method, r.target, counters);
            return http::Response{.status = a.status,
                                  .content_type = std::move(a.content_type),
                                  .body = std::move(a.body),
                                  .allow = a.status == 405 ? "GET, HEAD" : ""};
          })) {}

JaegerSamplingServer::~JaegerSamplingServer() = default;

void JaegerSamplingServer::start() {
  server_->start();
}

void JaegerSamplingServer::stop() {
  server_->stop();
}

const std::string& JaegerSamplingServer::local_endpoint() const noexcept {
  return server_->local_endpoint();
}

}  // namespace tailgate::receivers
