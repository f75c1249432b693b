#include "receivers/otlp_grpc_receiver.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "receivers/decode_budget.hpp"
#include "receivers/gunzip.hpp"
#include "receivers/log_limiter.hpp"
#include "receivers/otlp_packed.hpp"
#include "telemetry/log_escape.hpp"

namespace tailgate::receivers {
namespace {

using opentelemetry::proto::collector::trace::v1::TraceService;
using Base = TraceService::WithRawCallbackMethod_Export<TraceService::Service>;

// How long an SDK should wait before retrying while the pipeline's queue is full.
constexpr auto kRetryAfter = std::chrono::seconds(1);
// A request this large leaves megabytes free in its gRPC thread's malloc arena (its bytes, its
// parse, its spans), which no other thread reuses: they are given back once it is answered.
constexpr std::size_t kTrimAfterBytes = 1u << 20;

// UNAVAILABLE with a RetryInfo: OTLP's "retry later", which SDKs honour.
grpc::Status retry_later(const std::string& why) {
  google::rpc::RetryInfo info;
  info.mutable_retry_delay()->set_seconds(kRetryAfter.count());
  google::rpc::Status details;
  details.set_code(static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  details.set_message(why);
  details.add_details()->PackFrom(info);
  return {grpc::StatusCode::UNAVAILABLE, details.message(), details.SerializeAsString()};
}

// A place among the requests being decoded, if one is free.
class InflightSlot {
 public:
  InflightSlot(std::atomic<std::size_t>& count, std::size_t max) : count_(count) {
    held_ = count_.fetch_add(1, std::memory_order_acq_rel) < max;
    if (!held_) count_.fetch_sub(1, std::memory_order_acq_rel);
  }
  ~InflightSlot() {
    if (held_) count_.fetch_sub(1, std::memory_order_acq_rel);
  }
  InflightSlot(const InflightSlot&) = delete;
  InflightSlot& operator=(const InflightSlot&) = delete;
  explicit operator bool() const noexcept { return held_; }

 private:
  std::atomic<std::size_t>& count_;
  bool held_ = false;
};

// The request's slices as views, and whether they start as gzip does (then gRPC, told not to
// decompress, handed them over compressed).
bool gzipped(const std::vector<grpc::Slice>& slices, std::vector<std::string_view>& views) {
  std::string head;
  for (const auto& slice : slices) {
    views.emplace_back(reinterpret_cast<const char*>(slice.begin()), slice.size());
    if (head.size() < 2) head += views.back().substr(0, 2 - head.size());
  }
  return looks_gzipped(head);
}

}  // namespace

class OtlpGrpcReceiver::Service final : public Base {
 public:
  Service(const config::OtlpReceiverConfig& config, model::SpanQueue& out,
          telemetry::Counters& counters)
      : max_bytes_(config.max_request_bytes),
        max_inflight_(config.max_inflight_requests),
        out_(out),
        counters_(counters) {}

  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    auto* reactor = context->DefaultReactor();
    const auto size = request->Length();
    reactor->Finish(handle(*request, *response));
    if (size >= kTrimAfterBytes) trim();
    return reactor;
  }

 private:
  grpc::Status handle(const grpc::ByteBuffer& request, grpc::ByteBuffer& response) {
    // Our own limit on what arrives (compressed or not), below gRPC's: gRPC refuses larger
    // messages before any handler runs, where nothing of ours can count them.
    if (request.Length() > max_bytes_) {
      counters_.add_rejected_requests(telemetry::Receiver::OtlpGrpc,
                                      telemetry::RejectReason::TooLarge);
      return {grpc::StatusCode::RESOURCE_EXHAUSTED,
              "request larger than " + std::to_string(max_bytes_) + " bytes"};
    }
    const InflightSlot slot(inflight_, max_inflight_);
    if (!slot) {
      counters_.otlp_requests_throttled.fetch_add(1, std::memory_order_relaxed);
      return retry_later("tailgate: max_inflight_requests being decoded, retry later");
    }
    // Decoded from the request's bytes straight into spans (otlp_packed.hpp).
    const auto size = request.Length();
    std::vector<grpc::Slice> slices;
    std::string storage;
    std::string_view bytes;
    if (auto refusal = contiguous(request, slices, storage, bytes)) return *refusal;
    auto answer = otlp::accept_bytes(bytes, out_, counters_, telemetry::Receiver::OtlpGrpc);
    if (!answer.malformed.empty()) return malformed(size, answer.malformed);
    if (!answer.response) return retry_later("tailgate: pipeline queue full, retry later");
    bool own = false;
    return grpc::SerializationTraits<otlp::pb::ExportTraceServiceResponse>::Serialize(
        *answer.response, &response, &own);
  }

  // The request's bytes in one piece (`bytes`): its one slice, or the slices copied into
  // `storage`, or inflated there under max_request_bytes when gzipped; or why it is refused. The
  // request's buffer goes once copied or inflated, so that a request being decoded holds one copy
  // of its bytes beside its spans.
  std::optional<grpc::Status> contiguous(const grpc::ByteBuffer& request,
                                         std::vector<grpc::Slice>& slices, std::string& storage,
                                         std::string_view& bytes) {
    std::vector<std::string_view> views;
    if (!request.Dump(&slices).ok()) return malformed(request.Length(), "unreadable request");
    if (gzipped(slices, views)) {
      const auto inflate = gunzip(views, max_bytes_, storage);
      if (inflate == Inflate::TooLarge) {
        counters_.add_rejected_requests(telemetry::Receiver::OtlpGrpc,
                                        telemetry::RejectReason::TooLarge);
        return grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            "request larger than " + std::to_string(max_bytes_) + " bytes once decompressed");
      }
      if (inflate != Inflate::Ok) return malformed(request.Length(), "not valid gzip");
    } else if (views.size() == 1) {
      bytes = views.front();  // in `slices`, which hold a reference to it
      return std::nullopt;
    } else {
      storage.reserve(request.Length());
      for (const auto view : views) storage.append(view);
    }
    bytes = storage;
    slices.clear();
    const_cast<grpc::ByteBuffer&>(request).Clear();
    return std::nullopt;
  }

  grpc::Status malformed(std::size_t size, const std::string& why) {
    counters_.add_rejected_requests(telemetry::Receiver::OtlpGrpc,
                                    telemetry::RejectReason::Malformed);
    if (const auto n = malformed_log_.note()) {
      spdlog::warn("event=otlp_malformed receiver=otlp_grpc requests={} bytes={} error={}", n, size,
                   telemetry::quoted(why));
    }
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        otlp::refusal_text("not an OTLP ExportTraceServiceRequest (nor one in gzip)", why));
  }

  // glibc keeps what a thread frees in that thread's arena, and the agent keeps up to 64 MiB of
  // it per arena (main.cpp: tune_malloc): each gRPC thread that decoded a large request kept its
  // peak, and the agent's RSS grew with the number of threads, not with the requests in flight
  // (4 SDKs sending 3.6 MB requests: +150 MB). One trim at a time; others skip theirs.
  void trim() {
    if (trimming_.exchange(true, std::memory_order_acquire)) return;
    ::malloc_trim(0);
    trimming_.store(false, std::memory_order_release);
  }

  const std::size_t max_bytes_;
  const std::size_t max_inflight_;
  std::atomic<bool> trimming_{false};
  std::atomic<std::size_t> inflight_{0};
  model::SpanQueue& out_;
  telemetry::Counters& counters_;
  LogLimiter malformed_log_;
};

OtlpGrpcReceiver::OtlpGrpcReceiver(const config::OtlpReceiverConfig& config, model::SpanQueue& out,
                                   telemetry::Counters& counters)
    : service_(std::make_unique<Service>(config, out, counters)) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.endpoint, grpc::InsecureServerCredentials(), &port);
  // gRPC sets SO_REUSEPORT by default: a second process could then share the port silently
  // instead of failing start-up.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Twice ours, so that Service::handle sees, refuses and counts requests past
  // max_request_bytes; only those past twice it are refused by gRPC, uncounted.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<std::size_t>(config.max_request_bytes, INT_MAX / 2) * 2));
  // gRPC would inflate a gzipped request whole before checking its size (a 600 KiB request
  // became 600 MiB of memory): it hands the bytes over compressed instead, and the receiver
  // inflates them under max_request_bytes.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
  // gzip only (what OpenTelemetry SDKs send): a deflate request is refused by gRPC, since the
  // receiver tells a compressed request from a plain one by gzip's magic bytes.
  builder.AddChannelArgument(GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET,
                             (1 << GRPC_COMPRESS_NONE) | (1 << GRPC_COMPRESS_GZIP));
  // Streams a connection may open at once: more wait in the client, not in our memory.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(config.max_inflight_requests));
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    throw std::runtime_error("receivers.otlp_grpc.endpoint " + config.endpoint +
                             ": cannot listen (address in use, or not an address of this host)");
  }
  local_endpoint_ =
      config.endpoint.substr(0, config.endpoint.rfind(':') + 1) + std::to_string(port);
}

OtlpGrpcReceiver::~OtlpGrpcReceiver() {
  stop();
}

void OtlpGrpcReceiver::stop() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
}

}  // namespace tailgate::receivers
