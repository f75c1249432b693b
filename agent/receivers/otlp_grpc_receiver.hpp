#pragma once
// OTLP/gRPC: TraceService/Export on gRPC's callback (asynchronous) server, for OpenTelemetry SDKs
// that export to localhost:4317. Requests are parsed here rather than by gRPC so that a malformed
// one is counted like any other bad input. Answers, as OTLP asks: OK (with a partial success when
// spans were rejected), INVALID_ARGUMENT for a request that does not parse, UNAVAILABLE with a
// RetryInfo while the pipeline's queue is full (the SDK retries; nothing is lost here),
// RESOURCE_EXHAUSTED past max_request_bytes (arrived or once inflated; counted here, gRPC's own
// limit, at twice it, refuses uncounted), UNAVAILABLE with a RetryInfo too while
// max_inflight_requests are being decoded. gzip requests are inflated here, not by gRPC, so that
// the limit holds while inflating. Binding happens in the constructor: a taken port fails
// start-up.

#include <memory>
#include <string>

#include "config/config.hpp"
#include "model/span_queue.hpp"
#include "telemetry/counters.hpp"

namespace grpc {
class Server;
}

namespace tailgate::receivers {

class OtlpGrpcReceiver final {
 public:
  /// Starts serving at once. Throws std::runtime_error naming the endpoint when it cannot bind.
  OtlpGrpcReceiver(const config::OtlpReceiverConfig& config, model::SpanQueue& out,
                   telemetry::Counters& counters);
  ~OtlpGrpcReceiver();
  OtlpGrpcReceiver(const OtlpGrpcReceiver&) = delete;
  OtlpGrpcReceiver& operator=(const OtlpGrpcReceiver&) = delete;

  /// Refuses new calls and waits (briefly) for those in progress.
  void stop();
  [[nodiscard]] const std::string& local_endpoint() const noexcept { return local_endpoint_; }

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string local_endpoint_;
};

}  // namespace tailgate::receivers
