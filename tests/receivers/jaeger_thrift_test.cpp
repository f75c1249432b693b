// Jaeger emitBatch datagrams made with Apache Thrift's own writer (compact and binary), decoded by
// the receiver's decoder; then hostile ones made by hand, byte by byte. A real UDP socket at the
// end: a Jaeger receiver bound on 127.0.0.1 serves the next datagram after garbage.
#include "receivers/jaeger_thrift.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "receivers/udp_receiver.hpp"
#include "support/jaeger_datagrams.hpp"
#include "wire/decode.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using namespace tailgate::testing::jaeger_datagrams;
using receivers::jaeger::decode_emit_batch;

namespace {

// The receivers' decoder (packed), or the libthrift reference; spans unpacked either way.
receivers::jaeger::DecodeResult decode_unpacked(bool packed, std::span<const std::byte> datagram,
                                                Protocol protocol, model::SpanBatch& out) {
  const auto r = packed ? decode_emit_batch(datagram, protocol, out)
                        : receivers::jaeger::decode_emit_batch_thrift(datagram, protocol, out);
  for (auto& s : out) REQUIRE(wire::unpack(s) == wire::DecodeError::None);
  return r;
}

std::string hex(const auto& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const auto b : id) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

/// A UDP socket sending datagrams to a receiver on 127.0.0.1.
class Sender {
 public:
  explicit Sender(const receivers::UdpReceiver& receiver) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    const auto& endpoint = receiver.local_endpoint();
    to_.sin_family = AF_INET;
    to_.sin_port =
        htons(static_cast<std::uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1))));
    ::inet_pton(AF_INET, "127.0.0.1", &to_.sin_addr);
  }
  ~Sender() { ::close(fd_); }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;
  void send(std::span<const std::byte> datagram) const {
    ::sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<const sockaddr*>(&to_),
             sizeof to_);
  }

 private:
  int fd_;
  sockaddr_in to_{};
};

const model::Attribute* find(const std::vector<model::Attribute>& list, const std::string& key) {
  for (const auto& a : list)
    if (a.key == key) return &a;
  return nullptr;
}

}  // namespace

TEST_CASE("an emitBatch in either protocol maps to the span model", "[receivers][jaeger]") {
  const auto protocol = GENERATE(Protocol::Compact, Protocol::Binary);
  const bool packed = GENERATE(true, false);
  model::SpanBatch out;
  const auto r = decode_unpacked(packed, emit_batch(protocol, sample_batch()), protocol, out);
  REQUIRE(r.error.empty());
  REQUIRE(r.spans == 2);
  REQUIRE(out.size() == 2);
  const auto& root = out[0];
  const auto& child = out[1];
  CHECK(hex(root.trace_id) == "0102030405060708f1f2f3f4f5f6f7f8");
  CHECK(hex(root.span_id) == "0000000000000011");
  CHECK(root.is_root());
  CHECK(root.name == "quote");
  CHECK(root.kind == model::SpanKind::Server);
  CHECK(root.trace_flags == 1);
  CHECK(root.start_unix_ns == 1'700'000'000'000'000'000ull);
  CHECK(root.duration_ns() == 2'500'000);
  CHECK(find(root.attributes, "span.kind") == nullptr);  // became the kind
  CHECK(std::get<std::int64_t>(find(root.attributes, "qty")->value) == 5);
  CHECK(std::get<double>(find(root.attributes, "px")->value) == 101.5);
  CHECK(std::get<bool>(find(root.attributes, "firm")->value));
  CHECK(root.status == model::StatusCode::Unset);

  CHECK(hex(child.parent_span_id) == "0000000000000011");  // from the CHILD_OF reference
  CHECK(!child.parent_is_remote);
  CHECK(child.status == model::StatusCode::Error);
  CHECK(find(child.attributes, "error") == nullptr);
  REQUIRE(child.links.size() == 1);
  CHECK(hex(child.links[0].trace_id) == "00000000000000000000000000000099");
  CHECK(hex(child.links[0].span_id) == "0000000000000098");
  CHECK(std::get<std::string>(child.links[0].attributes.at(0).value) == "follows_from");
  REQUIRE(child.events.size() == 1);
  CHECK(child.events[0].name == "cache_miss");
  CHECK(child.events[0].time_unix_ns == root.start_unix_ns + 110'000);
  REQUIRE(child.events[0].attributes.size() == 1);
  CHECK(child.events[0].attributes[0].key == "key");

  REQUIRE(root.resource == child.resource);  // one resource for the batch
  const auto& resource = root.resource->attributes;
  CHECK(resource.at(0).key == "service.name");
  CHECK(std::get<std::string>(resource.at(0).value) == "pricer");
  CHECK(std::get<std::string>(find(resource, "hostname")->value) == "box1");
}

TEST_CASE("a datagram near the 65,000-byte limit decodes whole", "[receivers][jaeger]") {
  auto batch = sample_batch();
  const auto one = batch.spans[0];
  batch.spans.clear();
  for (std::int64_t i = 1; batch.spans.size() < 2000; ++i) {
    auto span = one;
    span.spanId = i;
    batch.spans.push_back(span);
    if (emit_batch(Protocol::Compact, batch).size() > 64'000) {
      batch.spans.pop_back();
      break;
    }
  }
  const auto datagram = emit_batch(Protocol::Compact, batch);
  REQUIRE(datagram.size() > 60'000);
  REQUIRE(datagram.size() <= 65'000);
  model::SpanBatch out;
  CHECK(decode_emit_batch(datagram, Protocol::Compact, out).spans == batch.spans.size());
}

TEST_CASE("a server span with a parent is where the trace enters this process",
          "[receivers][jaeger]") {
  auto batch = sample_batch();
  batch.spans[0].parentSpanId = 0x77;  // the server span's caller is elsewhere
  model::SpanBatch out;
  REQUIRE(decode_emit_batch(emit_batch(Protocol::Compact, batch), Protocol::Compact, out).spans ==
          2);
  CHECK(out[0].parent_is_remote);
  CHECK(out[0].is_local_root());
}

TEST_CASE("tags with an OTLP meaning become span fields", "[receivers][jaeger]") {
  auto batch = sample_batch();
  batch.spans.resize(1);
  batch.spans[0].__set_tags({tag("otel.status_code", std::string("ERROR")),
                             tag("otel.status_description", std::string("rejected by venue")),
                             tag("w3c.tracestate", std::string("ot=th:8")),
                             tag("span.kind", std::string("producer")), tag("error", false)});
  model::SpanBatch out;
  decode_unpacked(GENERATE(true, false), emit_batch(Protocol::Binary, batch), Protocol::Binary,
                  out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status == model::StatusCode::Error);
  CHECK(out[0].status_message == "rejected by venue");
  CHECK(out[0].trace_state == "ot=th:8");
  CHECK(out[0].kind == model::SpanKind::Producer);
  CHECK(out[0].attributes.empty());
}

TEST_CASE("times past what nanoseconds can hold saturate instead of wrapping",
          "[receivers][jaeger]") {
  auto batch = sample_batch();
  batch.spans.resize(1);
  batch.spans[0].startTime = std::numeric_limits<std::int64_t>::max();
  batch.spans[0].duration = std::numeric_limits<std::int64_t>::max();
  model::SpanBatch out;
  REQUIRE(decode_emit_batch(emit_batch(Protocol::Compact, batch), Protocol::Compact, out).spans ==
          1);
  CHECK(out[0].end_unix_ns >= out[0].start_unix_ns);
  batch.spans[0].startTime = -5;
  batch.spans[0].duration = -5;
  out.clear();
  decode_emit_batch(emit_batch(Protocol::Compact, batch), Protocol::Compact, out);
  CHECK(out.at(0).start_unix_ns == 0);
  CHECK(out.at(0).end_unix_ns == 0);
}

TEST_CASE("spans without ids are refused one by one, the rest of the batch is kept",
          "[receivers][jaeger]") {
  auto batch = sample_batch();
  batch.spans[0].spanId = 0;
  model::SpanBatch out;
  const auto r = decode_emit_batch(emit_batch(Protocol::Compact, batch), Protocol::Compact, out);
  CHECK(r.spans == 1);
  CHECK(r.zero_ids == 1);  // counted as rejected{zero_id}, not as a malformed datagram
  CHECK(r.malformed == 0);
  CHECK(out.size() == 1);
}

TEST_CASE("a datagram cut anywhere adds nothing and never crashes", "[receivers][jaeger]") {
  const auto protocol = GENERATE(Protocol::Compact, Protocol::Binary);
  const auto whole = emit_batch(protocol, sample_batch());
  for (std::size_t n = 0; n < whole.size(); ++n) {
    model::SpanBatch out;
    const auto r = decode_emit_batch(std::span(whole).first(n), protocol, out);
    INFO("cut at " << n << " of " << whole.size());
    CHECK(r.malformed == 1);
    CHECK(r.spans == 0);
    CHECK(out.empty());
  }
}

TEST_CASE("the wrong protocol, call or message type is refused", "[receivers][jaeger]") {
  model::SpanBatch out;
  const auto compact = emit_batch(Protocol::Compact, sample_batch());
  CHECK(decode_emit_batch(compact, Protocol::Binary, out).malformed == 1);
  const auto binary = emit_batch(Protocol::Binary, sample_batch());
  CHECK(decode_emit_batch(binary, Protocol::Compact, out).malformed == 1);
  const auto zipkin = message(Protocol::Compact, "emitZipkinBatch", thrift::protocol::T_ONEWAY,
                              [](thrift::protocol::TProtocol& p) {
                                p.writeStructBegin("args");
                                p.writeFieldStop();
                                p.writeStructEnd();
                              });
  const auto r = decode_emit_batch(zipkin, Protocol::Compact, out);
  CHECK(r.malformed == 1);
  CHECK_THAT(r.error, Catch::Matchers::Contains("emitZipkinBatch"));
  const auto reply = message(Protocol::Compact, "emitBatch", thrift::protocol::T_REPLY,
                             [](thrift::protocol::TProtocol&) {});
  CHECK(decode_emit_batch(reply, Protocol::Compact, out).malformed == 1);
  CHECK(out.empty());
}

TEST_CASE("hostile lengths, counts and nesting are refused without allocating for them",
          "[receivers][jaeger]") {
  model::SpanBatch out;
  SECTION("a string claiming 2 GiB (binary)") {
    // Strict header: version | ONEWAY, then a name length far past the datagram.
    const std::vector<std::uint8_t> bytes = {0x80, 0x01, 0x00, 0x04, 0x7F, 0xFF,
                                             0xFF, 0xF0, 'e',  'm',  'i',  't'};
    const auto r = decode_emit_batch(std::as_bytes(std::span(bytes)), Protocol::Binary, out);
    CHECK(r.malformed == 1);
  }
  SECTION("a list claiming 2^31 spans (compact)") {
    // emitBatch args: field 1 struct (Batch) → field 1 struct (Process) → stop; field 2 list of
    // structs with a varint count of 0x7FFFFFFF.
    std::vector<std::uint8_t> bytes = {0x82, 0x81, 0x00, 0x09, 'e',  'm',  'i',  't',  'B',
                                       'a',  't',  'c',  'h',  0x1C, 0x1C, 0x18, 0x01, 'p',
                                       0x00, 0x19, 0xFC, 0xFF, 0xFF, 0xFF, 0xFF, 0x07};
    const auto r = decode_emit_batch(std::as_bytes(std::span(bytes)), Protocol::Compact, out);
    CHECK(r.malformed == 1);
  }
  SECTION("structs nested ten thousand deep in an unknown field (compact)") {
    std::vector<std::uint8_t> bytes = {0x82, 0x81, 0x00, 0x09, 'e', 'm', 'i',
                                       't',  'B',  'a',  't',  'c', 'h'};
    // Field 5 (unknown) of type struct, whose field 1 is a struct, ... ten thousand times.
    bytes.push_back(0x5C);
    for (int i = 0; i < 10'000; ++i) bytes.push_back(0x1C);
    const auto r = decode_emit_batch(std::as_bytes(std::span(bytes)), Protocol::Compact, out);
    CHECK(r.malformed == 1);
  }
  SECTION("a field of the wrong type leaves a required field unset") {
    // Batch { 1: process as an i32 (skipped: wrong type), 2: an empty list of spans }: valid
    // Thrift, but the Batch's required process is missing.
    const std::vector<std::uint8_t> bytes = {0x82, 0x81, 0x00, 0x09, 'e',  'm', 'i',
                                             't',  'B',  'a',  't',  'c',  'h', 0x1C,
                                             0x15, 0x0E, 0x19, 0x0C, 0x00, 0x00};
    const auto r = decode_emit_batch(std::as_bytes(std::span(bytes)), Protocol::Compact, out);
    CHECK(r.malformed == 1);
    CHECK_THAT(r.error, Catch::Matchers::Contains("Invalid data"));
  }
  CHECK(out.empty());
}

TEST_CASE("a Jaeger receiver on a real socket serves the next datagram after garbage",
          "[receivers][jaeger]") {
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  receivers::UdpReceiver receiver("jaeger_compact", {.endpoint = "127.0.0.1:0"},
                                  telemetry::Receiver::JaegerCompact,
                                  receivers::jaeger::decoder(Protocol::Compact), queue, counters);
  receiver.start();
  Sender sender(receiver);
  const std::vector<std::byte> garbage(500, std::byte{0x82});
  sender.send(garbage);
  sender.send(emit_batch(Protocol::Compact, sample_batch()));
  model::SpanBatch got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.size() < 2 && std::chrono::steady_clock::now() < deadline) queue.pop_all(got, 10ms);
  receiver.stop();
  CHECK(got.size() == 2);
  CHECK(counters.spans_received[static_cast<std::size_t>(telemetry::Receiver::JaegerCompact)] == 2);
  // A refusal of bad input, not a lost span.
  CHECK(counters.requests_rejected_of(telemetry::Receiver::JaegerCompact,
                                      telemetry::RejectReason::Malformed) == 1);
  CHECK(counters.dropped_of(telemetry::DropReason::Malformed) == 0);
}

TEST_CASE("empty datagrams, empty batches and zero ids are refused and counted",
          "[receivers][jaeger]") {
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  receivers::UdpReceiver receiver("jaeger_compact", {.endpoint = "127.0.0.1:0"},
                                  telemetry::Receiver::JaegerCompact,
                                  receivers::jaeger::decoder(Protocol::Compact), queue, counters);
  receiver.start();
  Sender sender(receiver);
  sender.send({});                                           // zero bytes
  sender.send(emit_batch(Protocol::Compact, idl::Batch{}));  // parses: no spans, no stats
  auto zero = sample_batch();
  zero.spans[0].traceIdLow = 0;
  zero.spans[0].traceIdHigh = 0;
  sender.send(emit_batch(Protocol::Compact, zero));
  model::SpanBatch got;
  const auto done = [&] { return counters.datagrams_received.load() == 3; };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < deadline) queue.pop_all(got, 10ms);
  receiver.stop();
  queue.pop_all(got, 10ms);
  CHECK(got.size() == 1);
  using R = telemetry::RejectReason;
  CHECK(counters.requests_rejected_of(telemetry::Receiver::JaegerCompact, R::Empty) == 2);
  CHECK(counters.spans_rejected_of(telemetry::Receiver::JaegerCompact, R::ZeroId) == 1);
  CHECK(counters.dropped_of(telemetry::DropReason::Malformed) == 0);
}

TEST_CASE("a client's reported drops are credited only up to what a datagram could have held",
          "[receivers][jaeger]") {
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  receivers::UdpReceiver receiver("jaeger_binary", {.endpoint = "127.0.0.1:0"},
                                  telemetry::Receiver::JaegerBinary,
                                  receivers::jaeger::decoder(Protocol::Binary), queue, counters);
  receiver.start();
  Sender sender(receiver);
  auto batch = sample_batch();
  batch.process.tags.push_back(tag("client-uuid", std::string("liar")));
  idl::ClientStats stats;
  stats.fullQueueDroppedSpans = 1'000'000'000'000'000'000;  // 10^18
  stats.tooLargeDroppedSpans = INT64_MAX;                   // with the others: past 2^64
  stats.failedToEmitSpans = INT64_MAX;
  batch.__set_stats(stats);
  sender.send(emit_batch(Protocol::Binary, batch));
  model::SpanBatch got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.size() < 2 && std::chrono::steady_clock::now() < deadline) queue.pop_all(got, 10ms);
  receiver.stop();
  CHECK(got.size() == 2);
  CHECK(counters.dropped_of(telemetry::DropReason::ProducerLoss) == receivers::kMaxLossPerDatagram);
  CHECK(counters.loss_reports_capped[static_cast<std::size_t>(telemetry::Receiver::JaegerBinary)] ==
        1);
  CHECK(receivers::jaeger::ClientStats{.client_uuid = "x",
                                       .full_queue = UINT64_MAX,
                                       .too_large = 5,
                                       .failed_to_emit = UINT64_MAX}
            .total() == UINT64_MAX);  // saturates, never wraps
}

TEST_CASE("a client's reported drops are read with its client-uuid", "[receivers][jaeger]") {
  auto batch = sample_batch();
  idl::ClientStats stats;
  stats.fullQueueDroppedSpans = 7;
  stats.tooLargeDroppedSpans = 2;
  stats.failedToEmitSpans = -5;  // nonsense from the wire counts as none
  batch.__set_stats(stats);
  model::SpanBatch out;
  SECTION("with an id") {
    batch.process.tags.push_back(tag("client-uuid", std::string("4f2a-client")));
    const auto r = receivers::jaeger::decode_emit_batch(emit_batch(Protocol::Binary, batch),
                                                        Protocol::Binary, out);
    REQUIRE(r.client.has_value());
    CHECK(r.client->client_uuid == "4f2a-client");
    CHECK(r.client->total() == 9);
    CHECK(r.spans == 2);
  }
  SECTION("without one, or without stats: nothing to count") {
    CHECK(!receivers::jaeger::decode_emit_batch(emit_batch(Protocol::Compact, batch),
                                                Protocol::Compact, out)
               .client);
    CHECK(!receivers::jaeger::decode_emit_batch(emit_batch(Protocol::Compact, sample_batch()),
                                                Protocol::Compact, out)
               .client);
  }
}

TEST_CASE("clients' drop totals count once each, per client, across restarts",
          "[receivers][jaeger]") {
  receivers::jaeger::ClientLosses losses;
  const auto report = [&](const std::string& id, std::uint64_t full, std::uint64_t large) {
    return losses.add({.client_uuid = id, .full_queue = full, .too_large = large});
  };
  CHECK(report("a", 5, 1) == 6);  // first report: its totals whole
  CHECK(report("a", 5, 1) == 0);  // nothing new
  CHECK(report("b", 3, 0) == 3);  // another client, its own totals
  CHECK(report("a", 9, 2) == 5);  // what is new since the last report
  CHECK(report("a", 1, 0) == 1);  // went down: the client started again under that id
  CHECK(report("a", 4, 0) == 3);
  for (std::size_t i = 0; i < receivers::jaeger::ClientLosses::kMaxClients + 10; ++i) {
    CHECK(report("many-" + std::to_string(i), 1, 0) == 1);  // bounded, never a crash
  }
}

TEST_CASE("a Jaeger receiver counts what its clients say they dropped", "[receivers][jaeger]") {
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  receivers::UdpReceiver receiver("jaeger_binary", {.endpoint = "127.0.0.1:0"},
                                  telemetry::Receiver::JaegerBinary,
                                  receivers::jaeger::decoder(Protocol::Binary), queue, counters);
  receiver.start();
  Sender sender(receiver);
  auto batch = sample_batch();
  batch.process.tags.push_back(tag("client-uuid", std::string("node-client-1")));
  idl::ClientStats stats;
  stats.fullQueueDroppedSpans = 10;
  stats.tooLargeDroppedSpans = 1;
  stats.failedToEmitSpans = 0;
  for (const std::int64_t full : {10, 10, 25}) {  // reports 11, then 11 (nothing new), then 26
    stats.fullQueueDroppedSpans = full;
    batch.__set_stats(stats);
    sender.send(emit_batch(Protocol::Binary, batch));
  }
  model::SpanBatch got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.size() < 6 && std::chrono::steady_clock::now() < deadline) queue.pop_all(got, 10ms);
  receiver.stop();
  CHECK(got.size() == 6);
  CHECK(counters.dropped_of(telemetry::DropReason::ProducerLoss) == 26);
}
