// The UDP receiver on a real socket on 127.0.0.1 (port 0).
#include "receivers/udp_receiver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <catch2/catch.hpp>

#include "support/span_builder.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
using namespace std::chrono_literals;

namespace {

class Sender {
 public:
  explicit Sender(const std::string& endpoint) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    to_.sin_family = AF_INET;
    const auto colon = endpoint.rfind(':');
    ::inet_pton(AF_INET, endpoint.substr(0, colon).c_str(), &to_.sin_addr);
    to_.sin_port = htons(static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1))));
  }
  ~Sender() { ::close(fd_); }
  void send(std::span<const std::byte> bytes) {
    REQUIRE(::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to_),
                     sizeof to_) == static_cast<ssize_t>(bytes.size()));
  }

 private:
  int fd_;
  sockaddr_in to_{};
};

std::vector<std::byte> datagram_of(std::uint64_t trace, std::uint64_t spans) {
  const auto resource = testing::test_resource("orders");
  std::vector<std::byte> d(wire::kMaxRecordSize);
  std::size_t used = wire::align_record(wire::encode_resource(*resource, d));
  for (std::uint64_t i = 0; i < spans; ++i) {
    used += wire::align_record(
        wire::encode_span(testing::make_span(trace, i, resource), std::span(d).subspan(used)));
  }
  d.resize(used);
  return d;
}

model::SpanBatch collect(model::SpanQueue& q, std::size_t want) {
  model::SpanBatch got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) q.pop_all(got, 10ms);
  return got;
}

}  // namespace

TEST_CASE("spans sent over UDP arrive decoded with their resource", "[receivers]") {
  telemetry::Counters counters;
  model::SpanQueue queue(10000);
  receivers::UdpReceiver receiver("udp", {.endpoint = "127.0.0.1:0"}, telemetry::Receiver::Udp,
                                  receivers::native_decoder(), queue, counters);
  receiver.start();
  Sender sender(receiver.local_endpoint());
  for (std::uint64_t t = 0; t < 10; ++t) sender.send(datagram_of(t, 4));
  const auto got = collect(queue, 40);
  receiver.stop();
  REQUIRE(got.size() == 40);
  CHECK(got[5].name == testing::make_span(1, 1, nullptr).name);
  CHECK(got[5].resource->attributes[0].key == "service.name");
  CHECK(counters.received() == 40);
  CHECK(counters.datagrams_received.load() == 10);
}

TEST_CASE("a malformed datagram is counted and dropped, and the next one is served",
          "[receivers]") {
  telemetry::Counters counters;
  model::SpanQueue queue(10000);
  receivers::UdpReceiver receiver("udp", {.endpoint = "127.0.0.1:0"}, telemetry::Receiver::Udp,
                                  receivers::native_decoder(), queue, counters);
  receiver.start();
  Sender sender(receiver.local_endpoint());
  const std::vector<std::byte> garbage(100, std::byte{0xAB});
  sender.send(garbage);
  auto truncated = datagram_of(1, 2);
  truncated.resize(truncated.size() - 3);
  sender.send(truncated);
  sender.send(datagram_of(2, 3));
  const auto got = collect(queue, 4);  // 1 intact span of the truncated datagram + 3
  receiver.stop();
  CHECK(got.size() == 4);
  // Refusals of bad input, not lost spans: the garbage whole, the truncated datagram's last record.
  using R = telemetry::RejectReason;
  CHECK(counters.requests_rejected_of(telemetry::Receiver::Udp, R::Malformed) == 1);
  CHECK(counters.spans_rejected_of(telemetry::Receiver::Udp, R::Malformed) == 1);
  CHECK(counters.dropped_of(telemetry::DropReason::Malformed) == 0);
}

namespace {

// Sends `datagrams` and waits until the receiver has read them all.
void send_all(const std::vector<std::vector<std::byte>>& datagrams, telemetry::Counters& counters,
              model::SpanQueue& queue, model::SpanBatch& got) {
  receivers::UdpReceiver receiver("udp", {.endpoint = "127.0.0.1:0"}, telemetry::Receiver::Udp,
                                  receivers::native_decoder(), queue, counters);
  receiver.start();
  Sender sender(receiver.local_endpoint());
  for (const auto& d : datagrams) sender.send(d);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (counters.datagrams_received.load() < datagrams.size() &&
         std::chrono::steady_clock::now() < deadline) {
    queue.pop_all(got, 10ms);
  }
  receiver.stop();
  queue.pop_all(got, 10ms);
}

std::vector<std::byte> loss_datagram(std::initializer_list<std::uint64_t> counts) {
  std::vector<std::byte> d(counts.size() * 16);
  std::size_t used = 0;
  for (const auto n : counts)
    used += wire::align_record(wire::encode_loss(std::span(d).subspan(used), n));
  d.resize(used);
  return d;
}

}  // namespace

TEST_CASE("a loss record from the network is credited only up to what a datagram could hold",
          "[receivers]") {
  telemetry::Counters counters;
  model::SpanQueue queue(10000);
  model::SpanBatch got;
  // 10^18; then two records whose sum wraps 2^64 (to 4 if added plainly); then an honest 7.
  send_all({loss_datagram({1'000'000'000'000'000'000ULL}), loss_datagram({UINT64_MAX, 5}),
            loss_datagram({7})},
           counters, queue, got);
  CHECK(counters.dropped_of(telemetry::DropReason::ProducerLoss) ==
        2 * receivers::kMaxLossPerNativeDatagram + 7);
  CHECK(counters.loss_reports_capped[static_cast<std::size_t>(telemetry::Receiver::Udp)] == 2);
}

TEST_CASE("empty datagrams and spans with zero ids are refused and counted, the rest served",
          "[receivers]") {
  telemetry::Counters counters;
  model::SpanQueue queue(10000);
  model::SpanBatch got;
  const auto resource = testing::test_resource("orders");
  auto zero_trace = testing::make_span(1, 0, resource);
  zero_trace.trace_id = {};
  auto zero_span = testing::make_span(1, 1, resource);
  zero_span.span_id = {};
  std::vector<std::byte> mixed(4096);
  std::size_t used = 0;
  for (const auto& span : {zero_trace, zero_span, testing::make_span(1, 2, resource)}) {
    used += wire::align_record(wire::encode_span(span, std::span(mixed).subspan(used)));
  }
  mixed.resize(used);
  send_all({{}, mixed}, counters, queue, got);
  REQUIRE(got.size() == 1);
  CHECK(got[0].span_id == testing::make_span(1, 2, resource).span_id);
  using R = telemetry::RejectReason;
  CHECK(counters.requests_rejected_of(telemetry::Receiver::Udp, R::Empty) == 1);
  CHECK(counters.spans_rejected_of(telemetry::Receiver::Udp, R::ZeroId) == 2);
  CHECK(counters.received() == 1);
}

TEST_CASE("a full pipeline queue drops and counts instead of blocking the receiver",
          "[receivers]") {
  telemetry::Counters counters;
  model::SpanQueue queue(5);
  receivers::UdpReceiver receiver("udp", {.endpoint = "127.0.0.1:0"}, telemetry::Receiver::Udp,
                                  receivers::native_decoder(), queue, counters);
  receiver.start();
  Sender sender(receiver.local_endpoint());
  for (std::uint64_t t = 0; t < 5; ++t) sender.send(datagram_of(t, 4));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (counters.received() < 20 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  receiver.stop();
  CHECK(counters.received() == 20);
  CHECK(queue.size_spans() + counters.dropped_of(telemetry::DropReason::PipelineFull) == 20);
  CHECK(counters.dropped_of(telemetry::DropReason::PipelineFull) >= 15);
}

TEST_CASE("binding a taken port fails with the endpoint named", "[receivers]") {
  telemetry::Counters counters;
  model::SpanQueue queue(10);
  receivers::UdpReceiver first("udp", {.endpoint = "127.0.0.1:0"}, telemetry::Receiver::Udp,
                               receivers::native_decoder(), queue, counters);
  try {
    receivers::UdpReceiver second("udp", {.endpoint = first.local_endpoint()},
                                  telemetry::Receiver::Udp, receivers::native_decoder(), queue,
                                  counters);
    FAIL("second bind succeeded");
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains(first.local_endpoint()));
  }
}
