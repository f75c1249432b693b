// A neighbour on the network writes into the agent's log (found by an outside attack): a Jaeger
// datagram whose Thrift method name carries a quote, fields and a line separator is logged as
// the refusal's error text, one escaped value, in the text log and the JSON log alike.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/agent_stack.hpp"
#include "support/child_process.hpp"

using namespace std::chrono_literals;
using tailgate::testing::ChildProcess;

namespace {

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

void send_udp(int port, const std::string& datagram) {
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
  send_udp(port, compact_message(kMethod));
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
