// The admin server on a real socket: it answers, survives garbage and half-sent requests, and a
// slow client does not hold up the others.
#include "admin/admin_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/http_client.hpp"

using namespace tailgate;

namespace {

struct Server {
  telemetry::Counters counters;
  admin::AdminServer server;
  int port;

  Server()
      : server({.endpoint = "127.0.0.1:0"},
               [this] {
                 admin::Snapshot s;
                 s.counters = &counters;
                 s.now_ns = 1;
                 s.receivers_bound = true;
                 return s;
               }),
        port(std::stoi(server.local_endpoint().substr(server.local_endpoint().rfind(':') + 1))) {
    counters.pipeline_heartbeat_ns = 1;
    server.start();
  }
};

int connect_raw(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  return out;
}

}  // namespace

TEST_CASE("the admin server answers each endpoint over HTTP", "[admin]") {
  Server s;
  CHECK(testing::http_get(s.port, "/health").status == 200);
  CHECK(testing::http_get(s.port, "/ready").status == 200);
  CHECK(testing::http_get(s.port, "/drop-rate").content_type == "application/json");
  CHECK(testing::http_get(s.port, "/metrics").body.find("tailgate_spans_received_total") !=
        std::string::npos);
  CHECK(testing::http_get(s.port, "/missing").status == 404);
  const auto post =
      testing::http_request("127.0.0.1", s.port, "/metrics", boost::beast::http::verb::post);
  CHECK(post.status == 405);
  CHECK(post.allow == "GET, HEAD");
  // With a body (none is read here): still 405, or 404 off the routes, never 413.
  for (const auto verb : {boost::beast::http::verb::post, boost::beast::http::verb::put}) {
    const auto with_body = testing::http_send(s.port, verb, "/metrics", "text/plain", "x=1");
    CHECK(with_body.status == 405);
    CHECK(with_body.allow == "GET, HEAD");
  }
  CHECK(testing::http_send(s.port, boost::beast::http::verb::post, "/missing", "text/plain", "x")
            .status == 404);
  CHECK(testing::http_request("127.0.0.1", s.port, "/health", boost::beast::http::verb::head)
            .status == 200);
}

TEST_CASE("garbage gets 400 and the server keeps serving", "[admin]") {
  Server s;
  const int fd = connect_raw(s.port);
  const std::string garbage = "\x16\x03\x01 this is not HTTP\r\n\r\n";
  REQUIRE(::write(fd, garbage.data(), garbage.size()) == static_cast<ssize_t>(garbage.size()));
  CHECK(read_all(fd).rfind("HTTP/1.1 400", 0) == 0);
  ::close(fd);
  CHECK(testing::http_get(s.port, "/health").status == 200);
}

TEST_CASE("a half-sent request does not hold up other clients", "[admin]") {
  Server s;
  const int slow = connect_raw(s.port);
  const std::string half = "GET /metrics HTTP/1.1\r\nHost: x\r\n";  // never finished
  REQUIRE(::write(slow, half.data(), half.size()) == static_cast<ssize_t>(half.size()));
  const auto begin = std::chrono::steady_clock::now();
  CHECK(testing::http_get(s.port, "/health").status == 200);
  CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(2));
  ::close(slow);
}

TEST_CASE("keep-alive serves several requests on one connection", "[admin]") {
  Server s;
  const int fd = connect_raw(s.port);
  const std::string two =
      "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\n\r\n";
  REQUIRE(::write(fd, two.data(), two.size()) == static_cast<ssize_t>(two.size()));
  const auto answers = read_all(fd);
  ::close(fd);
  CHECK(answers.find("pipeline_heartbeat_age_seconds") != std::string::npos);
  CHECK(answers.find("\"reasons\"") != std::string::npos);
}

TEST_CASE("a taken admin port fails construction with the endpoint named", "[admin]") {
  Server first;
  const auto endpoint = "127.0.0.1:" + std::to_string(first.port);
  CHECK_THROWS_WITH(admin::AdminServer({.endpoint = endpoint}, [] { return admin::Snapshot{}; }),
                    Catch::Matchers::Contains(endpoint));
}
