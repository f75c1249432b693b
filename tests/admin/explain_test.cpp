// `tailgate explain`'s text and its one request, against a real socket on 127.0.0.1.
#include "admin/explain.hpp"

#include <sstream>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

using namespace tailgate;

TEST_CASE("explain shows control characters from spans as \\xNN, never passes them on",
          "[admin][explain]") {
  // A service name chosen by whoever can send spans: colours, a window title, a forged line.
  const std::string answer = R"({"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","status":"kept",
    "decision":{"policy":"error","probability":1.0,"trigger":"fast_path","decided_at":"now"},
    "spans_at_decision":1,"root_seen":true,"producer_count":1,
    "producers":[{"service.name":"svc\u001b[31mRED\u001b]0;pwned\u0007\n  export: sent FAKE\r"}],
    "export":"failed"})";
  const auto text = admin::explain_text(answer);
  INFO(text);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\a') == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find("\n  export: sent FAKE") == std::string::npos);
  CHECK(text.find("svc\\x1b[31mRED") != std::string::npos);
  CHECK(text.find("\n  export: failed\n") != std::string::npos);
}

TEST_CASE("explain quotes a producer's value that could pass for more fields or lines",
          "[admin][explain]") {
  // Outside attack: a host name with spaces read as a second service.name; a line separator
  // passed on raw broke the line in viewers that split on it.
  const std::string answer = R"({"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","status":"kept",
    "decision":{"policy":"error","probability":1.0,"trigger":"root","decided_at":"now"},
    "spans_at_decision":1,"root_seen":true,"producer_count":1,
    "producers":[{"service.name":"orders","host.name":"web-1 service.name=payments x"}]})";
  const auto text = admin::explain_text(answer);
  INFO(text);
  CHECK(text.find("host.name=\"web-1 service.name=payments\\u2028x\" service.name=orders\n") !=
        std::string::npos);
  CHECK(text.find("\xE2\x80\xA8") == std::string::npos);
}

TEST_CASE("explain gives up on an agent that accepts and never answers", "[admin][explain]") {
  // A listener whose backlog takes the connection and never reads: a stopped (SIGSTOP) agent.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor stuck(
      io, {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(0)});
  const auto endpoint = "127.0.0.1:" + std::to_string(stuck.local_endpoint().port());
  std::ostringstream out, err;
  CHECK(admin::explain(endpoint, "4bf92f3577b34da6a3ce929d0e0e4736", false, out, err) == 2);
  CHECK(err.str().find("no answer within 5 s") != std::string::npos);
  CHECK(out.str().empty());
}

TEST_CASE("explain refuses an admin endpoint without a port from 1 to 65535", "[admin][explain]") {
  for (const auto* endpoint : {"127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1", "127.0.0.1:x"}) {
    std::ostringstream out, err;
    CAPTURE(endpoint);
    CHECK(admin::explain(endpoint, "4bf92f3577b34da6a3ce929d0e0e4736", false, out, err) == 2);
    CHECK(err.str().find("expected host:port with a port from 1 to 65535") != std::string::npos);
  }
}
