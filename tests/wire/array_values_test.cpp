// Array attribute values (OTLP ArrayValue of one scalar type) in the record format: written by the
// agent's encoder and a client's ArrayView alike, read back decoded or packed, refused when bad.
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "support/packed_span.hpp"
#include "support/span_builder.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"
#include "wire/span_record.hpp"

using namespace tailgate;

namespace {

model::Span span_with_arrays() {
  auto span = testing::make_span(3, 1, testing::test_resource("orders"));
  span.attributes.push_back(
      {"order.venues", model::ArrayValue(std::vector<std::string>{"binance", "", "東証"})});
  span.attributes.push_back(
      {"order.fills", model::ArrayValue(std::vector<std::int64_t>{5, -1, INT64_MIN})});
  span.attributes.push_back({"order.prices", model::ArrayValue(std::vector<double>{0.5, -0.0})});
  span.attributes.push_back({"risk.checks", model::ArrayValue(std::vector<bool>{true, false})});
  span.attributes.push_back({"empty", model::ArrayValue{}});
  span.events.push_back(
      {span.end_unix_ns, "fill", {{"fill.ids", model::ArrayValue(std::vector<std::int64_t>{7})}}});
  span.links.push_back({testing::trace_id_of(9),
                        testing::span_id_of(9),
                        "",
                        {{"link.tags", model::ArrayValue(std::vector<std::string>{"a"})}}});
  return span;
}

// The record with its last attribute's array bytes replaced by `array` (type byte and on).
std::vector<std::byte> with_array_bytes(std::vector<std::uint8_t> array) {
  auto span = testing::make_span(1, 0, nullptr);
  span.attributes = {{"a", model::ArrayValue(std::vector<bool>{true})}};
  auto record = testing::encoded(span);
  record.resize(record.size() - 5);  // type 5, element type, count u16, one bool
  for (const auto b : array) record.push_back(std::byte{b});
  const auto length = static_cast<std::uint32_t>(record.size());
  std::memcpy(record.data(), &length, sizeof length);
  return record;
}

}  // namespace

TEST_CASE("arrays of each type round trip, decoded and packed, in attributes, events and links",
          "[wire]") {
  const auto span = span_with_arrays();
  const auto record = testing::encoded(span);
  model::Span decoded, packed;
  REQUIRE(wire::decode_span(testing::payload_of(record), span.resource, decoded) ==
          wire::DecodeError::None);
  REQUIRE(wire::decode_span(testing::payload_of(record), span.resource, packed,
                            wire::Items::Packed) == wire::DecodeError::None);
  CHECK(decoded.attributes == span.attributes);
  CHECK(decoded.events == span.events);
  CHECK(decoded.links == span.links);

  // Read before unpacking, as the policies and span metrics do, both forms give the same arrays.
  for (const auto* form : {&packed, &decoded}) {
    const auto venues = wire::find_attribute(*form, "order.venues");
    REQUIRE(venues);
    const auto* array = std::get_if<wire::ArrayRef>(&*venues);
    REQUIRE(array != nullptr);
    CHECK(array->value() == model::ArrayValue(std::vector<std::string>{"binance", "", "東証"}));
    CHECK(std::get<wire::ArrayRef>(*wire::find_attribute(*form, "risk.checks")).value() ==
          model::ArrayValue(std::vector<bool>{true, false}));
    CHECK(!wire::find_attribute(*form, "fill.ids"));  // an event's
  }
  wire::AttributeCursor p(packed), d(decoded);
  std::size_t n = 0;
  for (auto a = p.next(), b = d.next(); a || b; a = p.next(), b = d.next(), ++n) {
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->key == b->key);
    CHECK(a->value == b->value);
  }
  CHECK(n == span.attributes.size());

  REQUIRE(wire::unpack(packed) == wire::DecodeError::None);
  CHECK(packed.attributes == span.attributes);
  CHECK(packed.events == span.events);
  CHECK(packed.links == span.links);
}

TEST_CASE("a client's array views write the bytes the agent's arrays do, of the size it expects",
          "[wire]") {
  const std::vector<std::string_view> venues = {"binance", "okx"};
  const std::vector<std::int64_t> fills = {5, 7};
  const std::vector<double> prices = {0.25};
  const bool checks[] = {true, false, true};
  const std::vector<wire::ValueView> views = {
      wire::ArrayView(std::span<const std::string_view>(venues)),
      wire::ArrayView(std::span<const std::int64_t>(fills)),
      wire::ArrayView(std::span<const double>(prices)),
      wire::ArrayView(std::span<const bool>(checks)), wire::ArrayView()};
  const std::vector<model::AttributeValue> values = {
      model::ArrayValue(std::vector<std::string>{"binance", "okx"}),
      model::ArrayValue(std::vector<std::int64_t>{5, 7}),
      model::ArrayValue(std::vector<double>{0.25}),
      model::ArrayValue(std::vector<bool>{true, false, true}), model::ArrayValue{}};
  for (std::size_t i = 0; i < views.size(); ++i) {
    INFO(i);
    const auto id = testing::trace_id_of(1);
    const auto sid = testing::span_id_of(1);
    const wire::SpanHeader header{.trace_id = id.data(), .span_id = sid.data()};
    std::vector<std::byte> client(wire::kMaxRecordSize), agent(wire::kMaxRecordSize);
    wire::SpanEncoder encoder(client, header, "s");
    const auto before = encoder.state().used;
    encoder.attribute("k", views[i]);
    CHECK(encoder.state().used - before == 1 + 2 + 1 + wire::encoded_size(views[i]));
    client.resize(encoder.finish());

    model::Span span;  // all else zero, as the header above
    span.trace_id = id;
    span.span_id = sid;
    span.name = "s";
    span.attributes = {{"k", values[i]}};
    agent.resize(wire::encode_span(span, agent));
    CHECK(client == agent);
  }
}

TEST_CASE("an array past 65,535 elements is not written, one within the limit fits the record",
          "[wire]") {
  auto span = testing::make_span(1, 0, nullptr);
  span.attributes = {{"bits", model::ArrayValue(std::vector<bool>(wire::kMaxArrayElements + 1))}};
  std::vector<std::byte> buf(wire::kMaxRecordSize);
  CHECK(wire::encode_span(span, buf) == 0);
  span.attributes = {{"bits", model::ArrayValue(std::vector<bool>(60'000))}};
  CHECK(wire::encode_span(span, buf) > 0);
}

TEST_CASE("a bad array is refused with its reason, decoded or packed", "[wire]") {
  const struct {
    const char* what;
    std::vector<std::uint8_t> bytes;
    wire::DecodeError error;
  } cases[] = {
      {"an array of arrays", {5, 5, 1, 0, 4, 1, 0, 1}, wire::DecodeError::UnknownType},
      {"an unknown element type", {5, 9, 0, 0}, wire::DecodeError::UnknownType},
      {"a bool element other than 0 or 1", {5, 4, 2, 0, 1, 2}, wire::DecodeError::BadValue},
      {"fewer elements than its count",
       {5, 2, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0},
       wire::DecodeError::Truncated},
      {"a string past the record", {5, 1, 1, 0, 9, 0, 'a'}, wire::DecodeError::Truncated},
      {"no count", {5, 1, 1}, wire::DecodeError::Truncated},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const auto record = with_array_bytes(c.bytes);
    for (const auto items : {wire::Items::Decoded, wire::Items::Packed}) {
      model::Span out;
      CHECK(wire::decode_span(testing::payload_of(record), nullptr, out, items) == c.error);
    }
  }
  // The same bytes with a right count decode.
  const auto good = with_array_bytes({5, 2, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0});
  model::Span out;
  REQUIRE(wire::decode_span(testing::payload_of(good), nullptr, out) == wire::DecodeError::None);
  CHECK(out.attributes.at(0).value ==
        model::AttributeValue(model::ArrayValue(std::vector<std::int64_t>{1})));
}

TEST_CASE("a span's memory counts its arrays' elements", "[wire]") {
  auto span = testing::make_span(1, 0, nullptr);
  const auto before = model::memory_bytes(span);
  span.attributes.reserve(span.attributes.size() + 2);
  const auto reserved = model::memory_bytes(span);
  span.attributes.push_back({"ints", model::ArrayValue(std::vector<std::int64_t>(100))});
  span.attributes.push_back(
      {"texts", model::ArrayValue(std::vector<std::string>(10, std::string(100, 'x')))});
  CHECK(reserved >= before);
  CHECK(model::memory_bytes(span) >= reserved + 800 + 10 * (32 + 101));
}
