#include "receivers/otlp_http_receiver.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "google/rpc/status.pb.h"
#include "receivers/log_limiter.hpp"
#include "receivers/otlp_decode.hpp"

namespace tailgate::receivers {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kRequestTimeout = std::chrono::seconds(10);
// After refusing an oversized body, the rest of it is read and thrown away for a while (as nginx's
// lingering close does), so the client, still sending, gets to read the 413 instead of a reset.
constexpr auto kLinger = std::chrono::seconds(5);
constexpr std::size_t kLingerBytes = 256u << 20;
constexpr std::size_t kHeaderLimit = 16 * 1024;
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

enum class Inflate { Ok, TooLarge, Corrupt };

// gzip, never more than `limit` bytes out: a small bomb must not become a large allocation.
Inflate gunzip(std::string_view in, std::size_t limit, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Inflate::Corrupt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  out.clear();
  std::array<char, 64 * 1024> chunk{};
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    z.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    const auto produced = chunk.size() - z.avail_out;
    if (out.size() + produced > limit) {
      inflateEnd(&z);
      return Inflate::TooLarge;
    }
    out.append(chunk.data(), produced);
    if (rc == Z_OK && produced == 0 && z.avail_in == 0) break;  // truncated input
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END ? Inflate::Ok : Inflate::Corrupt;
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
  counters.add_dropped(telemetry::DropReason::Malformed, 1);
  if (const auto n = malformed_log.note()) {
    spdlog::warn("event=otlp_malformed receiver=otlp_http requests={} bytes={} error=\"{}\"", n,
                 bytes, why);
  }
  return status_answer(400, json, 3 /* INVALID_ARGUMENT */, why);
}

tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  return {asio::ip::make_address(host),
          static_cast<unsigned short>(std::stoul(text.substr(colon + 1)))};
}

}  // namespace

OtlpHttpAnswer handle_otlp_http(std::string_view method, std::string_view target,
                                std::string_view content_type, std::string_view content_encoding,
                                std::string_view body, std::size_t max_bytes, model::SpanQueue& out,
                                telemetry::Counters& counters) {
  const auto path = target.substr(0, target.find('?'));
  if (path != "/v1/traces") {
    return {.status = 404, .content_type = "text/plain; charset=utf-8", .body = "not found\n"};
  }
  if (method != "POST") {
    return {.status = 405, .content_type = "text/plain; charset=utf-8", .body = "POST only\n"};
  }
  const auto media = media_type(content_type);
  const bool json = iequals(media, kJson);
  if (!json && !iequals(media, kProtobuf)) {
    return status_answer(415, false, 3,
                         "content type must be application/x-protobuf or application/json");
  }
  std::string inflated;
  if (iequals(content_encoding, "gzip")) {
    switch (gunzip(body, max_bytes, inflated)) {
      case Inflate::TooLarge:
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
    return status_answer(415, json, 3, "content encoding must be gzip or identity");
  }

  otlp::pb::ExportTraceServiceRequest request;
  if (json) {
    if (auto why = otlp::parse_json(body, request); !why.empty()) {
      return malformed(json, "not an OTLP/JSON trace request: " + why, body.size(), counters);
    }
  } else if (!request.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return malformed(json, "not an OTLP ExportTraceServiceRequest", body.size(), counters);
  }
  model::SpanBatch batch;
  const auto result = otlp::from_otlp(request, batch);
  const auto spans = batch.size();
  if (spans > 0 && !out.try_push(batch)) {
    counters.otlp_requests_refused.fetch_add(1, std::memory_order_relaxed);
    auto a = status_answer(503, json, 14 /* UNAVAILABLE */,
                           "tailgate: pipeline queue full, retry later");
    a.retry_after_seconds = kRetryAfterSeconds;
    return a;
  }
  counters.add_received(telemetry::Receiver::OtlpHttp, spans);
  otlp::pb::ExportTraceServiceResponse response;
  if (result.rejected > 0) {
    counters.add_dropped(telemetry::DropReason::Malformed, result.rejected);
    response.mutable_partial_success()->set_rejected_spans(
        static_cast<std::int64_t>(result.rejected));
    response.mutable_partial_success()->set_error_message(result.error);
  }
  OtlpHttpAnswer a;
  a.content_type = json ? std::string(kJson) : std::string(kProtobuf);
  a.body = json ? otlp::to_json(response) : response.SerializeAsString();
  return a;
}

struct OtlpHttpReceiver::State {
  config::OtlpReceiverConfig config;
  model::SpanQueue* out = nullptr;
  telemetry::Counters* counters = nullptr;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::string local_endpoint;

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), *this)->read();
      accept();
    });
  }

  // One connection: requests one after another while the client keeps it alive.
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(tcp::socket&& socket, State& state) : stream_(std::move(socket)), state_(state) {}

    void read() {
      parser_.emplace();
      parser_->header_limit(kHeaderLimit);
      parser_->body_limit(state_.config.max_request_bytes);
      stream_.expires_after(kRequestTimeout);  // a half-sent request is cut off here
      http::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

   private:
    void on_read(beast::error_code ec) {
      if (ec == http::error::end_of_stream) return close();
      if (ec == http::error::body_limit) {
        auto a = status_answer(
            413, false, 8,
            "request larger than " + std::to_string(state_.config.max_request_bytes) + " bytes");
        return answer(std::move(a), 11, false, true);
      }
      if (ec) {
        if (ec != beast::error::timeout && ec != asio::error::operation_aborted) {
          answer(
              {.status = 400, .content_type = "text/plain; charset=utf-8", .body = "bad request\n"},
              11, false);
        }
        return;
      }
      const auto& req = parser_->get();
      const auto field = [&req](http::field f) {
        const auto v = req[f];
        return std::string_view(v.data(), v.size());
      };
      auto a = handle_otlp_http(
          std::string_view(req.method_string().data(), req.method_string().size()),
          std::string_view(req.target().data(), req.target().size()),
          field(http::field::content_type), field(http::field::content_encoding), req.body(),
          state_.config.max_request_bytes, *state_.out, *state_.counters);
      answer(std::move(a), req.version(), req.keep_alive());
    }

    void answer(OtlpHttpAnswer a, unsigned version, bool keep_alive, bool linger = false) {
      auto res = std::make_shared<http::response<http::string_body>>(
          static_cast<http::status>(a.status), version);
      res->set(http::field::server, "tailgate");
      res->set(http::field::content_type, a.content_type);
      if (a.status == 405) res->set(http::field::allow, "POST");
      if (a.retry_after_seconds > 0) {
        res->set(http::field::retry_after, std::to_string(a.retry_after_seconds));
      }
      res->keep_alive(keep_alive);
      res->body() = std::move(a.body);
      res->prepare_payload();
      stream_.expires_after(kRequestTimeout);
      http::async_write(
          stream_, *res,
          [self = shared_from_this(), res, linger](beast::error_code ec, std::size_t) {
            if (ec || !res->keep_alive()) {
              self->close();
              if (!ec && linger) {
                self->stream_.expires_after(kLinger);
                self->discard();
              }
              return;
            }
            self->read();
          });
    }

    void discard() {
      buffer_.consume(buffer_.size());
      stream_.async_read_some(buffer_.prepare(64 * 1024),
                              [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                self->discarded_ += n;
                                if (ec || self->discarded_ > kLingerBytes) return;
                                self->buffer_.commit(n);
                                self->discard();
                              });
    }

    void close() {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    State& state_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::size_t discarded_ = 0;
  };
};

OtlpHttpReceiver::OtlpHttpReceiver(const config::OtlpReceiverConfig& config, model::SpanQueue& out,
                                   telemetry::Counters& counters)
    : state_(std::make_unique<State>()) {
  state_->config = config;
  state_->out = &out;
  state_->counters = &counters;
  auto& acceptor = state_->acceptor;
  try {
    const auto endpoint = parse_endpoint(config.endpoint);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("receivers.otlp_http.endpoint " + config.endpoint + ": " +
                             e.code().message());
  }
  const auto bound = acceptor.local_endpoint();
  state_->local_endpoint = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                    : bound.address().to_string()) +
                           ":" + std::to_string(bound.port());
}

OtlpHttpReceiver::~OtlpHttpReceiver() {
  stop();
}

void OtlpHttpReceiver::start() {
  state_->accept();
  thread_ = std::thread([this] { state_->io.run(); });
}

void OtlpHttpReceiver::stop() {
  if (!thread_.joinable()) return;
  asio::post(state_->io, [this] {
    beast::error_code ignored;
    state_->acceptor.close(ignored);
    state_->io.stop();
  });
  thread_.join();
}

const std::string& OtlpHttpReceiver::local_endpoint() const noexcept {
  return state_->local_endpoint;
}

}  // namespace tailgate::receivers
