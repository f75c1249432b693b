// The agent's per-span work on each input path, over a fixed prepared input: the receiver's own
// decode entry point (ring: wire::decode_span as the ring receiver calls it per record; UDP:
// native_decoder(); OTLP/HTTP: handle_otlp_http; OTLP/gRPC: a real OtlpGrpcReceiver in this
// process; Jaeger: jaeger::decoder, compact protocol; jaeger_thrift: the libthrift reference
// decoder, decode_emit_batch_thrift, on the same datagrams), then the sampling stage
// (Pipeline::ingest, tick, flush at the default policies). Made to be counted by callgrind
// (bench/count_instructions.sh): counted_decode() and counted_sample() are not inlined, and for
// gRPC the count is taken inside the receiver's Export handler, so the client's side is left out.
// Without callgrind it reports CPU time per span and the bytes a decoded span holds
// (model::memory_bytes), for a look; asserts only that every span arrived.
// With --memory it reports instead what buffering costs on the path: the input taken in one
// request (record, datagram) at a time by a stage that decides nothing yet (its waits an hour, no
// memory bound), as a burst of traces waiting for their roots; VmRSS growth over the spans held
// (past the first request, which warms the receiver and the stage's tables), beside the bytes the
// path's encoding took per span and the bytes the trace table accounts per span. --junk-keys N
// first buffers one trace whose spans carry N keys never seen again (an attack that fills the
// attribute key table).
//
//   ingest_bench --path ring|udp|otlp_http|otlp_grpc|jaeger|jaeger_thrift [--traces N] [--memory]
//                [--junk-keys N]
#include <malloc.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench_spans.hpp"
#include "export/otlp_mapping.hpp"
#include "jaeger/Agent.h"
#include "model/span_queue.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "pipeline/pipeline.hpp"
#include "receivers/jaeger_thrift.hpp"
#include "receivers/otlp_grpc_receiver.hpp"
#include "receivers/otlp_http_receiver.hpp"
#include "receivers/udp_receiver.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
namespace pb = opentelemetry::proto::collector::trace::v1;
namespace idl = tailgate::jaeger_idl;

namespace {

constexpr std::size_t kSpansPerRequest = 512;  // as an SDK's batch processor sends them

using Input = std::vector<std::vector<std::byte>>;  // records, datagrams or request bodies

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* b = reinterpret_cast<const std::byte*>(s.data());
  return {b, b + s.size()};
}

// Ring: one span record each, as a producer writes them into its lane.
Input ring_records(const std::vector<model::Span>& spans) {
  Input out;
  std::vector<std::byte> buffer(wire::kMaxRecordSize);
  for (const auto& s : spans) {
    const auto n = wire::encode_span(s, buffer);
    if (n == 0) std::abort();
    out.emplace_back(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return out;
}

// UDP: a resource record, then as many span records as fit a datagram.
Input udp_datagrams(const std::vector<model::Span>& spans) {
  Input out;
  std::vector<std::byte> buffer(wire::kMaxRecordSize);
  const auto records = ring_records(spans);
  for (std::size_t at = 0; at < records.size();) {
    std::vector<std::byte> datagram(
        buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(
                                             wire::encode_resource(*spans[0].resource, buffer)));
    for (; at < records.size() && datagram.size() + records[at].size() <= 60'000; ++at) {
      datagram.resize(wire::align_record(datagram.size()));
      datagram.insert(datagram.end(), records[at].begin(), records[at].end());
    }
    out.push_back(std::move(datagram));
  }
  return out;
}

// OTLP: ExportTraceServiceRequest bodies of 512 spans, as the exporter writes them.
Input otlp_requests(const std::vector<model::Span>& spans) {
  Input out;
  for (std::size_t at = 0; at < spans.size(); at += kSpansPerRequest) {
    const auto n = std::min(kSpansPerRequest, spans.size() - at);
    out.push_back(bytes_of(exporter::encode_request(std::span(spans).subspan(at, n))));
  }
  return out;
}

idl::Tag jaeger_tag(const model::Attribute& a) {
  idl::Tag t;
  t.key = a.key;
  if (const auto* s = std::get_if<std::string>(&a.value)) {
    t.vType = idl::TagType::STRING;
    t.__set_vStr(*s);
  } else if (const auto* i = std::get_if<std::int64_t>(&a.value)) {
    t.vType = idl::TagType::LONG;
    t.__set_vLong(*i);
  } else if (const auto* d = std::get_if<double>(&a.value)) {
    t.vType = idl::TagType::DOUBLE;
    t.__set_vDouble(*d);
  } else {
    t.vType = idl::TagType::BOOL;
    t.__set_vBool(std::get<bool>(a.value));
  }
  return t;
}

std::int64_t id64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return static_cast<std::int64_t>(v);
}

// Jaeger: emitBatch datagrams (compact protocol) of 64 spans, written by Thrift's own writer.
Input jaeger_datagrams(const std::vector<model::Span>& spans) {
  Input out;
  for (std::size_t at = 0; at < spans.size(); at += 64) {
    idl::Batch batch;
    batch.process.serviceName = "orders";
    for (std::size_t i = at; i < std::min(at + 64, spans.size()); ++i) {
      const auto& s = spans[i];
      idl::Span j;
      j.traceIdHigh = id64(s.trace_id.data());
      j.traceIdLow = id64(s.trace_id.data() + 8);
      j.spanId = id64(s.span_id.data());
      j.parentSpanId = id64(s.parent_span_id.data());
      j.operationName = s.name;
      j.flags = 1;
      j.startTime = static_cast<std::int64_t>(s.start_unix_ns / 1000);
      j.duration = static_cast<std::int64_t>((s.end_unix_ns - s.start_unix_ns) / 1000);
      std::vector<idl::Tag> tags;
      for (const auto& a : s.attributes) tags.push_back(jaeger_tag(a));
      if (s.status == model::StatusCode::Error) tags.push_back(jaeger_tag({"error", true}));
      j.__set_tags(tags);
      batch.spans.push_back(std::move(j));
    }
    auto buffer = std::make_shared<apache::thrift::transport::TMemoryBuffer>();
    apache::thrift::protocol::TCompactProtocol p(buffer);
    p.writeMessageBegin("emitBatch", apache::thrift::protocol::T_ONEWAY, 0);
    idl::Agent_emitBatch_pargs args;
    args.batch = &batch;
    args.write(&p);
    p.writeMessageEnd();
    out.push_back(bytes_of(buffer->getBufferAsString()));
  }
  return out;
}

// What is counted: the receiver's decode of every input, into `out`.
[[gnu::noinline]] void counted_decode(const std::string& path, const Input& input,
                                      model::SpanBatch& out) {
  if (path == "ring") {
    const auto resource = std::make_shared<const model::Resource>();
    for (const auto& r : input) {
      const auto payload = std::span(r).subspan(wire::kRecordHeaderSize);
      if (wire::decode_span(payload, resource, out.emplace_back(), wire::Items::Packed) !=
          wire::DecodeError::None)
        out.pop_back();
    }
  } else if (path == "udp" || path == "jaeger") {
    const auto decoder = path == "udp"
                             ? receivers::native_decoder()
                             : receivers::jaeger::decoder(receivers::jaeger::Protocol::Compact);
    for (const auto& d : input) decoder(d, out);
  } else if (path == "jaeger_thrift") {
    for (const auto& d : input) {
      receivers::jaeger::decode_emit_batch_thrift(d, receivers::jaeger::Protocol::Compact, out);
    }
  } else if (path == "otlp_http") {
    telemetry::Counters counters;
    model::SpanQueue queue(1u << 24);
    for (const auto& body : input) {
      const std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
      receivers::handle_otlp_http("POST", "/v1/traces", "application/x-protobuf", "", text,
                                  64u << 20, queue, counters);
    }
    queue.pop_all(out, std::chrono::milliseconds(0));
  }
}

// OTLP/gRPC: requests through a real receiver on loopback.
class GrpcPath {
 public:
  GrpcPath()
      : queue_(1u << 24),
        receiver_(config::OtlpReceiverConfig{.enabled = true,
                                             .endpoint = "127.0.0.1:0",
                                             .max_request_bytes = 64u << 20,
                                             .max_inflight_requests = 4},
                  queue_, counters_),
        stub_(pb::TraceService::NewStub(
            grpc::CreateChannel(receiver_.local_endpoint(), grpc::InsecureChannelCredentials()))) {}
  ~GrpcPath() { receiver_.stop(); }
  GrpcPath(const GrpcPath&) = delete;
  GrpcPath& operator=(const GrpcPath&) = delete;
  void send(const std::vector<std::byte>& body) {
    pb::ExportTraceServiceRequest request;
    if (!request.ParseFromArray(body.data(), static_cast<int>(body.size()))) std::abort();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    pb::ExportTraceServiceResponse response;
    if (!stub_->Export(&context, request, &response).ok()) std::abort();
  }
  void take(model::SpanBatch& out) { queue_.pop_all(out, std::chrono::milliseconds(0)); }

 private:
  telemetry::Counters counters_;
  model::SpanQueue queue_;
  receivers::OtlpGrpcReceiver receiver_;
  std::unique_ptr<pb::TraceService::Stub> stub_;
};

// Callgrind counts inside the receiver's Export handler (the client's serialization and the
// transport around it are not the agent's per-span work we compare).
void decode_grpc(const Input& input, model::SpanBatch& out) {
  GrpcPath grpc;
  for (const auto& body : input) grpc.send(body);
  grpc.take(out);
}

// What is counted: the sampling stage over the decoded spans, 512 at a time, each chunk's
// decision_wait passing before the next (bench::feed_stage, as pipeline_bench's). The stage is made
// before: its tables' set-up is not per-span work.
[[gnu::noinline]] void counted_sample(pipeline::Pipeline& stage, model::SpanBatch& spans) {
  bench::feed_stage(stage, spans);
}

double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::size_t vm_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

// --memory: see the top of the file.
// A trace of spans of 100 attributes each, `keys` keys in all, every one new.
model::SpanBatch junk_spans(std::size_t keys) {
  model::SpanBatch spans;
  for (std::size_t k = 0; k < keys; ++k) {
    if (k % 100 == 0) {
      auto& s = spans.emplace_back();
      s.trace_id.fill(0xEE);
      s.span_id[0] = static_cast<std::uint8_t>(spans.size());
      s.span_id[1] = static_cast<std::uint8_t>(spans.size() >> 8);
      s.parent_span_id[0] = 1;  // not a root: waits
      s.name = "junk";
    }
    spans.back().attributes.push_back({"junk.key." + std::to_string(k), std::int64_t{1}});
  }
  return spans;
}

int measure_memory(const std::string& path, const Input& input, std::size_t spans,
                   std::size_t junk_keys) {
  config::SamplingConfig config;  // the default policies, deciding nothing within the run
  config.decision_wait = std::chrono::hours(1);
  config.max_trace_age = std::chrono::hours(1);
  config.max_buffered_bytes = std::size_t{1} << 40;
  telemetry::Counters counters;
  model::SpanQueue in(1), out(1);
  pipeline::Pipeline stage(config, in, 1, out, counters, [] { return 0; });
  std::optional<GrpcPath> grpc;
  if (path == "otlp_grpc") grpc.emplace();
  model::SpanBatch batch;
  std::size_t rss_before = 0, held_before = 0, encoded = 0, heap_before = 0;
  if (junk_keys > 0) {
    auto junk = junk_spans(junk_keys);
    stage.ingest(junk, 0);
  }
  // Ring records come one per span: taken 512 at a time (a drain of a lane), one producer's
  // resource each, as the ring receiver has one per producer.
  const std::size_t step = path == "ring" ? kSpansPerRequest : 1;
  for (std::size_t i = 0; i < input.size(); i += step) {
    const Input part(input.begin() + static_cast<std::ptrdiff_t>(i),
                     input.begin() + static_cast<std::ptrdiff_t>(std::min(i + step, input.size())));
    for (const auto& p : part) encoded += p.size();
    if (grpc) {
      grpc->send(part[0]);
      grpc->take(batch);
    } else {
      counted_decode(path, part, batch);
    }
    stage.ingest(batch, 0);
    stage.flush();  // kept (error) traces leave: the exporter's queue is full, they are dropped
    if (i == 0) {
      ::malloc_trim(0);
      rss_before = vm_rss_bytes();
      heap_before = ::mallinfo2().uordblks;
      held_before = stage.table().spans();
    }
  }
  // Error traces are kept at once (the fast path); every other span is held.
  const auto held = stage.table().spans();
  ::malloc_trim(0);
  if (held < spans * 9 / 10 || stage.stressed()) {
    std::fprintf(stderr, "%s: %zu of %zu spans held\n", path.c_str(), held, spans);
    return 1;
  }
  std::printf(
      "path %s spans_held %zu encoded_bytes_per_span %.0f rss_bytes_per_buffered_span %.0f "
      "accounted_bytes_per_span %.0f heap_in_use_per_span %.0f\n",
      path.c_str(), held, static_cast<double>(encoded) / static_cast<double>(spans),
      static_cast<double>(vm_rss_bytes() - rss_before) / static_cast<double>(held - held_before),
      static_cast<double>(stage.table().bytes()) / static_cast<double>(held),
      static_cast<double>(::mallinfo2().uordblks - heap_before) /
          static_cast<double>(held - held_before));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  std::size_t traces = 1024;
  bool memory = false;
  std::size_t junk_keys = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--memory") memory = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--memory") {
      --i;
    } else if (a == "--path") {
      path = argv[i + 1];
    } else if (a == "--traces") {
      traces = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (a == "--junk-keys") {
      junk_keys = std::strtoul(argv[i + 1], nullptr, 10);
    }
  }
  const auto spans = bench::make_traces(traces, 4, 42);
  Input input;
  if (path == "ring") {
    input = ring_records(spans);
  } else if (path == "udp") {
    input = udp_datagrams(spans);
  } else if (path == "otlp_http" || path == "otlp_grpc") {
    input = otlp_requests(spans);
  } else if (path == "jaeger" || path == "jaeger_thrift") {
    input = jaeger_datagrams(spans);
  } else {
    std::fprintf(stderr,
                 "usage: ingest_bench --path ring|udp|otlp_http|otlp_grpc|jaeger|jaeger_thrift "
                 "[--traces N] [--memory] [--junk-keys N]\n");
    return 2;
  }
  if (memory) return measure_memory(path, input, spans.size(), junk_keys);
  model::SpanBatch decoded;
  decoded.reserve(spans.size());
  const double t0 = cpu_seconds();
  if (path == "otlp_grpc") {
    decode_grpc(input, decoded);
  } else {
    counted_decode(path, input, decoded);
  }
  const double t1 = cpu_seconds();
  const std::size_t received = decoded.size();
  double span_bytes = 0;
  for (const auto& s : decoded) span_bytes += static_cast<double>(model::memory_bytes(s));
  config::SamplingConfig config;  // the default policies
  config.decision_wait = std::chrono::milliseconds(1);
  telemetry::Counters counters;
  model::SpanQueue in(1), out(decoded.size() + 1);
  pipeline::Pipeline stage(config, in, 1, out, counters, [] { return 0; });
  const double t2_start = cpu_seconds();
  counted_sample(stage, decoded);
  const double t2 = cpu_seconds() - t2_start + t1;
  const auto kept = counters.spans_kept.load();
  std::printf(
      "path %s spans %zu received %zu kept %llu decode_cpu_us_per_span %.2f "
      "sample_cpu_us_per_span %.2f span_bytes %.0f\n",
      path.c_str(), spans.size(), received, static_cast<unsigned long long>(kept),
      (t1 - t0) * 1e6 / static_cast<double>(spans.size()),
      (t2 - t1) * 1e6 / static_cast<double>(spans.size()),
      span_bytes / static_cast<double>(std::max<std::size_t>(received, 1)));
  return received == spans.size() ? 0 : 1;
}
