// What a neighbour on the network can send the real agent: garbage, empty datagrams, zero ids,
// bad OTLP requests and loss records claiming 10^18 lost. Each refusal is counted on /metrics,
// none counts as a drop, the loss is bounded, and the accounting identity holds; text of the
// sender's making in the agent's log stays one escaped value.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/agent_stack.hpp"
#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/metrics_text.hpp"
#include "support/span_builder.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using tailgate::testing::ChildProcess;

namespace {

void send_udp(int port, std::span<const std::byte> datagram) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  const auto sent = ::sendto(fd, datagram.data(), datagram.size(), 0,
                             reinterpret_cast<sockaddr*>(&to), sizeof to);
  ::close(fd);
  REQUIRE(sent == static_cast<ssize_t>(datagram.size()));
}

std::vector<std::byte> spans_datagram(const std::vector<model::Span>& spans) {
  std::vector<std::byte> d(wire::kMaxRecordSize);
  std::size_t used = 0;
  for (const auto& s : spans)
    used += wire::align_record(wire::encode_span(s, std::span(d).subspan(used)));
  d.resize(used);
  return d;
}

std::string metrics_when(const testing::AgentStack& stack,
                         const std::function<bool(const std::string&)>& done) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    text = testing::http_get(stack.admin_port, "/metrics").body;
    if (done(text)) break;
    std::this_thread::sleep_for(50ms);
  }
  return text;
}

// The method name: it ends the quoted error early on an agent that does not escape quotes, and
// U+2028 starts a line in log viewers.
const std::string kMethod = "x\" event=forged user=\"root\xE2\x80\xA8 z";

// A Thrift compact-protocol message header (Thrift's compact protocol spec: protocol id 0x82,
// version 1 with the message type in the top 3 bits, varint sequence id, varint-length name);
// the agent refuses any name but emitBatch before it reads a body.
std::string compact_message(const std::string& name) {
  std::string d = {'\x82', static_cast<char>(1 | 4 << 5 /* T_ONEWAY */), '\0'};
  d += static_cast<char>(name.size());  // < 128: one varint byte
  return d + name;
}

// The agent's log line about the refused datagram, in `format` (text or json).
std::string refusal_line(const std::string& format) {
  tailgate::testing::TempDir dir;
  std::ofstream(dir.file("agent.yaml"))
      << "receivers: {udp: {enabled: false}, ring: {enabled: false}, "
      << tailgate::testing::kDropInsOnFreePorts << "}\n"
      << "admin: {enabled: false}\nlog: {format: " << format << "}\n"
      << "exporter: {endpoint: \"127.0.0.1:9\"}\n";  // nothing is kept: never dialled
  ChildProcess agent({TAILGATE_AGENT_BIN, "--config", dir.file("agent.yaml")}, dir.file("out"),
                     dir.file("err"));
  const bool json = format == "json";
  const auto started = tailgate::testing::wait_for_text(
      dir.file("err"), json ? "\"event\":\"agent_ready\"" : "event=agent_ready", 10s);
  const int port = tailgate::testing::port_after(
      started, json ? "\"receiver\":\"jaeger_compact\",\"endpoint\":\"127.0.0.1:"
                    : "receiver=jaeger_compact endpoint=127.0.0.1:");
  REQUIRE(port > 0);
  const auto datagram = compact_message(kMethod);
  send_udp(port, std::as_bytes(std::span(datagram)));
  tailgate::testing::wait_for_text(dir.file("err"), "udp_malformed", 10s);
  agent.signal(SIGTERM);
  CHECK(agent.wait(20s) == 0);
  std::istringstream lines(tailgate::testing::read_file(dir.file("err")));
  std::string found;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("udp_malformed") != std::string::npos) {
      CHECK(found.empty());  // one line, the agent's
      found = line;
    }
  }
  REQUIRE_FALSE(found.empty());
  CHECK(found.find("\xE2\x80\xA8") == std::string::npos);
  return found;
}

}  // namespace

TEST_CASE("hostile input is refused and counted, loss claims bounded, the accounting holds",
          "[integration]") {
  testing::AgentStack stack(
      "sampling:\n  decision_wait: 100ms\n"
      "  policies: [{name: all, type: base, probability: 1.0}]\n",
      "", "  otlp_http:\n    enabled: true\n    endpoint: 127.0.0.1:0\n");
  const int http_port =
      testing::port_after(stack.agent_log(), "receiver=otlp_http endpoint=127.0.0.1:");
  REQUIRE(http_port > 0);
  const auto resource = testing::test_resource("orders");

  // Refusals only, and four good spans.
  for (int i = 0; i < 3; ++i) send_udp(stack.udp_port, {});
  send_udp(stack.udp_port, std::vector<std::byte>(100, std::byte{0xAB}));
  auto zero_trace = testing::make_span(1, 1, resource);
  zero_trace.trace_id = {};
  auto zero_span = testing::make_span(1, 2, resource);
  zero_span.span_id = {};
  send_udp(stack.udp_port, spans_datagram({zero_trace, zero_span}));
  std::vector<model::Span> good;
  for (std::uint64_t i = 0; i < 4; ++i) good.push_back(testing::make_span(2, i, resource));
  send_udp(stack.udp_port, spans_datagram(good));
  for (int i = 0; i < 7; ++i) {
    CHECK(testing::http_post(http_port, "/v1/traces", "application/x-protobuf", "\xff\xff\xff")
              .status == 400);
  }
  CHECK(testing::http_post(http_port, "/v1/traces", "text/plain", "x").status == 415);
  CHECK(testing::http_post(http_port, "/v1/logs", "application/x-protobuf", "").status == 404);
  CHECK(
      testing::http_post(http_port, "/v1/traces", "application/json",
                         R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":)"
                         R"("00000000000000000000000000000000","spanId":"0102030405060708"}]}]}]})")
          .status == 200);

  auto text = metrics_when(stack, [](const std::string& t) {
    return testing::metric_value(t, "tailgate_spans_exported_total") == 4 &&
           testing::metric_value(t, "tailgate_datagrams_received_total") == 6;
  });
  INFO(text);
  const auto rejected = [&](const std::string& family, const std::string& receiver,
                            const std::string& reason) {
    return testing::metric_value(text, family,
                                 "receiver=\"" + receiver + "\",reason=\"" + reason + "\"");
  };
  CHECK(rejected("tailgate_requests_rejected_total", "udp", "empty") == 3);
  CHECK(rejected("tailgate_requests_rejected_total", "udp", "malformed") == 1);
  CHECK(rejected("tailgate_spans_rejected_total", "udp", "zero_id") == 2);
  CHECK(rejected("tailgate_requests_rejected_total", "otlp_http", "malformed") == 7);
  CHECK(rejected("tailgate_requests_rejected_total", "otlp_http", "unsupported") == 2);
  CHECK(rejected("tailgate_spans_rejected_total", "otlp_http", "zero_id") == 1);
  CHECK(testing::metric_value(text, "tailgate_spans_dropped_total") ==
        0);  // refusals are not drops
  CHECK(testing::metric_value(text, "tailgate_spans_received_total") == 4);
  CHECK(testing::metric_value(text, "tailgate_spans_received_total") ==
        testing::metric_value(text, "tailgate_spans_exported_total") +
            testing::metric_value(text, "tailgate_spans_sampled_out_total") +
            testing::metric_value(text, "tailgate_spans_dropped_total") +
            testing::metric_value(text, "tailgate_buffered_spans"));
  auto drop_rate = nlohmann::json::parse(testing::http_get(stack.admin_port, "/drop-rate").body);
  INFO(drop_rate.dump());
  CHECK(drop_rate["status"] == "ok");
  CHECK(drop_rate["windows"]["1m"]["rejected_requests"] == 13);
  CHECK(drop_rate["windows"]["1m"]["rejected_spans"] == 3);

  // Loss records claiming 10^18, then 2^64 - 1 and 5 (a plain sum wraps to 4).
  std::vector<std::byte> loss(32);
  send_udp(stack.udp_port,
           std::span(loss).first(wire::encode_loss(loss, 1'000'000'000'000'000'000ULL)));
  std::size_t used = wire::align_record(wire::encode_loss(loss, UINT64_MAX));
  used += wire::encode_loss(std::span(loss).subspan(used), 5);
  send_udp(stack.udp_port, std::span(loss).first(used));
  text = metrics_when(stack, [](const std::string& t) {
    return testing::metric_value(t, "tailgate_datagrams_received_total") == 8;
  });
  // Each credited up to the spans a native datagram could have carried instead (65,536 / 64).
  CHECK(testing::metric_value(text, "tailgate_spans_dropped_total", "reason=\"producer_loss\"") ==
        2 * 1024);
  CHECK(testing::metric_value(text, "tailgate_loss_reports_capped_total", "receiver=\"udp\"") == 2);

  const auto file = stack.dir.file("metrics.txt");
  std::ofstream(file) << text;
  const auto command = "promtool check metrics < '" + file + "' > '" + file + ".out' 2>&1";
  const int rc = std::system(command.c_str());
  INFO(testing::read_file(file + ".out"));
  CHECK(rc == 0);
}

// Found by an outside attack: a Jaeger datagram's Thrift method name (a quote, fields, U+2028)
// is logged as the refusal's error text; it stays one escaped value, text and JSON alike.
TEST_CASE("a sender's quote and line separator stay one escaped value in the agent's log",
          "[integration]") {
  const auto text = refusal_line("text");
  INFO(text);
  CHECK_THAT(text, Catch::Matchers::Contains(
                       R"( warn event=udp_malformed receiver=jaeger_compact refused=1 )"
                       R"(last_reason=malformed last_error="unsupported call x\" event=forged )"
                       R"(user=\"root\u2028 z" datagram_bytes=)"));

  const auto line = refusal_line("json");
  INFO(line);
  const auto j = nlohmann::json::parse(line);
  CHECK(j["event"] == "udp_malformed");
  CHECK(j["last_error"] == "unsupported call " + kMethod);
  CHECK_FALSE(j.contains("user"));
  CHECK_FALSE(j.contains("msg"));
}
