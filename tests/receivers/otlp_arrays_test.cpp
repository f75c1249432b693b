// OTLP arrays in: an ArrayValue of one scalar type becomes the model's array; any other (mixed,
// nested, empty of values that are unset) stays the compact JSON text it was before arrays.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "receivers/otlp_decode.hpp"

using namespace tailgate;

namespace {

namespace pb = opentelemetry::proto;

// A request of one span whose attributes `fill` adds.
template <typename Fill>
model::Span mapped(Fill fill) {
  pb::collector::trace::v1::ExportTraceServiceRequest request;
  auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, '\1'));
  span->set_span_id(std::string(8, '\2'));
  span->set_name("check_limits");
  fill(*span);
  model::SpanBatch out;
  REQUIRE(receivers::otlp::from_otlp(request, out).spans == 1);
  return out.at(0);
}

pb::common::v1::ArrayValue* array(pb::trace::v1::Span& span, const char* key) {
  auto* kv = span.add_attributes();
  kv->set_key(key);
  return kv->mutable_value()->mutable_array_value();
}

model::AttributeValue as_array(auto elements) {
  return model::ArrayValue(std::move(elements));
}

}  // namespace

TEST_CASE("OTLP arrays of one type map to the model's arrays, others to JSON text",
          "[receivers][otlp]") {
  const auto span = mapped([](pb::trace::v1::Span& s) {
    auto* venues = array(s, "venues");
    for (const auto* v : {"binance", "okx"}) venues->add_values()->set_string_value(v);
    auto* fills = array(s, "fills");
    fills->add_values()->set_int_value(5);
    fills->add_values()->set_int_value(-7);
    array(s, "prices")->add_values()->set_double_value(0.25);
    array(s, "checks")->add_values()->set_bool_value(false);
    array(s, "empty");
    auto* mixed = array(s, "mixed");
    mixed->add_values()->set_string_value("fx");
    mixed->add_values()->set_int_value(7);
    array(s, "nested")->add_values()->mutable_array_value()->add_values()->set_bool_value(true);
    array(s, "bytes")->add_values()->set_bytes_value("hi!");
  });
  const auto& a = span.attributes;
  REQUIRE(a.size() == 8);
  CHECK(a[0].value == as_array(std::vector<std::string>{"binance", "okx"}));
  CHECK(a[1].value == as_array(std::vector<std::int64_t>{5, -7}));
  CHECK(a[2].value == as_array(std::vector<double>{0.25}));
  CHECK(a[3].value == as_array(std::vector<bool>{false}));
  CHECK(a[4].value == model::AttributeValue(model::ArrayValue{}));
  CHECK(std::get<std::string>(a[5].value) == R"(["fx",7])");
  CHECK(std::get<std::string>(a[6].value) == "[[true]]");
  CHECK(std::get<std::string>(a[7].value) == R"(["aGkh"])");  // bytes: base64, as before
}
