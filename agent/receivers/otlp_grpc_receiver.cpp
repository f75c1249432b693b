#include "receivers/otlp_grpc_receiver.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <stdexcept>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "receivers/log_limiter.hpp"
#include "receivers/otlp_decode.hpp"

namespace tailgate::receivers {
namespace {

using opentelemetry::proto::collector::trace::v1::TraceService;
using Base = TraceService::WithRawCallbackMethod_Export<TraceService::Service>;

// How long an SDK should wait before retrying while the pipeline's queue is full.
constexpr auto kRetryAfter = std::chrono::seconds(1);

}  // namespace

class OtlpGrpcReceiver::Service final : public Base {
 public:
  Service(model::SpanQueue& out, telemetry::Counters& counters, std::size_t max_bytes)
      : out_(out), counters_(counters), max_bytes_(max_bytes) {}

  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(handle(*request, *response));
    return reactor;
  }

 private:
  grpc::Status handle(const grpc::ByteBuffer& request, grpc::ByteBuffer& response) {
    // Our own limit, below gRPC's: gRPC refuses larger messages before any handler runs, where
    // nothing of ours can count them.
    if (request.Length() > max_bytes_) {
      counters_.add_rejected_requests(telemetry::Receiver::OtlpGrpc,
                                      telemetry::RejectReason::TooLarge);
      return {grpc::StatusCode::RESOURCE_EXHAUSTED,
              "request larger than " + std::to_string(max_bytes_) + " bytes"};
    }
    otlp::pb::ExportTraceServiceRequest parsed;
    grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&request));
    if (!parsed.ParseFromZeroCopyStream(&reader)) {
      counters_.add_rejected_requests(telemetry::Receiver::OtlpGrpc,
                                      telemetry::RejectReason::Malformed);
      if (const auto n = malformed_log_.note()) {
        spdlog::warn("event=otlp_malformed receiver=otlp_grpc requests={} bytes={}", n,
                     request.Length());
      }
      return {grpc::StatusCode::INVALID_ARGUMENT, "not an OTLP ExportTraceServiceRequest"};
    }
    const auto answer = otlp::accept(parsed, out_, counters_, telemetry::Receiver::OtlpGrpc);
    if (!answer) {
      google::rpc::RetryInfo info;
      info.mutable_retry_delay()->set_seconds(kRetryAfter.count());
      google::rpc::Status details;
      details.set_code(static_cast<int>(grpc::StatusCode::UNAVAILABLE));
      details.set_message("tailgate: pipeline queue full, retry later");
      details.add_details()->PackFrom(info);
      return {grpc::StatusCode::UNAVAILABLE, details.message(), details.SerializeAsString()};
    }
    bool own = false;
    return grpc::SerializationTraits<otlp::pb::ExportTraceServiceResponse>::Serialize(
        *answer, &response, &own);
  }

  model::SpanQueue& out_;
  telemetry::Counters& counters_;
  std::size_t max_bytes_;
  LogLimiter malformed_log_;
};

OtlpGrpcReceiver::OtlpGrpcReceiver(const config::OtlpReceiverConfig& config, model::SpanQueue& out,
                                   telemetry::Counters& counters)
    : service_(std::make_unique<Service>(out, counters, config.max_request_bytes)) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.endpoint, grpc::InsecureServerCredentials(), &port);
  // gRPC sets SO_REUSEPORT by default: a second process could then share the port silently
  // instead of failing start-up.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Twice ours, so that Service::handle sees, refuses and counts requests past
  // max_request_bytes; only those past twice it are refused by gRPC, uncounted.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<std::size_t>(config.max_request_bytes, INT_MAX / 2) * 2));
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    throw std::runtime_error("receivers.otlp_grpc.endpoint " + config.endpoint +
                             ": cannot listen (address in use, or not an address of this host)");
  }
  local_endpoint_ =
      config.endpoint.substr(0, config.endpoint.rfind(':') + 1) + std::to_string(port);
}

OtlpGrpcReceiver::~OtlpGrpcReceiver() {
  stop();
}

void OtlpGrpcReceiver::stop() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
}

}  // namespace tailgate::receivers
