#pragma once
// OTLP/HTTP: POST /v1/traces with an ExportTraceServiceRequest in protobuf
// (application/x-protobuf) or OTLP/JSON (application/json), optionally gzip-compressed, on the
// agent's HTTP server (http/http_server.hpp: its own thread, bounded requests). Answers as
// OTLP/HTTP asks, in the request's encoding: 200 with an ExportTraceServiceResponse (a partial
// success when spans were rejected); 400 with a google.rpc.Status for a body that does not parse;
// 413 past max_request_bytes (before or after decompression); 415 for another content type or
// encoding; 503 with Retry-After while the pipeline's queue is full (the SDK retries); 404/405
// elsewhere. Binding happens in the constructor: a taken port fails start-up.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "model/span_queue.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::http {
class Server;
}

namespace tailgate::receivers {

/// One request's answer, without the HTTP plumbing (tests and the fuzz target call it directly).
struct OtlpHttpAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
  int retry_after_seconds = 0;  ///< set with 503
};

/// Handles one request whose body has been read (at most `max_bytes` of it); `body` is nullopt
/// when it was larger and left unread.
OtlpHttpAnswer handle_otlp_http(std::string_view method, std::string_view target,
                                std::string_view content_type, std::string_view content_encoding,
                                std::optional<std::string_view> body, std::size_t max_bytes,
                                model::SpanQueue& out, telemetry::Counters& counters);

class OtlpHttpReceiver final {
 public:
  /// Binds. Throws std::runtime_error naming the endpoint when it cannot.
  OtlpHttpReceiver(const config::OtlpReceiverConfig& config, model::SpanQueue& out,
                   telemetry::Counters& counters);
  ~OtlpHttpReceiver();
  OtlpHttpReceiver(const OtlpHttpReceiver&) = delete;
  OtlpHttpReceiver& operator=(const OtlpHttpReceiver&) = delete;

  void start();
  void stop();
  [[nodiscard]] const std::string& local_endpoint() const noexcept;

 private:
  std::unique_ptr<http::Server> server_;
};

}  // namespace tailgate::receivers
