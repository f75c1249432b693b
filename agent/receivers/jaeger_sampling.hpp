#pragma once
// The Jaeger remote sampling endpoint that the retired Jaeger agent served (HTTP, port 5778):
// GET /sampling?service=NAME (and the older GET /?service=NAME) answers every service with a
// probabilistic strategy of 1.0. Jaeger clients left at their default sampler ("remote") poll it
// and, without an answer, fall back to sampling ~0.1% at the head: the tail sampler would then
// see almost nothing. With 1.0 they send every span and the agent decides.
// Counted: tailgate_jaeger_sampling_requests_total (answered) and ..._refused_total.

#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::http {
class Server;
}

namespace tailgate::receivers {

struct SamplingAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
};

/// One request's answer, without the HTTP plumbing; counts it.
SamplingAnswer handle_jaeger_sampling(std::string_view method, std::string_view target,
                                      telemetry::Counters& counters);

class JaegerSamplingServer final {
 public:
  /// Binds. Throws std::runtime_error naming receivers.jaeger_sampling.endpoint when it cannot.
  JaegerSamplingServer(const config::JaegerSamplingConfig& config, telemetry::Counters& counters);
  ~JaegerSamplingServer();
  JaegerSamplingServer(const JaegerSamplingServer&) = delete;
  JaegerSamplingServer& operator=(const JaegerSamplingServer&) = delete;

  void start();
  void stop();
  [[nodiscard]] const std::string& local_endpoint() const noexcept;

 private:
  std::unique_ptr<http::Server> server_;
};

}  // namespace tailgate::receivers
