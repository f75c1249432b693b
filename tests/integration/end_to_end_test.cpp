// The real agent process between a real sender and the real tailgate-sink process, on 127.0.0.1:
// every span sent over UDP must arrive at the sink with every field and its resource intact.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>
#include <type_traits>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/agent_stack.hpp"
#include "support/child_process.hpp"
#include "support/sink_spans.hpp"
#include "support/span_builder.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using testing::ChildProcess;

namespace {

const std::string kKeepEverything =
    "sampling:\n  decision_wait: 100ms\n"
    "  policies: [{name: everything, type: base, probability: 1.0}]\n";

std::string hex(const auto& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const auto b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

nlohmann::json expected_attributes(const std::vector<model::Attribute>& attributes) {
  auto out = nlohmann::json::object();
  for (const auto& a : attributes) {
    std::visit(
        [&](const auto& v) {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, model::ArrayValue>)
            std::visit([&](const auto& elements) { out[a.key] = elements; }, v);  // a JSON array
          else
            out[a.key] = v;
        },
        a.value);
  }
  return out;
}

}  // namespace

TEST_CASE("1000 spans over UDP arrive at the sink with every field and resource intact",
          "[integration]") {
  testing::AgentStack stack(kKeepEverything);
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(stack.udp_port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);

  // 250 traces x 4 spans, from two services, in datagrams of one trace each.
  std::map<std::string, model::Span> sent;
  for (std::uint64_t t = 0; t < 250; ++t) {
    const auto resource = testing::test_resource(t % 2 == 0 ? "orders" : "risk");
    std::vector<std::byte> datagram(wire::kMaxRecordSize);
    std::size_t used = wire::align_record(wire::encode_resource(*resource, datagram));
    for (std::uint64_t i = 0; i < 4; ++i) {
      auto span = testing::make_span(t, i, resource);
      used += wire::align_record(wire::encode_span(span, std::span(datagram).subspan(used)));
      sent[hex(span.span_id)] = std::move(span);
    }
    REQUIRE(::sendto(fd, datagram.data(), used, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(used));
    if (t % 50 == 49) std::this_thread::sleep_for(1ms);  // a sender's pace, not a flood
  }
  ::close(fd);
  REQUIRE(sent.size() == 1000);

  // Wait for all 1000 lines (bounded), then stop the agent and check its accounting.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::vector<nlohmann::json> received;
  while (std::chrono::steady_clock::now() < deadline) {
    received = testing::sink_spans_in(stack.dir.file("spans.jsonl"));
    if (received.size() >= 1000) break;
    std::this_thread::sleep_for(20ms);
  }
  stack.agent->signal(SIGTERM);
  REQUIRE(stack.agent->wait(15s) == 0);
  const auto agent_log = testing::read_file(stack.dir.file("agent.err"));
  INFO(agent_log);
  CHECK_THAT(agent_log,
             Catch::Matchers::Contains(
                 "event=shutdown_complete received=1000 exported=1000 sampled_out=0 dropped=0"));

  REQUIRE(received.size() == 1000);
  std::set<std::string> seen;
  for (const auto& got : received) {
    const std::string id = got["span_id"];
    REQUIRE(sent.contains(id));
    REQUIRE(seen.insert(id).second);  // exactly once
    const auto& want = sent.at(id);
    CHECK(got["trace_id"] == hex(want.trace_id));
    CHECK(got["parent_span_id"] == (want.is_root() ? "" : hex(want.parent_span_id)));
    CHECK(got["name"] == want.name);
    CHECK(got["kind"] == static_cast<int>(want.kind));
    CHECK(got["start_unix_ns"] == want.start_unix_ns);
    CHECK(got["end_unix_ns"] == want.end_unix_ns);
    // W3C trace flags in the low byte; OTLP's has-is-remote bit on every span with a parent.
    CHECK(got["flags"] ==
          (want.trace_flags | (want.is_root() ? 0 : 0x100) | (want.parent_is_remote ? 0x200 : 0)));
    CHECK(got["status"]["code"] == static_cast<int>(want.status));
    CHECK(got["status"]["message"] == want.status_message);
    auto attributes = expected_attributes(want.attributes);
    attributes["sampling.policy"] = "everything";  // the decision travels with the span
    attributes["sampling.probability"] = 1.0;
    CHECK(got["attributes"] == attributes);
    CHECK(got["trace_state"] == "ot=th:0");
    CHECK(got["resource"] == expected_attributes(want.resource->attributes));
    REQUIRE(got["events"].size() == want.events.size());
    for (std::size_t e = 0; e < want.events.size(); ++e) {
      CHECK(got["events"][e]["name"] == want.events[e].name);
      CHECK(got["events"][e]["time_unix_ns"] == want.events[e].time_unix_ns);
      CHECK(got["events"][e]["attributes"] == expected_attributes(want.events[e].attributes));
    }
  }
}

TEST_CASE("garbage datagrams are counted and the agent keeps serving", "[integration]") {
  testing::AgentStack stack(kKeepEverything);
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(stack.udp_port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  const std::string garbage = "GET / HTTP/1.1\r\n\r\n";
  for (int i = 0; i < 10; ++i) {
    ::sendto(fd, garbage.data(), garbage.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  const auto resource = testing::test_resource("orders");
  std::vector<std::byte> datagram(4096);
  std::size_t used = wire::align_record(wire::encode_resource(*resource, datagram));
  used += wire::align_record(
      wire::encode_span(testing::make_span(1, 0, resource), std::span(datagram).subspan(used)));
  ::sendto(fd, datagram.data(), used, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  ::close(fd);
  testing::wait_for_text(stack.dir.file("spans.jsonl"), "signal_generation", 10s);
  stack.agent->signal(SIGTERM);
  REQUIRE(stack.agent->wait(15s) == 0);
  const auto log = testing::read_file(stack.dir.file("agent.err"));
  INFO(log);
  CHECK_THAT(log, Catch::Matchers::Contains("received=1 exported=1 sampled_out=0 dropped=0 "
                                            "spooled=0 recovered=0 dropped_malformed=0"));
  // Refused as bad input (each datagram whole), not counted as lost spans.
  CHECK_THAT(log, Catch::Matchers::Contains("rejected_requests=10 rejected_spans=0"));
  CHECK_THAT(log, Catch::Matchers::Contains("event=udp_malformed"));
}
