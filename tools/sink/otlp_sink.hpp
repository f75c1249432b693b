#pragma once
// A real OTLP/gRPC TraceService (gRPC's callback server API) that counts what it receives, can keep
// the spans in memory and write them as JSON lines, can check for required headers, and can be
// told to fail with UNAVAILABLE for a while. Serves tailgate-sink, the demo and the tests.
// Thread-safe: gRPC calls Export on its own threads.

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/message_allocator.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace tailgate::tools {

namespace otlp = opentelemetry::proto;

/// One received span with its resource, as the sink keeps it.
struct ReceivedSpan {
  otlp::trace::v1::Span span;
  otlp::resource::v1::Resource resource;
};

struct SinkStats {
  std::uint64_t requests = 0;            ///< answered OK
  std::uint64_t refused_requests = 0;    ///< answered UNAVAILABLE (failure window)
  std::uint64_t rejected_requests = 0;   ///< missing a required header
  std::uint64_t throttled_requests = 0;  ///< answered RESOURCE_EXHAUSTED with a RetryInfo
  std::uint64_t spans = 0;
  std::map<std::string, std::uint64_t> spans_by_policy;  ///< the sampling.policy attribute
  std::map<std::string, std::uint64_t> spans_by_service;
  std::uint64_t error_spans = 0;
};

/// Each request parsed onto its own protobuf arena: one allocation per block instead of one per
/// field, freed at once. The sink stands in for Jaeger in the end-to-end benchmark, on the same
/// two cores as the agent; parsing with a heap allocation per string made it the bottleneck.
class ArenaMessageAllocator final
    : public grpc::MessageAllocator<otlp::collector::trace::v1::ExportTraceServiceRequest,
                                    otlp::collector::trace::v1::ExportTraceServiceResponse> {
 public:
  grpc::MessageHolder<otlp::collector::trace::v1::ExportTraceServiceRequest,
                      otlp::collector::trace::v1::ExportTraceServiceResponse>*
  AllocateMessages() override;
};

class OtlpSink final : public otlp::collector::trace::v1::TraceService::CallbackService {
 public:
  struct Options {
    std::string jsonl_path;   ///< write every span as one JSON line; empty: don't
    bool keep_spans = false;  ///< keep received spans in memory (tests)
    std::map<std::string, std::string> required_headers;  ///< else PERMISSION_DENIED
    bool accept_gzip = true;         ///< false: gRPC refuses compressed requests (UNIMPLEMENTED)
    std::string tls_cert_file;       ///< PEM server certificate; empty: plaintext
    std::string tls_key_file;        ///< its private key
    std::string tls_client_ca_file;  ///< require client certificates signed by this CA
  };

  explicit OtlpSink(Options options);

  grpc::ServerUnaryReactor* Export(
      grpc::CallbackServerContext* context,
      const otlp::collector::trace::v1::ExportTraceServiceRequest* request,
      otlp::collector::trace::v1::ExportTraceServiceResponse* response) override;

  /// From now on, answer OK with a partial success rejecting `rejected` spans (0: plain OK).
  void reject_spans(std::int64_t rejected, std::string message);
  /// Answer UNAVAILABLE until `until` (steady clock).
  void fail_until(std::chrono::steady_clock::time_point until);
  /// Answer RESOURCE_EXHAUSTED with a RetryInfo asking for `delay` until `until`.
  void throttle_until(std::chrono::steady_clock::time_point until, std::chrono::milliseconds delay);
  [[nodiscard]] SinkStats stats() const;
  [[nodiscard]] std::vector<ReceivedSpan> spans() const;
  [[nodiscard]] bool accepts_gzip() const noexcept { return options_.accept_gzip; }

 private:
  const Options options_;
  ArenaMessageAllocator allocator_;
  mutable std::mutex mutex_;
  std::ofstream jsonl_;
  std::chrono::steady_clock::time_point fail_until_{};
  std::chrono::steady_clock::time_point throttle_until_{};
  std::chrono::milliseconds throttle_delay_{0};
  std::int64_t reject_spans_ = 0;
  std::string reject_message_;
  SinkStats stats_;
  std::vector<ReceivedSpan> spans_;
};

/// A running gRPC server around a sink, bound to `address` (port 0: a free one).
class SinkServer final {
 public:
  SinkServer(const std::string& address, OtlpSink::Options options);
  ~SinkServer();
  SinkServer(const SinkServer&) = delete;
  SinkServer& operator=(const SinkServer&) = delete;

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] OtlpSink& sink() noexcept { return sink_; }
  void shutdown();
  void wait();

 private:
  OtlpSink sink_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

/// Hex of a byte string (trace and span ids), lower case as W3C and Jaeger show them.
std::string to_hex(const std::string& bytes);

}  // namespace tailgate::tools
