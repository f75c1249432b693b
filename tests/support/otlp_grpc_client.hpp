#pragma once
// A real OTLP/gRPC client for integration tests: the generated TraceService stub on its own
// connection (as a separate SDK process would have), and requests of made-up spans.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace tailgate::testing {

namespace otlp_pb = opentelemetry::proto;
using OtlpRequest = otlp_pb::collector::trace::v1::ExportTraceServiceRequest;
using OtlpResponse = otlp_pb::collector::trace::v1::ExportTraceServiceResponse;

/// A stub on a connection of its own: gRPC shares connections between channels with equal
/// arguments, and one connection would serialise what separate SDKs send at once.
inline std::unique_ptr<otlp_pb::collector::trace::v1::TraceService::Stub> otlp_stub(int port) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  return otlp_pb::collector::trace::v1::TraceService::NewStub(grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
}

inline std::string id_bytes(std::uint64_t high, std::uint64_t low, std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    const auto v = (size == 16 && i < 8) ? high : low;
    out[i] = static_cast<char>((v >> (8 * (7 - i % 8))) & 0xFF);
  }
  return out;
}

/// `traces` traces of `spans` spans, each span with `attributes` string attributes of about 60
/// bytes. With `roots`, each trace's first span is its root; without, every span has a parent
/// that never arrives (the trace stays buffered until max_trace_age or memory decides it).
inline OtlpRequest otlp_spans(std::uint64_t first_trace, int traces, int spans, int attributes,
                              bool roots) {
  OtlpRequest request;
  auto* rs = request.add_resource_spans();
  auto* service = rs->mutable_resource()->add_attributes();
  service->set_key("service.name");
  service->mutable_value()->set_string_value("otlp-grpc-test");
  auto* ss = rs->add_scope_spans();
  const auto now =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  for (int t = 0; t < traces; ++t) {
    const auto trace = first_trace + static_cast<std::uint64_t>(t);
    for (int s = 0; s < spans; ++s) {
      auto* span = ss->add_spans();
      span->set_trace_id(id_bytes(trace, trace, 16));
      span->set_span_id(id_bytes(0, static_cast<std::uint64_t>(s) + 2, 8));
      if (!roots || s > 0) span->set_parent_span_id(id_bytes(0, 1, 8));
      span->set_name("order.step." + std::to_string(s % 8));
      span->set_start_time_unix_nano(now);
      span->set_end_time_unix_nano(now + 1000);
      for (int a = 0; a < attributes; ++a) {
        auto* kv = span->add_attributes();
        kv->set_key("order.attribute." + std::to_string(a));
        kv->mutable_value()->set_string_value("value-" + std::to_string(trace) + "-" +
                                              std::to_string(a) + std::string(36, 'v'));
      }
    }
  }
  return request;
}

/// One Export call with a deadline; gzip when asked (as OTEL_EXPORTER_OTLP_COMPRESSION=gzip).
inline grpc::Status otlp_export(otlp_pb::collector::trace::v1::TraceService::Stub& stub,
                                const OtlpRequest& request, bool gzip,
                                std::chrono::seconds deadline = std::chrono::seconds(30)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  if (gzip) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  OtlpResponse response;
  return stub.Export(&context, request, &response);
}

}  // namespace tailgate::testing
