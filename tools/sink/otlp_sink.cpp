#include "otlp_sink.hpp"

#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "google/rpc/status.pb.h"

namespace tailgate::tools {
namespace {

nlohmann::json to_json(const otlp::common::v1::AnyValue& v) {
  using V = otlp::common::v1::AnyValue;
  switch (v.value_case()) {
    case V::kStringValue:
      return v.string_value();
    case V::kBoolValue:
      return v.bool_value();
    case V::kIntValue:
      return v.int_value();
    case V::kDoubleValue:
      return v.double_value();
    case V::kArrayValue: {  // a JSON array: told apart from a string holding JSON text
      auto out = nlohmann::json::array();
      for (const auto& e : v.array_value().values()) out.push_back(to_json(e));
      return out;
    }
    default:
      return nullptr;
  }
}

template <typename Repeated>
nlohmann::json to_json_attributes(const Repeated& attributes) {
  auto out = nlohmann::json::object();
  for (const auto& kv : attributes) out[kv.key()] = to_json(kv.value());
  return out;
}

nlohmann::json to_json(const otlp::trace::v1::Span& s, const otlp::resource::v1::Resource& r,
                       const otlp::common::v1::InstrumentationScope& scope,
                       std::uint64_t arrived_unix_ns) {
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : s.links()) {
    links.push_back({{"trace_id", to_hex(l.trace_id())},
                     {"span_id", to_hex(l.span_id())},
                     {"trace_state", l.trace_state()},
                     {"attributes", to_json_attributes(l.attributes())}});
  }
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : s.events()) {
    events.push_back({{"time_unix_ns", e.time_unix_nano()},
                      {"name", e.name()},
                      {"attributes", to_json_attributes(e.attributes())}});
  }
  return {{"trace_id", to_hex(s.trace_id())},
          {"span_id", to_hex(s.span_id())},
          {"parent_span_id", to_hex(s.parent_span_id())},
          {"trace_state", s.trace_state()},
          {"flags", s.flags()},
          {"name", s.name()},
          {"kind", static_cast<int>(s.kind())},
          {"start_unix_ns", s.start_time_unix_nano()},
          {"end_unix_ns", s.end_time_unix_nano()},
          {"status",
           {{"code", static_cast<int>(s.status().code())}, {"message", s.status().message()}}},
          {"attributes", to_json_attributes(s.attributes())},
          {"dropped_attributes_count", s.dropped_attributes_count()},
          {"events", events},
          {"dropped_events_count", s.dropped_events_count()},
          {"links", links},
          {"scope", {{"name", scope.name()}, {"version", scope.version()}}},
          {"arrived_unix_ns", arrived_unix_ns},
          {"resource", to_json_attributes(r.attributes())}};
}

std::string string_attribute(const otlp::trace::v1::Span& s, const std::string& key) {
  for (const auto& kv : s.attributes()) {
    if (kv.key() == key && kv.value().has_string_value()) return kv.value().string_value();
  }
  return {};
}

std::string service_of(const otlp::resource::v1::Resource& r) {
  for (const auto& kv : r.attributes()) {
    if (kv.key() == "service.name") return kv.value().string_value();
  }
  return "unknown_service";
}

}  // namespace

std::string to_hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xF];
  }
  return out;
}

namespace {

class ArenaHolder final
    : public grpc::MessageHolder<otlp::collector::trace::v1::ExportTraceServiceRequest,
                                 otlp::collector::trace::v1::ExportTraceServiceResponse> {
 public:
  ArenaHolder() {
    set_request(google::protobuf::Arena::CreateMessage<
                otlp::collector::trace::v1::ExportTraceServiceRequest>(&arena_));
    set_response(google::protobuf::Arena::CreateMessage<
                 otlp::collector::trace::v1::ExportTraceServiceResponse>(&arena_));
  }
  // gRPC owns the holder between AllocateMessages() and Release() through a raw pointer.
  void Release() override { std::unique_ptr<ArenaHolder> self(this); }

 private:
  google::protobuf::Arena arena_;
};

}  // namespace

grpc::MessageHolder<otlp::collector::trace::v1::ExportTraceServiceRequest,
                    otlp::collector::trace::v1::ExportTraceServiceResponse>*
ArenaMessageAllocator::AllocateMessages() {
  return std::make_unique<ArenaHolder>().release();
}

OtlpSink::OtlpSink(Options options) : options_(std::move(options)) {
  SetMessageAllocatorFor_Export(&allocator_);
  if (!options_.jsonl_path.empty()) {
    jsonl_.open(options_.jsonl_path, std::ios::out | std::ios::trunc);
    if (!jsonl_) throw std::runtime_error("cannot write " + options_.jsonl_path);
  }
}

grpc::ServerUnaryReactor* OtlpSink::Export(
    grpc::CallbackServerContext* context,
    const otlp::collector::trace::v1::ExportTraceServiceRequest* request,
    otlp::collector::trace::v1::ExportTraceServiceResponse* response) {
  auto* reactor = context->DefaultReactor();
  std::lock_guard lock(mutex_);
  if (std::chrono::steady_clock::now() < throttle_until_) {
    ++stats_.throttled_requests;
    google::rpc::RetryInfo info;
    info.mutable_retry_delay()->set_seconds(throttle_delay_.count() / 1000);
    info.mutable_retry_delay()->set_nanos(static_cast<int>(throttle_delay_.count() % 1000) *
                                          1'000'000);
    google::rpc::Status details;
    details.set_code(static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
    details.set_message("tailgate-sink: throttling on request");
    details.add_details()->PackFrom(info);
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, details.message(),
                                 details.SerializeAsString()));
    return reactor;
  }
  if (std::chrono::steady_clock::now() < fail_until_) {
    ++stats_.refused_requests;
    reactor->Finish(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "tailgate-sink: failing on request"));
    return reactor;
  }
  const auto& metadata = context->client_metadata();
  for (const auto& [key, value] : options_.required_headers) {
    const auto it = metadata.find(key);
    if (it == metadata.end() || std::string(it->second.data(), it->second.size()) != value) {
      ++stats_.rejected_requests;
      reactor->Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "missing header " + key));
      return reactor;
    }
  }
  ++stats_.requests;
  const auto arrived =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  for (const auto& rs : request->resource_spans()) {
    const auto service = service_of(rs.resource());
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) {
        ++stats_.spans;
        ++stats_.spans_by_service[service];
        const auto policy = string_attribute(span, "sampling.policy");
        ++stats_.spans_by_policy[policy.empty() ? "(none)" : policy];
        if (span.status().code() == otlp::trace::v1::Status::STATUS_CODE_ERROR)
          ++stats_.error_spans;
        if (jsonl_.is_open())
          jsonl_ << to_json(span, rs.resource(), ss.scope(), arrived).dump() << '\n';
        if (options_.keep_spans) spans_.push_back({span, rs.resource()});
      }
    }
  }
  if (jsonl_.is_open()) jsonl_.flush();
  if (reject_spans_ > 0) {
    response->mutable_partial_success()->set_rejected_spans(reject_spans_);
    response->mutable_partial_success()->set_error_message(reject_message_);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void OtlpSink::reject_spans(std::int64_t rejected, std::string message) {
  std::lock_guard lock(mutex_);
  reject_spans_ = rejected;
  reject_message_ = std::move(message);
}

void OtlpSink::fail_until(std::chrono::steady_clock::time_point until) {
  std::lock_guard lock(mutex_);
  fail_until_ = until;
}

void OtlpSink::throttle_until(std::chrono::steady_clock::time_point until,
                              std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  throttle_until_ = until;
  throttle_delay_ = delay;
}

SinkStats OtlpSink::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::vector<ReceivedSpan> OtlpSink::spans() const {
  std::lock_guard lock(mutex_);
  return spans_;
}

SinkServer::SinkServer(const std::string& address, OtlpSink::Options options) : sink_(options) {
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty()) {
    const auto read = [](const std::string& path) {
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      return text.str();
    };
    grpc::SslServerCredentialsOptions tls(
        options.tls_client_ca_file.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    tls.pem_key_cert_pairs.push_back({read(options.tls_key_file), read(options.tls_cert_file)});
    if (!options.tls_client_ca_file.empty()) tls.pem_root_certs = read(options.tls_client_ca_file);
    credentials = grpc::SslServerCredentials(tls);
  }
  builder.AddListeningPort(address, credentials, &port_);
  if (!sink_.accepts_gzip()) {
    // Identity only: gRPC then refuses a gzip request (UNIMPLEMENTED) before the service sees
    // it, which is how a test proves a client really compressed (the service cannot tell).
    builder.AddChannelArgument(GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET,
                               1 << GRPC_COMPRESS_NONE);
  }
  builder.RegisterService(&sink_);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0)
    throw std::runtime_error("tailgate-sink: cannot listen on " + address);
}

SinkServer::~SinkServer() {
  shutdown();
}

void SinkServer::shutdown() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

void SinkServer::wait() {
  if (server_) server_->Wait();
}

}  // namespace tailgate::tools
