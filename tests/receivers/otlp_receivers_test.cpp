// OTLP in: the mapping to the span model, OTLP/JSON, the HTTP handler's answers (status codes,
// gzip, partial success, back-pressure), and both receivers serving a real client on 127.0.0.1.
#include <zlib.h>

#include <condition_variable>
#include <mutex>
#include <optional>

#include <catch2/catch.hpp>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "receivers/otlp_decode.hpp"
#include "receivers/otlp_grpc_receiver.hpp"
#include "receivers/otlp_http_receiver.hpp"
#include "support/gzip.hpp"
#include "support/http_client.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
namespace pb = opentelemetry::proto;
using Request = pb::collector::trace::v1::ExportTraceServiceRequest;
using Response = pb::collector::trace::v1::ExportTraceServiceResponse;

namespace {

std::string bytes_of(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

const std::string kTraceId = bytes_of({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
const std::string kRootId = bytes_of({0, 0, 0, 0, 0, 0, 0, 1});
const std::string kChildId = bytes_of({0, 0, 0, 0, 0, 0, 0, 2});

Request sample_request() {
  Request request;
  auto* rs = request.add_resource_spans();
  auto* service = rs->mutable_resource()->add_attributes();
  service->set_key("service.name");
  service->mutable_value()->set_string_value("risk");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("risk-engine");
  ss->mutable_scope()->set_version("1.2.0");
  auto* root = ss->add_spans();
  root->set_trace_id(kTraceId);
  root->set_span_id(kRootId);
  root->set_name("check_limits");
  root->set_kind(pb::trace::v1::Span::SPAN_KIND_SERVER);
  root->set_start_time_unix_nano(1'000);
  root->set_end_time_unix_nano(5'000);
  root->set_flags(1);
  auto* qty = root->add_attributes();
  qty->set_key("qty");
  qty->mutable_value()->set_int_value(250);
  auto* books = root->add_attributes();
  books->set_key("books");
  books->mutable_value()->mutable_array_value()->add_values()->set_string_value("fx");
  books->mutable_value()->mutable_array_value()->add_values()->set_int_value(7);
  auto* raw = root->add_attributes();
  raw->set_key("raw");
  raw->mutable_value()->set_bytes_value("hi!");
  auto* child = ss->add_spans();
  child->set_trace_id(kTraceId);
  child->set_span_id(kChildId);
  child->set_parent_span_id(kRootId);
  child->set_name("var_model");
  child->set_flags(0x101);  // has is_remote, not remote
  child->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_ERROR);
  child->mutable_status()->set_message("limit breached");
  auto* event = child->add_events();
  event->set_name("recomputed");
  event->set_time_unix_nano(2'000);
  auto* link = child->add_links();
  link->set_trace_id(kTraceId);
  link->set_span_id(kRootId);
  link->set_trace_state("ot=th:0");
  return request;
}

receivers::OtlpHttpAnswer post(model::SpanQueue& queue, telemetry::Counters& counters,
                               const std::string& body,
                               std::string_view content_type = "application/x-protobuf",
                               std::string_view encoding = {}, std::size_t max_bytes = 1 << 20) {
  return receivers::handle_otlp_http("POST", "/v1/traces", content_type, encoding, body, max_bytes,
                                     queue, counters);
}

}  // namespace

TEST_CASE("OTLP spans map to the span model with their resource and scope", "[receivers][otlp]") {
  model::SpanBatch out;
  const auto r = receivers::otlp::from_otlp(sample_request(), out);
  REQUIRE(r.spans == 2);
  CHECK(r.rejected == 0);
  const auto& root = out[0];
  const auto& child = out[1];
  CHECK(std::string(root.trace_id.begin(), root.trace_id.end()) == kTraceId);
  CHECK(root.is_root());
  CHECK(root.kind == model::SpanKind::Server);
  CHECK(root.trace_flags == 1);
  CHECK(root.duration_ns() == 4'000);
  CHECK(std::get<std::int64_t>(root.attributes[0].value) == 250);
  CHECK(std::get<std::string>(root.attributes[1].value) == R"(["fx",7])");  // arrays as JSON
  CHECK(std::get<std::string>(root.attributes[2].value) == "aGkh");         // bytes as base64
  CHECK(std::string(child.parent_span_id.begin(), child.parent_span_id.end()) == kRootId);
  CHECK(!child.parent_is_remote);
  CHECK(child.status == model::StatusCode::Error);
  CHECK(child.status_message == "limit breached");
  REQUIRE(child.events.size() == 1);
  CHECK(child.events[0].name == "recomputed");
  REQUIRE(child.links.size() == 1);
  CHECK(child.links[0].trace_state == "ot=th:0");
  REQUIRE(root.resource == child.resource);
  CHECK(root.resource->scope.name == "risk-engine");
  CHECK(root.resource->scope.version == "1.2.0");
  CHECK(std::get<std::string>(root.resource->attributes.at(0).value) == "risk");
}

TEST_CASE("whether a parent is remote: OTLP's flags, else a server span's parent is",
          "[receivers][otlp]") {
  auto request = sample_request();
  auto* spans = request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans();
  spans->Mutable(1)->set_flags(0x301);              // says: remote
  spans->Mutable(0)->set_parent_span_id(kChildId);  // the server span now has a caller...
  spans->Mutable(0)->set_flags(1);                  // ...and no is_remote bits
  model::SpanBatch out;
  receivers::otlp::from_otlp(request, out);
  CHECK(out[0].parent_is_remote);
  CHECK(out[1].parent_is_remote);
}

TEST_CASE("spans with bad ids are rejected one by one, the rest are kept", "[receivers][otlp]") {
  auto request = sample_request();
  auto* spans = request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans();
  spans->Mutable(0)->set_trace_id("short");
  auto* zero = spans->Add();
  *zero = spans->Get(1);
  zero->set_span_id(std::string(8, '\0'));
  model::SpanBatch out;
  const auto r = receivers::otlp::from_otlp(request, out);
  CHECK(r.spans == 1);
  CHECK(r.rejected == 2);
  CHECK_THAT(r.error, Catch::Matchers::Contains("trace_id"));
}

TEST_CASE("OTLP/JSON: hex ids, numeric enums, string int64s", "[receivers][otlp]") {
  const std::string json = R"({"resourceSpans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"gw"}}]},
    "scopeSpans":[{"scope":{"name":"s"},"spans":[{
      "traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"0000000000000002",
      "parentSpanId":"0000000000000001","name":"route","kind":3,
      "startTimeUnixNano":"1000","endTimeUnixNano":2000,
      "attributes":[{"key":"n","value":{"intValue":"42"}}],
      "links":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000009"}],
      "status":{"code":2},"someFutureField":true}]}]}]})";
  Request request;
  REQUIRE(receivers::otlp::parse_json(json, request).empty());
  model::SpanBatch out;
  REQUIRE(receivers::otlp::from_otlp(request, out).spans == 1);
  CHECK(std::string(out[0].trace_id.begin(), out[0].trace_id.end()) == kTraceId);
  CHECK(out[0].kind == model::SpanKind::Client);
  CHECK(out[0].end_unix_ns == 2000);
  CHECK(std::get<std::int64_t>(out[0].attributes[0].value) == 42);
  CHECK(out[0].status == model::StatusCode::Error);
  CHECK(out[0].links.at(0).span_id[7] == 9);

  Request bad;
  CHECK_FALSE(receivers::otlp::parse_json("{not json", bad).empty());
  CHECK_FALSE(receivers::otlp::parse_json(R"({"resourceSpans":[{"scopeSpans":[{"spans":[
      {"traceId":"zz"}]}]}]})",
                                          bad)
                  .empty());
  CHECK_FALSE(receivers::otlp::parse_json(R"({"resourceSpans":"no"})", bad).empty());
}

TEST_CASE("OTLP/HTTP answers: paths, methods, types, encodings, sizes", "[receivers][otlp]") {
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  const auto body = sample_request().SerializeAsString();
  const auto handle = [&](std::string_view method, std::string_view target) {
    return receivers::handle_otlp_http(method, target, "application/x-protobuf", "", body, 1 << 20,
                                       queue, counters);
  };
  using R = telemetry::RejectReason;
  const auto rejected = [&](R why) {
    return counters.requests_rejected_of(telemetry::Receiver::OtlpHttp, why);
  };
  CHECK(handle("POST", "/v1/metrics").status == 404);
  CHECK(handle("GET", "/v1/traces").status == 405);
  CHECK(post(queue, counters, body, "text/plain").status == 415);
  CHECK(post(queue, counters, body, "application/x-protobuf", "br").status == 415);
  CHECK(rejected(R::Unsupported) == 4);  // every refusal counted, none as a dropped span
  CHECK(counters.dropped_of(telemetry::DropReason::Malformed) == 0);

  SECTION("protobuf, plain and gzip, with parameters on the type") {
    auto plain = post(queue, counters, body, "application/x-protobuf; charset=binary");
    CHECK(plain.status == 200);
    Response response;
    CHECK(response.ParseFromString(plain.body));
    CHECK_FALSE(response.has_partial_success());
    CHECK(post(queue, counters, testing::gzip(body), "application/x-protobuf", "gzip").status ==
          200);
    CHECK(queue.size_spans() == 4);
    CHECK(counters.spans_received[static_cast<std::size_t>(telemetry::Receiver::OtlpHttp)] == 4);
  }
  SECTION("a body that does not parse: 400 with a Status, counted") {
    const auto a = post(queue, counters, std::string(64, '\xff'));
    CHECK(a.status == 400);
    google::rpc::Status status;
    CHECK(status.ParseFromString(a.body));
    CHECK(status.code() == 3);
    CHECK(post(queue, counters, "garbage", "application/x-protobuf", "gzip").status == 400);
    CHECK(post(queue, counters, "[1,2", "application/json").status == 400);
    CHECK(rejected(R::Malformed) == 3);
    CHECK(counters.dropped_of(telemetry::DropReason::Malformed) == 0);
    CHECK(queue.size_spans() == 0);
  }
  SECTION("JSON nested a million deep is refused before it is parsed (no stack overflow)") {
    const auto deep = post(queue, counters, R"({"resourceSpans":)" + std::string(1'000'000, '['),
                           "application/json", "", 4 << 20);
    CHECK(deep.status == 400);
    CHECK_THAT(deep.body, Catch::Matchers::Contains("nested deeper"));
    // Brackets inside strings do not count.
    CHECK(post(queue, counters, R"({"resourceSpans":[],"x":")" + std::string(1'000, '[') + R"("})",
               "application/json")
              .status == 200);
  }
  SECTION("a gzip bomb stops at the limit: 413") {
    const auto bomb = testing::gzip(std::string(50 << 20, 'a'));  // 50 MiB of 'a' in ~50 KiB
    const auto a = post(queue, counters, bomb, "application/x-protobuf", "gzip", 1 << 20);
    CHECK(a.status == 413);
    CHECK(rejected(R::TooLarge) == 1);
  }
  SECTION("spans with bad ids: a partial success in the request's encoding") {
    auto request = sample_request();
    request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_span_id("x");
    const auto a = post(queue, counters, request.SerializeAsString());
    CHECK(a.status == 200);
    Response response;
    REQUIRE(response.ParseFromString(a.body));
    CHECK(response.partial_success().rejected_spans() == 1);
    CHECK_THAT(response.partial_success().error_message(), Catch::Matchers::Contains("span_id"));
    const auto j =
        post(queue, counters,
             R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","spanId":"02"}]}]}]})",
             "application/json");
    CHECK(j.status == 200);
    CHECK(j.content_type == "application/json");
    CHECK_THAT(j.body, Catch::Matchers::Contains(R"("rejectedSpans":"1")"));
    const auto spans_rejected = [&](R why) {
      return counters.spans_rejected_of(telemetry::Receiver::OtlpHttp, why);
    };
    CHECK(spans_rejected(R::Malformed) == 2);  // ids of the wrong length
    auto zero = sample_request();
    zero.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_trace_id(
        std::string(16, '\0'));
    CHECK(post(queue, counters, zero.SerializeAsString()).status == 200);
    CHECK(spans_rejected(R::ZeroId) == 1);
    CHECK(counters.dropped_of(telemetry::DropReason::Malformed) == 0);
  }
  SECTION("a full pipeline queue: 503 with Retry-After, nothing counted as received") {
    model::SpanQueue tiny(1);
    const auto a = post(tiny, counters, body);
    CHECK(a.status == 503);
    CHECK(a.retry_after_seconds > 0);
    CHECK(counters.received() == 0);
    CHECK(counters.otlp_requests_refused == 1);
  }
}

TEST_CASE("the OTLP/HTTP receiver serves a real client and names a taken port",
          "[receivers][otlp]") {
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  receivers::OtlpHttpReceiver receiver({.enabled = true, .endpoint = "127.0.0.1:0"}, queue,
                                       counters);
  receiver.start();
  const auto endpoint = receiver.local_endpoint();
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  const auto body = sample_request().SerializeAsString();
  CHECK(
      testing::http_post(port, "/v1/traces", "application/x-protobuf", testing::gzip(body), "gzip")
          .status == 200);
  const auto big =
      testing::http_post(port, "/v1/traces", "application/x-protobuf", std::string(5 << 20, 'x'));
  CHECK(big.status == 413);  // by the HTTP server, before the handler: counted all the same
  CHECK(counters.requests_rejected_of(telemetry::Receiver::OtlpHttp,
                                      telemetry::RejectReason::TooLarge) == 1);
  const auto garbage = testing::http_post(port, "/v1/traces", "application/x-protobuf", "\xff\xff");
  CHECK(garbage.status == 400);
  CHECK(counters.requests_rejected_of(telemetry::Receiver::OtlpHttp,
                                      telemetry::RejectReason::Malformed) == 1);
  CHECK(testing::http_post(port, "/v1/traces", "application/x-protobuf", body).status == 200);
  CHECK(queue.size_spans() == 4);
  try {
    receivers::OtlpHttpReceiver second({.enabled = true, .endpoint = endpoint}, queue, counters);
    FAIL("second bind succeeded");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("receivers.otlp_http.endpoint " + endpoint));
  }
  receiver.stop();
}

TEST_CASE("the OTLP/gRPC receiver serves a real client: OK, partial success, malformed, full",
          "[receivers][otlp]") {
  telemetry::Counters counters;
  model::SpanQueue queue(4);
  receivers::OtlpGrpcReceiver receiver({.enabled = true, .endpoint = "127.0.0.1:0"}, queue,
                                       counters);
  auto channel = grpc::CreateChannel(receiver.local_endpoint(), grpc::InsecureChannelCredentials());
  auto stub = pb::collector::trace::v1::TraceService::NewStub(channel);
  const auto call = [&](const Request& request, Response& response, bool compress = false) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    if (compress) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    return stub->Export(&context, request, &response);
  };
  Response response;
  auto status = call(sample_request(), response, true);
  REQUIRE(status.ok());
  CHECK_FALSE(response.has_partial_success());
  CHECK(queue.size_spans() == 2);
  CHECK(counters.spans_received[static_cast<std::size_t>(telemetry::Receiver::OtlpGrpc)] == 2);

  auto request = sample_request();
  request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_trace_id("");
  REQUIRE(call(request, response).ok());
  CHECK(response.partial_success().rejected_spans() == 1);
  CHECK(queue.size_spans() == 3);

  // The queue holds 4: two more spans do not fit, and the SDK is told to come back later.
  status = call(sample_request(), response);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  google::rpc::Status details;
  REQUIRE(details.ParseFromString(status.error_details()));
  google::rpc::RetryInfo retry;
  CHECK(details.details(0).UnpackTo(&retry));
  CHECK(counters.otlp_requests_refused == 1);

  // Bytes that are not a request, through the generic API.
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  const auto junk = std::string(32, '\xff');
  grpc::Slice slice(junk);
  grpc::ByteBuffer in(&slice, 1), out;
  std::mutex m;
  std::condition_variable cv;
  std::optional<grpc::Status> generic_status;
  generic.UnaryCall(&context, "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    grpc::StubOptions(), &in, &out, [&](grpc::Status s) {
                      std::lock_guard lock(m);
                      generic_status = s;
                      cv.notify_one();
                    });
  std::unique_lock lock(m);
  REQUIRE(cv.wait_for(lock, 10s, [&] { return generic_status.has_value(); }));
  CHECK(generic_status->error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  // Refusals, apart from drops: 1 span (an empty trace id), 1 request.
  CHECK(counters.dropped_of(telemetry::DropReason::Malformed) == 0);
  CHECK(counters.spans_rejected_of(telemetry::Receiver::OtlpGrpc,
                                   telemetry::RejectReason::Malformed) == 1);
  CHECK(counters.requests_rejected_of(telemetry::Receiver::OtlpGrpc,
                                      telemetry::RejectReason::Malformed) == 1);

  try {
    receivers::OtlpGrpcReceiver second({.enabled = true, .endpoint = receiver.local_endpoint()},
                                       queue, counters);
    FAIL("second bind succeeded");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("receivers.otlp_grpc.endpoint"));
  }
  receiver.stop();
}

TEST_CASE("an OTLP/gRPC request past max_request_bytes is refused and counted",
          "[receivers][otlp]") {
  telemetry::Counters counters;
  model::SpanQueue queue(100);
  receivers::OtlpGrpcReceiver receiver(
      {.enabled = true, .endpoint = "127.0.0.1:0", .max_request_bytes = 64 << 10}, queue, counters);
  auto stub = pb::collector::trace::v1::TraceService::NewStub(
      grpc::CreateChannel(receiver.local_endpoint(), grpc::InsecureChannelCredentials()));
  auto request = sample_request();
  request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_name(
      std::string(100 << 10, 'n'));
  Response response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  const auto status = stub->Export(&context, request, &response);
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(counters.requests_rejected_of(telemetry::Receiver::OtlpGrpc,
                                      telemetry::RejectReason::TooLarge) == 1);
  CHECK(queue.size_spans() == 0);
  receiver.stop();
}
