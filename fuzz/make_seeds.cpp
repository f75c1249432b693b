// Writes the seed corpora of the fuzz targets with the real encoders: valid inputs the fuzzers
// start from and mutate. Usage: fuzz_make_seeds <fuzz/corpus directory>. The output is committed.
#include <fcntl.h>
#include <sys/mman.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "jaeger/Agent.h"
#include "model/span.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "shm/ring_layout.hpp"
#include "shm/segment.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
namespace fs = std::filesystem;

namespace {

model::Span sample_span(std::uint64_t n) {
  model::Span s;
  for (std::size_t i = 0; i < s.trace_id.size(); ++i)
    s.trace_id[i] = static_cast<std::uint8_t>(n + i);
  s.span_id = {1, 2, 3, 4, 5, 6, 7, static_cast<std::uint8_t>(n)};
  if (n % 2 == 1) s.parent_span_id = {9, 9, 9, 9, 9, 9, 9, 9};
  s.parent_is_remote = n % 3 == 1;
  s.start_unix_ns = 1'700'000'000'000'000'000ULL + n;
  s.end_unix_ns = s.start_unix_ns + 250'000 * (n + 1);
  s.kind = static_cast<model::SpanKind>(n % 6);
  s.status = static_cast<model::StatusCode>(n % 3);
  s.trace_flags = 1;
  s.name = n == 0 ? "genesis.order.execute_market" : "signal_bot.risk.check";
  if (s.status == model::StatusCode::Error) s.status_message = "rejected: ÉCHEC";
  if (n % 2 == 0) s.trace_state = "ot=th:fd70a4,congo=t61rcWkgMzE";
  s.attributes = {{"order.symbol", std::string("BTCUSDT")},
                  {"order.quantity", std::int64_t{7}},
                  {"order.price", 43250.5},
                  {"risk.passed", n % 2 == 0}};
  if (n == 1) {  // arrays, one of each element type
    s.attributes.push_back(
        {"order.venues", model::ArrayValue(std::vector<std::string>{"binance", "okx"})});
    s.attributes.push_back({"order.fills", model::ArrayValue(std::vector<std::int64_t>{5, -7})});
    s.attributes.push_back({"order.prices", model::ArrayValue(std::vector<double>{0.5})});
    s.attributes.push_back({"risk.checks", model::ArrayValue(std::vector<bool>{true, false})});
  }
  s.events.push_back(
      {s.start_unix_ns + 10,
       "exception",
       {{"exception.type", std::string("ValueError")}, {"exception.escaped", true}}});
  return s;
}

std::vector<std::byte> record(const model::Span& s) {
  std::vector<std::byte> out(wire::kMaxRecordSize);
  out.resize(wire::encode_span(s, out));
  return out;
}

std::vector<std::byte> resource_record() {
  std::vector<std::byte> out(shm::kMaxResourceBytes);
  const std::vector<wire::AttributeView> attrs = {
      {"service.name", std::string_view("genesis-orders")},
      {"host.name", std::string_view("trading-1")},
      {"process.pid", std::int64_t{4242}}};
  out.resize(wire::encode_resource(out, attrs));
  return out;
}

void write(const fs::path& file, std::span<const std::byte> bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

void append_aligned(std::vector<std::byte>& out, std::span<const std::byte> rec) {
  out.insert(out.end(), rec.begin(), rec.end());
  out.resize(wire::align_record(out.size()));
}

// A Jaeger batch as a client sends it: one span with tags, a log and a reference.
std::vector<std::byte> jaeger_datagram(bool binary) {
  namespace idl = tailgate::jaeger_idl;
  namespace thrift = apache::thrift;
  idl::Tag tag;
  tag.key = "symbol";
  tag.vType = idl::TagType::STRING;
  tag.__set_vStr("BTCUSDT");
  idl::Tag number;
  number.key = "qty";
  number.vType = idl::TagType::LONG;
  number.__set_vLong(5);
  idl::Batch batch;
  batch.process.serviceName = "pricer";
  batch.process.__set_tags({tag});
  idl::Span span;
  span.traceIdHigh = 1;
  span.traceIdLow = 2;
  span.spanId = 3;
  span.parentSpanId = 4;
  span.operationName = "quote";
  span.flags = 1;
  span.startTime = 1'700'000'000'000'000;
  span.duration = 250;
  span.__set_tags({tag, number});
  idl::Log log;
  log.timestamp = span.startTime + 1;
  log.fields = {tag};
  span.__set_logs({log});
  idl::SpanRef ref;
  ref.refType = idl::SpanRefType::FOLLOWS_FROM;
  ref.traceIdHigh = 1;
  ref.traceIdLow = 2;
  ref.spanId = 9;
  span.__set_references({ref});
  batch.spans = {span};
  auto buffer = std::make_shared<thrift::transport::TMemoryBuffer>();
  std::unique_ptr<thrift::protocol::TProtocol> p;
  if (binary) {
    p = std::make_unique<thrift::protocol::TBinaryProtocol>(buffer);
  } else {
    p = std::make_unique<thrift::protocol::TCompactProtocol>(buffer);
  }
  p->writeMessageBegin("emitBatch", thrift::protocol::T_ONEWAY, 1);
  idl::Agent_emitBatch_pargs args;
  args.batch = &batch;
  args.write(p.get());
  p->writeMessageEnd();
  const auto bytes = buffer->getBufferAsString();
  std::vector<std::byte> out{std::byte{binary ? std::uint8_t{1} : std::uint8_t{0}}};
  for (const char c : bytes) out.push_back(static_cast<std::byte>(c));
  return out;
}

std::string otlp_request() {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("risk");
  auto* span = rs->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(15, '\0') + "\x01");
  span->set_span_id(std::string(7, '\0') + "\x02");
  span->set_name("check_limits");
  span->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
  span->set_start_time_unix_nano(1000);
  span->set_end_time_unix_nano(2000);
  auto* a = span->add_attributes();
  a->set_key("books");
  a->mutable_value()->mutable_array_value()->add_values()->set_string_value("fx");
  span->add_events()->set_name("recomputed");
  auto* link = span->add_links();
  link->set_trace_id(span->trace_id());
  link->set_span_id(std::string(7, '\0') + "\x03");
  return request.SerializeAsString();
}

// The request above with every other value type, a status, a trace state and dropped counts: what
// the packed decoder reads beyond it.
std::string otlp_request_every_field() {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  request.ParseFromString(otlp_request());
  auto* scope_spans = request.mutable_resource_spans(0)->mutable_scope_spans(0);
  scope_spans->mutable_scope()->set_name("io.tailgate");
  scope_spans->mutable_scope()->set_version("1.0");
  auto* span = scope_spans->mutable_spans(0);
  span->set_parent_span_id(std::string(7, '\0') + "\x04");
  span->set_trace_state("k=v");
  span->set_flags(0x301);
  span->set_dropped_attributes_count(1);
  span->set_dropped_events_count(2);
  span->mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  span->mutable_status()->set_message("failed");
  const auto add = [span](const char* key) {
    auto* kv = span->add_attributes();
    kv->set_key(key);
    return kv->mutable_value();
  };
  add("s")->set_string_value("text");
  add("i")->set_int_value(-1);
  add("d")->set_double_value(0.5);
  add("b")->set_bool_value(true);
  add("bytes")->set_bytes_value("\x01\x02");
  auto* map = add("map")->mutable_kvlist_value()->add_values();
  map->set_key("inner");
  map->mutable_value()->set_int_value(7);
  auto* event = span->add_events();
  event->set_time_unix_nano(1500);
  *event->add_attributes() = span->attributes(1);
  *span->mutable_links(0)->add_attributes() = span->attributes(2);
  return request.SerializeAsString();
}

std::string gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void write_text(const fs::path& file, char mode, const std::string& body) {
  const std::string bytes = mode + body;
  write(file, std::as_bytes(std::span(bytes)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds <corpus directory>\n";
    return 2;
  }
  const fs::path corpus = argv[1];
  const auto resource = resource_record();

  // Record payloads (what follows the 8-byte record header).
  for (std::uint64_t n = 0; n < 4; ++n) {
    const auto r = record(sample_span(n));
    write(corpus / "fuzz_wire_record" / ("span-" + std::to_string(n)),
          std::span(r).subspan(wire::kRecordHeaderSize));
  }
  write(corpus / "fuzz_wire_record" / "resource",
        std::span(resource).subspan(wire::kRecordHeaderSize));

  // Datagrams: a resource record, spans, a loss record.
  std::vector<std::byte> datagram;
  append_aligned(datagram, resource);
  for (std::uint64_t n = 0; n < 3; ++n) append_aligned(datagram, record(sample_span(n)));
  std::vector<std::byte> loss(64);
  loss.resize(wire::encode_loss(loss, 17));
  append_aligned(datagram, loss);
  write(corpus / "fuzz_wire_datagram" / "resource-spans-loss", datagram);
  write(corpus / "fuzz_wire_datagram" / "one-span", record(sample_span(1)));

  // A ring segment's lanes after real writes: two own lanes (one wrapped) and the overflow lane.
  char dir[] = "/tmp/tailgate-seeds-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return 1;
  {
    auto segment = shm::Segment::create(
        {.directory = dir, .lanes = 2, .lane_bytes = 4096, .resource = resource});
    auto lane0 = segment->claim_lane();
    auto overflow = segment->overflow_lane();
    for (std::uint64_t n = 0; n < 6; ++n) {
      (void)lane0.try_write(record(sample_span(n)));
      (void)overflow.try_write(record(sample_span(n + 1)));
    }
    auto reader = segment->reader(0);  // consume some so that later writes wrap
    (void)reader.drain([](wire::RecordType, std::span<const std::byte>) {}, 4);
    for (std::uint64_t n = 0; n < 8; ++n) (void)lane0.try_write(record(sample_span(n)));
    const auto bytes = shm::segment_bytes(2, 4096);
    const int fd = ::open(segment->path().c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<std::byte> file(bytes);
    if (::pread(fd, file.data(), bytes, 0) != static_cast<ssize_t>(bytes)) return 1;
    ::close(fd);
    // The fuzzer's input: the header's first 64 bytes, flags and a size selector (0: the size
    // the header claims), then the file from the first lane on.
    std::vector<std::byte> seed(file.begin(), file.begin() + shm::kResourceOffset);
    seed.resize(seed.size() + 3);
    seed.insert(seed.end(), file.begin() + shm::kHeaderBytes, file.end());
    write(corpus / "fuzz_ring_segment" / "two-lanes-and-overflow", seed);
    ::unlink(segment->path().c_str());
  }
  fs::remove_all(dir);
  // Jaeger datagrams in both protocols; OTLP/HTTP bodies in each encoding (first byte: the mode).
  for (const char* target : {"fuzz_jaeger_thrift", "fuzz_jaeger_packed"}) {
    write(corpus / target / "compact", jaeger_datagram(false));
    write(corpus / target / "binary", jaeger_datagram(true));
  }
  const auto request = otlp_request();
  const std::string json =
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
      R"({"stringValue":"gw"}}]},"scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":)"
      R"("0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000002","parentSpanId":)"
      R"("0000000000000001","name":"route","kind":3,"startTimeUnixNano":"1000",)"
      R"("endTimeUnixNano":"2000","attributes":[{"key":"n","value":{"intValue":"42"}}],)"
      R"("links":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000009"}],)"
      R"("status":{"code":2}}]}]}]})";
  write_text(corpus / "fuzz_otlp_http" / "protobuf", '\0', request);
  write_text(corpus / "fuzz_otlp_http" / "json", '\1', json);
  write_text(corpus / "fuzz_otlp_http" / "protobuf-gzip", '\2', gzip(request));
  write_text(corpus / "fuzz_otlp_http" / "json-gzip", '\3', gzip(json));
  // The packed decoder's input is a request's bytes alone.
  const auto every_field = otlp_request_every_field();
  write(corpus / "fuzz_otlp_packed" / "request", std::as_bytes(std::span(request)));
  write(corpus / "fuzz_otlp_packed" / "every-field", std::as_bytes(std::span(every_field)));
  std::cout << "seeds written under " << corpus << "\n";
  return 0;
}
