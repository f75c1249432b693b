#include "receivers/otlp_http_receiver.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "google/rpc/status.pb.h"
#include "http/http_server.hpp"
#include "receivers/decode_budget.hpp"
#include "receivers/gunzip.hpp"
#include "receivers/log_limiter.hpp"
#include "receivers/otlp_packed.hpp"
#include "telemetry/log_escape.hpp"

namespace tailgate::receivers {
namespace {

constexpr int kRetryAfterSeconds = 1;
constexpr std::string_view kProtobuf = "application/x-protobuf";
constexpr std::string_view kJson = "application/json";

LogLimiter malformed_log;  // shared by every request: one line a second in all

std::string_view media_type(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') content_type.remove_suffix(1);
  return content_type;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

OtlpHttpAnswer status_answer(int http_status, bool json, int code, const std::string& message) {
  google::rpc::Status status;
  status.set_code(code);
  status.set_message(message);
  OtlpHttpAnswer a;
  a.status = http_status;
  a.content_type = json ? std::string(kJson) : std::string(kProtobuf);
  if (json) {
    (void)google::protobuf::util::MessageToJsonString(status, &a.body);
  } else {
    a.body = status.SerializeAsString();
  }
  return a;
}

OtlpHttpAnswer malformed(bool json, const std::string& why, std::size_t bytes,
                         telemetry::Counters& counters) {
  counters.add_rejected_requests(telemetry::Receiver::OtlpHttp, telemetry::RejectReason::Malformed);
  if (const auto n = malformed_log.note()) {
    spdlog::warn("event=otlp_malformed receiver=otlp_http requests={} bytes={} error={}", n, bytes,
                 telemetry::quoted(why));
  }
  return status_answer(400, json, 3 /* INVALID_ARGUMENT */, why);
}

}  // namespace

OtlpHttpAnswer handle_otlp_http(std::string_view method, std::string_view target,
                                std::string_view content_type, std::string_view content_encoding,
                                std::optional<std::string_view> read_body, std::size_t max_bytes,
                                model::SpanQueue& out, telemetry::Counters& counters) {
  const auto refuse = [&counters](telemetry::RejectReason why) {
    counters.add_rejected_requests(telemetry::Receiver::OtlpHttp, why);
  };
  const auto path = target.substr(0, target.find('?'));
  if (path != "/v1/traces") {
    refuse(telemetry::RejectReason::Unsupported);
    return {.status = 404, .content_type = "text/plain; charset=utf-8", .body = "not found\n"};
  }
  if (method != "POST") {
    refuse(telemetry::RejectReason::Unsupported);
    return {.status = 405, .content_type = "text/plain; charset=utf-8", .body = "POST only\n"};
  }
  const auto media = media_type(content_type);
  const bool json = iequals(media, kJson);
  if (!read_body) {
    refuse(telemetry::RejectReason::TooLarge);
    return status_answer(413, json, 8 /* RESOURCE_EXHAUSTED */,
                         "request larger than " + std::to_string(max_bytes) + " bytes");
  }
  auto body = *read_body;
  if (!json && !iequals(media, kProtobuf)) {
    refuse(telemetry::RejectReason::Unsupported);
    return status_answer(415, false, 3,
                         "content type must be application/x-protobuf or application/json");
  }
  std::string inflated;
  if (iequals(content_encoding, "gzip")) {
    switch (gunzip(body, max_bytes, inflated)) {
      case Inflate::TooLarge:
        refuse(telemetry::RejectReason::TooLarge);
        return status_answer(
            413, json, 8 /* RESOURCE_EXHAUSTED */,
            "request larger than " + std::to_string(max_bytes) + " bytes once decompressed");
      case Inflate::Corrupt:
        return malformed(json, "body is not valid gzip", body.size(), counters);
      case Inflate::Ok:
        body = inflated;
        break;
    }
  } else if (!content_encoding.empty() && !iequals(content_encoding, "identity")) {
    refuse(telemetry::RejectReason::Unsupported);
    return status_answer(415, json, 3, "content encoding must be gzip or identity");
  }

  std::optional<otlp::pb::ExportTraceServiceResponse> response;
  if (json) {
    otlp::pb::ExportTraceServiceRequest request;
    if (auto why = otlp::parse_json(body, request); !why.empty()) {
      return malformed(json, otlp::refusal_text("not an OTLP/JSON trace request", why), body.size(),
                       counters);
    }
    response = otlp::accept(request, out, counters, telemetry::Receiver::OtlpHttp);
  } else {
    // Decoded from the bytes straight into spans (otlp_packed.hpp).
    auto answer = otlp::accept_bytes(body, out, counters, telemetry::Receiver::OtlpHttp);
    if (!answer.malformed.empty()) {
      return malformed(
          json, otlp::refusal_text("not an OTLP ExportTraceServiceRequest", answer.malformed),
          body.size(), counters);
    }
    response = std::move(answer.response);
  }
  if (!response) {
    auto a = status_answer(503, json, 14 /* UNAVAILABLE */,
                           "tailgate: pipeline queue full, retry later");
    a.retry_after_seconds = kRetryAfterSeconds;
    return a;
  }
  OtlpHttpAnswer a;
  a.content_type = json ? std::string(kJson) : std::string(kProtobuf);
  a.body = json ? otlp::to_json(*response) : response->SerializeAsString();
  return a;
}

OtlpHttpReceiver::OtlpHttpReceiver(const config::OtlpReceiverConfig& config, model::SpanQueue& out,
                                   telemetry::Counters& counters)
    : server_(std::make_unique<http::Server>(
          http::ServerOptions{.endpoint = config.endpoint,
                              .config_key = "receivers.otlp_http.endpoint",
                              .header_limit = 16 * 1024,
                              .body_limit = config.max_request_bytes,
                              .request_timeout = std::chrono::seconds(10),
                              // Refused without the handler: a request that is not HTTP (400).
                              .on_refused =
                                  [&counters](int) {
                                    counters.add_rejected_requests(
                                        telemetry::Receiver::OtlpHttp,
                                        telemetry::RejectReason::Malformed);
                                  }},
          [max = config.max_request_bytes, &out, &counters](const http::Request& r) {
            auto a = handle_otlp_http(r.method, r.target, r.content_type, r.content_encoding,
                                      r.body_over_limit ? std::nullopt : std::optional(r.body), max,
                                      out, counters);
            return http::Response{.status = a.status,
                                  .content_type = std::move(a.content_type),
                                  .body = std::move(a.body),
                                  .allow = a.status == 405 ? "POST" : "",
                                  .retry_after_seconds = a.retry_after_seconds};
          })) {}

OtlpHttpReceiver::~OtlpHttpReceiver() = default;

void OtlpHttpReceiver::start() {
  server_->start();
}

void OtlpHttpReceiver::stop() {
  server_->stop();
}

const std::string& OtlpHttpReceiver::local_endpoint() const noexcept {
  return server_->local_endpoint();
}

}  // namespace tailgate::receivers
