// The packed OTLP decoder (receivers/otlp_packed.hpp) against from_otlp on protobuf's parse:
// field for field on crafted requests (every value type, events, links, status, trace state,
// dropped counts, bad ids), and the same refusals on truncated and malformed bytes.
#include "receivers/otlp_packed.hpp"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "receivers/decode_budget.hpp"
#include "support/otlp_packed_compare.hpp"
#include "support/protobuf_raw.hpp"

using namespace tailgate;
namespace pb = opentelemetry::proto;
using Request = pb::collector::trace::v1::ExportTraceServiceRequest;

namespace {

using testing::len;
using testing::tag;
using testing::varint;

// A request of one span given as its fields' bytes.
std::string request_with_span(const std::string& span_fields) {
  return len(1, len(2, len(2, span_fields)));
}
std::string id(std::size_t size, char fill) {
  return std::string(size, fill);
}
std::string valid_ids() {
  return len(1, id(16, '\x01')) + len(2, id(8, '\x02'));
}

void set_ids(pb::trace::v1::Span& span, char trace, char id) {
  span.set_trace_id(std::string(16, trace));
  span.set_span_id(std::string(8, id));
}

void add(google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>& to, const std::string& key,
         const std::string& text) {
  auto* kv = to.Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(text);
}

// Every kind of field and value the model maps, in two resources and three scopes.
Request full_request() {
  Request request;
  auto* rs = request.add_resource_spans();
  add(*rs->mutable_resource()->mutable_attributes(), "service.name", "checkout");
  rs->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("io.opentelemetry.grpc");
  ss->mutable_scope()->set_version("1.2.3");
  add(*ss->mutable_scope()->mutable_attributes(), "scope.attr", "ignored");
  auto* span = ss->add_spans();
  set_ids(*span, '\x11', '\x22');
  span->set_parent_span_id(std::string(8, '\x33'));
  span->set_name("GET /cart");
  span->set_trace_state("vendor=a,other=b");
  span->set_kind(pb::trace::v1::Span::SPAN_KIND_SERVER);
  span->set_flags(0x301);
  span->set_start_time_unix_nano(1'700'000'000'000'000'000);
  span->set_end_time_unix_nano(1'700'000'000'250'000'000);
  span->set_dropped_attributes_count(7);
  span->set_dropped_events_count(3);
  span->set_dropped_links_count(2);
  auto& attributes = *span->mutable_attributes();
  add(attributes, "http.method", "GET");
  auto* value = attributes.Add();
  value->set_key("int");
  value->mutable_value()->set_int_value(-42);
  value = attributes.Add();
  value->set_key("double");
  value->mutable_value()->set_double_value(0.25);
  value = attributes.Add();
  value->set_key("bool");
  value->mutable_value()->set_bool_value(true);
  value = attributes.Add();
  value->set_key("bytes");
  value->mutable_value()->set_bytes_value(std::string("\x00\xff\x10", 3));
  value = attributes.Add();
  value->set_key("array");
  auto* array = value->mutable_value()->mutable_array_value();
  array->add_values()->set_string_value("x");
  array->add_values()->set_int_value(1);
  array->add_values()->set_double_value(1.0 / 0.0);  // not finite: null in JSON
  array->add_values();                               // no value: null
  value = attributes.Add();
  value->set_key("map");
  auto* map = value->mutable_value()->mutable_kvlist_value();
  add(*map->mutable_values(), "inner", "\"quoted\"");
  map->add_values()->set_key("nested");
  attributes.Add()->set_key("no value");
  auto* event = span->add_events();
  event->set_time_unix_nano(1'700'000'000'100'000'000);
  event->set_name("exception");
  add(*event->mutable_attributes(), "exception.message", "boom");
  event->set_dropped_attributes_count(1);
  span->add_events()->set_name("bare");
  auto* link = span->add_links();
  link->set_trace_id(std::string(16, '\x44'));
  link->set_span_id(std::string(8, '\x55'));
  link->set_trace_state("k=v");
  add(*link->mutable_attributes(), "link.kind", "follows");
  link->set_flags(0x100);
  auto* bad_link = span->add_links();  // a link with a zero id is left out, as from_otlp does
  bad_link->set_trace_id(std::string(16, '\0'));
  bad_link->set_span_id(std::string(8, '\x55'));
  span->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_ERROR);
  span->mutable_status()->set_message("deadline exceeded");

  auto* odd = ss->add_spans();  // codes outside the model's range, no parent
  set_ids(*odd, '\x12', '\x23');
  odd->set_kind(static_cast<pb::trace::v1::Span::SpanKind>(9));
  odd->mutable_status()->set_code(static_cast<pb::trace::v1::Status::StatusCode>(-1));
  add(*odd->mutable_attributes(), "k", "v");
  rs->add_scope_spans()->mutable_scope()->set_name("no spans");

  auto* second = request.add_resource_spans();  // the same resource again: equal, shared
  *second->mutable_resource() = rs->resource();
  auto* client = second->add_scope_spans();
  *client->mutable_scope() = ss->scope();
  auto* child = client->add_spans();
  set_ids(*child, '\x13', '\x24');
  child->set_parent_span_id(std::string(8, '\x22'));
  child->set_kind(pb::trace::v1::Span::SPAN_KIND_CONSUMER);  // remote parent by convention
  child->mutable_status()->set_message("a message alone");
  return request;
}

void require_same(const std::string& bytes) {
  const auto compared = testing::compare_packed(bytes);
  INFO(compared.difference);
  REQUIRE(compared.difference.empty());
}

}  // namespace

TEST_CASE("packed OTLP decoding is from_otlp field for field, items packed", "[receivers][otlp]") {
  const auto bytes = full_request().SerializeAsString();
  const auto compared = testing::compare_packed(bytes);
  INFO(compared.difference);
  REQUIRE(compared.difference.empty());
  REQUIRE(compared.spans == 3);
  CHECK(compared.packed_spans == 3);

  model::SpanBatch spans;
  receivers::otlp::IngestResult result;
  REQUIRE(receivers::otlp::from_otlp_bytes(bytes, spans, result).empty());
  CHECK(spans[0].attributes.empty());               // packed until kept
  CHECK(spans[0].packed.count() == 8 + 2 + 1 + 2);  // attributes, events, link, message, state
  CHECK(spans[0].resource == spans[2].resource);    // equal resources are one object
}

TEST_CASE("packed OTLP decoding refuses bad ids one by one, as from_otlp does",
          "[receivers][otlp]") {
  const auto parent = len(4, id(8, '\x03'));
  for (const auto& fields :
       {len(1, id(16, '\0')) + len(2, id(8, '\x02')), len(1, id(15, '\x01')) + len(2, id(8, 2)),
        len(1, id(16, '\x01')) + len(2, id(8, '\0')), len(1, id(16, '\x01')),
        valid_ids() + len(4, id(7, '\x03')), valid_ids() + len(4, id(8, '\0')),
        valid_ids() + parent}) {
    const auto bytes = request_with_span(fields) + len(1, len(2, len(2, valid_ids())));
    require_same(bytes);
  }
}

TEST_CASE("packed OTLP decoding refuses every truncation protobuf refuses", "[receivers][otlp]") {
  const auto bytes = full_request().SerializeAsString();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO(n);
    require_same(bytes.substr(0, n));
  }
}

TEST_CASE("packed OTLP decoding: unknown fields, wrong wire types, parts sent twice",
          "[receivers][otlp]") {
  const auto span = valid_ids() + len(5, "name");
  SECTION("unknown fields of every wire type are skipped, groups included") {
    require_same(request_with_span(span + tag(99, 0) + varint(300) + tag(98, 1) + id(8, 'x') +
                                   tag(97, 5) + id(4, 'y') + len(96, "z") + tag(95, 3) + tag(1, 0) +
                                   varint(1) + tag(95, 4)));
    require_same(len(7, "top") + request_with_span(span) + tag(1000, 0) + varint(1));
  }
  SECTION("a known field in another wire type is an unknown field") {
    require_same(request_with_span(span + tag(5, 0) + varint(7) + tag(9, 0) + varint(1)));
    require_same(request_with_span(span + tag(7, 0) + varint(7) + tag(16, 1) + id(8, 'f')));
  }
  SECTION("the last of a field sent twice wins; parts of a message are merged") {
    const auto status = len(15, tag(3, 0) + varint(2)) + len(15, len(2, "later message"));
    require_same(request_with_span(span + len(5, "second name") + status));
    const auto value = len(2, tag(3, 0) + varint(5)) + len(2, len(1, "text"));
    require_same(request_with_span(span + len(9, len(1, "k") + value)));
    const auto arrays = len(5, len(1, len(1, "a"))) + len(5, len(1, tag(2, 0) + varint(1)));
    require_same(request_with_span(span + len(9, len(1, "k") + len(2, arrays))));
    const auto scope = len(1, len(1, "first")) + len(1, len(2, "v2"));
    const auto resource = len(1, len(1, len(1, "a") + len(2, len(1, "1"))));
    require_same(len(1, resource + len(2, scope + len(2, span)) + resource));
  }
  SECTION("the resource and scope may come after the spans") {
    require_same(len(1, len(2, len(2, span) + len(1, len(1, "late scope"))) +
                            len(1, len(1, len(1, "service.name") + len(2, len(1, "late"))))));
  }
  SECTION("malformed: refused as protobuf refuses it") {
    for (const auto& bytes :
         {request_with_span(span + tag(95, 4)),               // end of no group
          request_with_span(span + tag(95, 3) + tag(94, 4)),  // group ends wrong
          request_with_span(span + tag(95, 3)),               // group never ends
          request_with_span(span + tag(0, 0) + varint(1)),    // field 0
          request_with_span(span + tag(9, 6)),                // wire type 6
          request_with_span(span + tag(10, 0) + std::string(10, '\xff') + '\x01'),  // 11 B
          request_with_span(span + tag(10, 0) + std::string(9, '\xff') + '\x01'),   // 10 B
          request_with_span(span + tag(5, 2) + std::string(5, '\x80') + '\0'),      // 6 B length
          request_with_span(span + std::string(1, '\0')),                           // tag 0
          request_with_span(span + len(5, "\xc3\x28")),                             // bad UTF-8
          request_with_span(span + len(5, "\xed\xa0\x80")),                         // a surrogate
          request_with_span(span + len(5, "\xc0\xaf")),                             // overlong
          request_with_span(span + len(1, "\xff")),                                 // bytes: fine
          request_with_span(span + len(9, len(2, len(5, len(1, len(1, "\xfe"))))))}) {
      require_same(bytes);
    }
  }
}

// The decoder checks fields as it reads them, in one pass; the fields it does not read (schema
// URLs, scopes' attributes, the attributes of a link it leaves out, what follows an attribute it
// cannot pack) are checked too: each place, with text that is not UTF-8, refuses the request.
TEST_CASE("packed OTLP decoding checks every string it does not read", "[receivers][otlp]") {
  const auto span = valid_ids() + len(5, "name");
  const auto kv = [](const std::string& key, const std::string& text) {
    return len(1, key) + len(2, len(1, text));
  };
  const auto link_ids = len(1, id(16, '\x03')) + len(2, id(8, '\x04'));
  for (const auto& place : std::vector<std::function<std::string(const std::string&)>>{
           [&](const std::string& t) { return len(1, len(2, len(2, span)) + len(3, t)); },
           [&](const std::string& t) { return len(1, len(2, len(2, span) + len(3, t))); },
           [&](const std::string& t) { return len(1, len(2, len(1, len(1, t)) + len(2, span))); },
           [&](const std::string& t) { return len(1, len(2, len(1, len(3, kv("k", t))))); },
           [&](const std::string& t) {
             return len(1, len(1, len(1, kv("k", t))) + len(2, len(2, span)));
           },
           [&](const std::string& t) { return request_with_span(span + len(3, t)); },
           [&](const std::string& t) { return request_with_span(span + len(15, len(2, t))); },
           [&](const std::string& t) { return request_with_span(span + len(11, len(2, t))); },
           [&](const std::string& t) {
             return request_with_span(span + len(11, len(3, kv(t, "v"))));
           },
           [&](const std::string& t) {
             return request_with_span(span + len(13, link_ids + len(3, t)));
           },
           [&](const std::string& t) {
             const auto zero_ids = len(1, id(16, '\0')) + len(2, id(8, '\x04'));
             return request_with_span(span + len(13, zero_ids + len(4, kv("k", t))));
           },
           [&](const std::string& t) { return request_with_span(span + len(9, kv(t, "v"))); },
           [&](const std::string& t) {
             return request_with_span(span + len(9, kv("long", std::string(70000, 'a'))) +
                                      len(9, kv("k", t)));
           }}) {
    require_same(place("fine"));
    require_same(place("\xc3\x28"));
    model::SpanBatch out;
    receivers::otlp::IngestResult result;
    CHECK(receivers::otlp::from_otlp_bytes(place("fine"), out, result).empty());
    CHECK(receivers::otlp::from_otlp_bytes(place("\xc3\x28"), out, result) ==
          "a string field is not valid UTF-8");
  }
}

TEST_CASE("packed OTLP decoding: nesting at protobuf's limit of 100", "[receivers][otlp]") {
  for (const int depth : {90, 94, 95, 96, 97, 100}) {
    // Request > ResourceSpans > ScopeSpans > Span > KeyValue > AnyValue, then arrays of arrays.
    std::string value = len(1, "deep");
    for (int i = 0; i < depth; ++i) value = len(5, len(1, value));
    INFO(depth);
    require_same(request_with_span(valid_ids() + len(9, len(1, "k") + len(2, value))));
    std::string group = tag(1, 0) + varint(1);
    for (int i = 0; i < depth; ++i) group = tag(50, 3) + group + tag(50, 4);
    require_same(request_with_span(valid_ids() + group));
  }
}

TEST_CASE("what the item encoding cannot hold arrives decoded, the same", "[receivers][otlp]") {
  Request request = full_request();
  auto* span = request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0);
  SECTION("a string of 70,000 bytes") {
    add(*span->mutable_attributes(), "long", std::string(70000, 'a'));
  }
  SECTION("an event of 300 attributes") {
    auto* event = span->add_events();
    for (int i = 0; i < 300; ++i) add(*event->mutable_attributes(), std::to_string(i), "v");
  }
  SECTION("a trace state of 70,000 bytes") {
    span->set_trace_state(std::string(70000, 'b'));
  }
  const auto compared = testing::compare_packed(request.SerializeAsString());
  INFO(compared.difference);
  REQUIRE(compared.difference.empty());
  CHECK(compared.packed_spans == compared.spans - 1);
}

// Found by an outside attack: a map, array or bytes value short enough for the small-string
// buffer, in an event's or a link's attributes with another after it, arrived with its first
// byte zeroed (a view into a moved string, read after the attributes' vector grew).
TEST_CASE("short map, array and bytes values in events and links survive the attributes after them",
          "[receivers][otlp]") {
  Request request;
  auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
  set_ids(*span, '\x05', '\x06');
  span->set_name("s");
  auto* event = span->add_events();
  auto* link = span->add_links();
  link->set_trace_id(std::string(16, '\x07'));
  link->set_span_id(std::string(8, '\x08'));
  for (auto* attributes : {event->mutable_attributes(), link->mutable_attributes()}) {
    attributes->Add()->set_key("i");
    attributes->Mutable(0)->mutable_value()->set_int_value(1);
    auto* map = attributes->Add();
    map->set_key("m");
    auto* inner = map->mutable_value()->mutable_kvlist_value()->add_values();
    inner->set_key("k");
    inner->mutable_value()->set_string_value("q");
    auto* bytes = attributes->Add();
    bytes->set_key("b");
    bytes->mutable_value()->set_bytes_value("xy");
    auto* mixed = attributes->Add();
    mixed->set_key("a");
    mixed->mutable_value()->mutable_array_value()->add_values()->set_string_value("q");
    mixed->mutable_value()->mutable_array_value()->add_values()->set_int_value(2);
    for (int i = 0; i < 5; ++i) {  // enough after them for the vector to grow
      auto* after = attributes->Add();
      after->set_key("after" + std::to_string(i));
      after->mutable_value()->set_int_value(i);
    }
  }
  const auto compared = testing::compare_packed(request.SerializeAsString());
  INFO(compared.difference);
  REQUIRE(compared.difference.empty());
  CHECK(compared.packed_spans == 1);
}

// Found by an outside attack: a 1.1 MB request of one large resource and many scopes held a
// copy of the resource per scope (+1 GB RSS), and a 4 MiB one took the CPU for an hour.
TEST_CASE("a request whose resource repeated per scope would cost more than 32 MiB is refused",
          "[receivers][otlp]") {
  const auto request_of = [](int scopes) {
    Request request;
    auto* rs = request.add_resource_spans();
    add(*rs->mutable_resource()->mutable_attributes(), "big", std::string(1 << 20, 'r'));
    for (int i = 0; i < scopes; ++i) {
      auto* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name("scope" + std::to_string(i));
      auto* span = ss->add_spans();
      set_ids(*span, '\x01', static_cast<char>(i + 1));
      span->set_name("s");
    }
    return request.SerializeAsString();
  };
  model::SpanBatch out;
  receivers::otlp::IngestResult result;
  CHECK(receivers::otlp::from_otlp_bytes(request_of(20), out, result).empty());
  CHECK(out.size() == 20);
  out.clear();
  const auto why = receivers::otlp::from_otlp_bytes(request_of(40), out, result);
  CHECK(why == receivers::otlp::DecodeBudget::kRefusal);
  CHECK(out.empty());
  CHECK(result.spans == 0);
}

// The same request over OTLP/JSON, which from_otlp decodes: the same bound, the same words.
TEST_CASE(
    "an OTLP/JSON request whose resource repeated per scope would cost more than 32 MiB is "
    "refused",
    "[receivers][otlp]") {
  const auto json_of = [](int scopes) {
    std::string json = R"({"resourceSpans":[{"resource":{"attributes":[{"key":"big","value":)"
                       R"({"stringValue":")" +
                       std::string(1 << 20, 'r') + R"("}}]},"scopeSpans":[)";
    for (int i = 0; i < scopes; ++i) {
      char span_id[17];
      std::snprintf(span_id, sizeof span_id, "%016x", i + 1);
      json += (i == 0 ? "" : ",");
      json += R"({"scope":{"name":"scope)" + std::to_string(i) +
              R"("},"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":")" + span_id +
              R"(","name":"s"}]})";
    }
    return json + "]}]}";
  };
  Request request;
  CHECK(receivers::otlp::parse_json(json_of(20), request).empty());
  CHECK(request.resource_spans(0).scope_spans_size() == 20);
  Request refused;
  CHECK(receivers::otlp::parse_json(json_of(40), refused) ==
        receivers::otlp::DecodeBudget::kRefusal);
}
