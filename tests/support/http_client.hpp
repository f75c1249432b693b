#pragma once
// A small synchronous HTTP client for tests (Boost.Beast), bounded by a timeout.

#include <chrono>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tailgate::testing {

struct HttpResult {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::string allow;
  std::string retry_after;
};

inline HttpResult http_request(const std::string& host, int port, const std::string& target,
                               boost::beast::http::verb verb = boost::beast::http::verb::get,
                               const std::string& accept = {}) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(host),
                                                static_cast<unsigned short>(port)));
  http::request<http::empty_body> req(verb, target, 11);
  req.set(http::field::host, host);
  if (!accept.empty()) req.set(http::field::accept, accept);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.skip(verb == http::verb::head);  // a length and no body follows
  http::read(stream, buffer, parser);
  const auto& res = parser.get();
  beast::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  return {res.result_int(), res.body(), std::string(res[http::field::content_type]),
          std::string(res[http::field::allow])};
}

/// A request with a body, any method (OTLP/HTTP tests; a body where none belongs).
inline HttpResult http_send(int port, boost::beast::http::verb verb, const std::string& target,
                            const std::string& content_type, const std::string& body,
                            const std::string& content_encoding = {}) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                static_cast<unsigned short>(port)));
  http::request<http::string_body> req(verb, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  if (!content_encoding.empty()) req.set(http::field::content_encoding, content_encoding);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(stream, buffer, parser);
  const auto& res = parser.get();
  beast::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  return {res.result_int(), res.body(), std::string(res[http::field::content_type]),
          std::string(res[http::field::allow]), std::string(res[http::field::retry_after])};
}

/// A POST with a body (OTLP/HTTP tests).
inline HttpResult http_post(int port, const std::string& target, const std::string& content_type,
                            const std::string& body, const std::string& content_encoding = {}) {
  return http_send(port, boost::beast::http::verb::post, target, content_type, body,
                   content_encoding);
}

inline HttpResult http_get(int port, const std::string& target, const std::string& accept = {}) {
  return http_request("127.0.0.1", port, target, boost::beast::http::verb::get, accept);
}

}  // namespace tailgate::testing
