#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "support/packed_span.hpp"
#include "support/span_builder.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"
#include "wire/span_record.hpp"

using namespace tailgate;

TEST_CASE("a span with every attribute type, events and unicode survives a round trip", "[wire]") {
  auto resource = testing::test_resource("orders");
  auto span = testing::make_span(7, 1, resource);  // trace 7: error status with unicode message
  span.name = "genesis.order.execute_market — 注文";
  span.trace_state = "ot=th:fd70a4,vendor=x";
  span.parent_is_remote = true;
  span.attributes.push_back({"", std::string("")});  // empty key and value are legal
  span.attributes.push_back({"neg", std::int64_t{-9'223'372'036'854'775'807 - 1}});
  span.attributes.push_back({"nan-free", -0.0});
  span.events.push_back({span.end_unix_ns, "exception", {}});

  const auto record = testing::encoded(span);
  wire::RecordHeader header{};
  std::memcpy(&header, record.data(), sizeof header);
  CHECK(header.length == record.size());
  CHECK(header.type == static_cast<std::uint16_t>(wire::RecordType::Span));
  CHECK(header.schema == wire::kSchemaVersion);

  model::Span decoded;
  REQUIRE(wire::decode_span(testing::payload_of(record), resource, decoded) ==
          wire::DecodeError::None);
  testing::check_same_span(span, decoded);
  CHECK(decoded.resource == resource);
}

TEST_CASE("packed items unpack to the decoded span, cost less, and read as attributes", "[wire]") {
  auto resource = testing::test_resource("orders");
  auto span = testing::make_span(7, 1, resource);  // error status with a message
  span.trace_state = "ot=th:fd70a4";
  span.attributes.push_back({"order.quantity", std::int64_t{-10}});
  span.attributes.push_back({"order.price", 43250.5});
  span.attributes.push_back({"risk.passed", true});
  span.events.push_back({span.end_unix_ns, "fill", {{"fill.qty", std::int64_t{3}}}});
  span.attributes.push_back({"after.event", std::string("x")});
  const auto record = testing::encoded(span);

  model::Span decoded, packed;
  REQUIRE(wire::decode_span(testing::payload_of(record), resource, decoded) ==
          wire::DecodeError::None);
  REQUIRE(wire::decode_span(testing::payload_of(record), resource, packed, wire::Items::Packed) ==
          wire::DecodeError::None);
  CHECK(packed.attributes.empty());
  CHECK(packed.events.empty());
  CHECK(packed.status_message.empty());
  CHECK(!packed.packed.empty());
  CHECK(packed.name == span.name);
  CHECK(packed.status == span.status);
  CHECK(model::memory_bytes(packed) < model::memory_bytes(decoded));

  // The cursor reads the same attributes from either form, in order, skipping other items.
  std::vector<std::pair<std::string, wire::ValueRef>> from_packed, from_decoded;
  wire::AttributeCursor p(packed), d(decoded);
  while (const auto a = p.next()) from_packed.emplace_back(std::string(a->key), a->value);
  while (const auto a = d.next()) from_decoded.emplace_back(std::string(a->key), a->value);
  REQUIRE(from_packed.size() == span.attributes.size());
  CHECK(from_packed == from_decoded);
  CHECK(from_packed.back().first == "after.event");
  CHECK(std::get<double>(from_packed[from_packed.size() - 3].second) == 43250.5);

  // Looked up by name, the first of that name, past the event and status items.
  for (const auto* span_form : {&packed, &decoded}) {
    // make_span set both first: the first of a name wins.
    CHECK(wire::find_attribute(*span_form, "order.price") == wire::ValueRef(43251.5));
    CHECK(wire::find_attribute(*span_form, "after.event") == wire::ValueRef(std::string_view("x")));
    CHECK(wire::find_attribute(*span_form, "risk.passed") == wire::ValueRef(false));
    CHECK(!wire::find_attribute(*span_form, "fill.qty"));  // an event's, not the span's
    CHECK(!wire::find_attribute(*span_form, "order.pric"));
  }

  // A copy owns its own bytes; the original unpacks to exactly what a full decode gives.
  const auto copy = packed;
  REQUIRE(wire::unpack(packed) == wire::DecodeError::None);
  CHECK(packed.packed.empty());
  testing::check_same_span(span, packed);
  testing::check_same_span(decoded, packed);
  CHECK(!copy.packed.empty());
  auto again = copy;
  REQUIRE(wire::unpack(again) == wire::DecodeError::None);
  testing::check_same_span(span, again);
  // Unpacking twice changes nothing; a packed span is not re-encoded as if it had no items.
  REQUIRE(wire::unpack(again) == wire::DecodeError::None);
  testing::check_same_span(span, again);
  std::vector<std::byte> buf(wire::kMaxRecordSize);
  CHECK(wire::encode_span(copy, buf) == 0);
}

TEST_CASE("a datagram carries a resource record and the spans after it", "[wire]") {
  const auto resource = testing::test_resource("risk");
  std::vector<std::byte> datagram(wire::kMaxRecordSize);
  std::size_t used = wire::align_record(wire::encode_resource(*resource, datagram));
  std::vector<model::Span> sent;
  for (std::uint64_t i = 0; i < 4; ++i) {
    sent.push_back(testing::make_span(3, i, resource));
    const auto n = wire::encode_span(sent.back(), std::span(datagram).subspan(used));
    REQUIRE(n > 0);
    used += wire::align_record(n);
  }
  const auto loss = wire::encode_loss(std::span(datagram).subspan(used), 42);
  REQUIRE(loss > 0);
  used += loss;

  model::SpanBatch out;
  const auto result = wire::decode_datagram(std::span(datagram).first(used), out);
  CHECK(result.spans == 4);
  CHECK(result.malformed_records == 0);
  CHECK(result.producer_losses == 42);
  REQUIRE(out.size() == 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    testing::check_same_span(sent[i], out[i]);
    CHECK(*out[i].resource == *resource);
  }
}

TEST_CASE("spans without a resource record get unknown_service", "[wire]") {
  const auto record = testing::encoded(testing::make_span(1, 0, testing::test_resource("x")));
  model::SpanBatch out;
  const auto result = wire::decode_datagram(record, out);
  REQUIRE(result.spans == 1);
  CHECK(out[0].resource == wire::unknown_resource());
}

TEST_CASE("every truncation of a valid record is rejected", "[wire]") {
  const auto record = testing::encoded(testing::make_span(14, 1, testing::test_resource("x")));
  const auto payload = testing::payload_of(record);
  for (std::size_t n = 0; n < payload.size(); ++n) {
    CAPTURE(n);
    // An exact-size copy, so a read past the end is a real out-of-bounds read under ASan.
    std::vector<std::byte> cut(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(n));
    for (const auto items : {wire::Items::Decoded, wire::Items::Packed}) {
      model::Span out;
      CHECK(wire::decode_span(cut, nullptr, out, items) != wire::DecodeError::None);
    }

    std::vector<std::byte> framed(
        record.begin(), record.begin() + static_cast<std::ptrdiff_t>(n + wire::kRecordHeaderSize));
    model::SpanBatch batch;
    const auto result = wire::decode_datagram(framed, batch);
    CHECK(result.spans == 0);
    CHECK(result.malformed_records == 1);
  }
}

TEST_CASE("corrupt records are rejected with their reason", "[wire]") {
  const auto good = testing::encoded(testing::make_span(2, 1, testing::test_resource("x")));
  const auto name_len = testing::make_span(2, 1, nullptr).name.size();
  const std::size_t first_item = wire::kRecordHeaderSize + wire::kSpanFixedSize + name_len;
  struct Case {
    const char* name;
    std::size_t offset;
    std::uint8_t value;
    wire::DecodeError expected;
  };
  const Case cases[] = {
      {"span kind past CONSUMER", wire::kRecordHeaderSize + 48, 6, wire::DecodeError::BadValue},
      {"status past ERROR", wire::kRecordHeaderSize + 49, 3, wire::DecodeError::BadValue},
      {"name longer than the record", wire::kRecordHeaderSize + 53, 0xFF,
       wire::DecodeError::Truncated},
      {"more items than the record holds", wire::kRecordHeaderSize + 54, 0x40,
       wire::DecodeError::Truncated},
      {"fewer items than the record holds", wire::kRecordHeaderSize + 54, 1,
       wire::DecodeError::TrailingBytes},
      {"unknown item tag", first_item, 9, wire::DecodeError::UnknownType},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      auto bad = good;
      bad[c.offset] = std::byte{c.value};
      model::Span out, packed;
      CHECK(wire::decode_span(testing::payload_of(bad), nullptr, out) == c.expected);
      CHECK(wire::decode_span(testing::payload_of(bad), nullptr, packed, wire::Items::Packed) ==
            c.expected);
    }
  }
}

TEST_CASE("a bool other than 0 or 1 and an unknown value type are rejected", "[wire]") {
  model::Span span = testing::make_span(1, 0, nullptr);
  span.attributes = {{"b", true}};
  auto record = testing::encoded(span);
  // The last byte is the bool's value, the one before it the value type.
  record.back() = std::byte{2};
  for (const auto items : {wire::Items::Decoded, wire::Items::Packed}) {
    model::Span out;
    CHECK(wire::decode_span(testing::payload_of(record), nullptr, out, items) ==
          wire::DecodeError::BadValue);
  }
  record.back() = std::byte{1};
  record[record.size() - 2] = std::byte{7};
  for (const auto items : {wire::Items::Decoded, wire::Items::Packed}) {
    model::Span out;
    CHECK(wire::decode_span(testing::payload_of(record), nullptr, out, items) ==
          wire::DecodeError::UnknownType);
  }
}

TEST_CASE("a bad record is skipped and the records after it still arrive", "[wire]") {
  const auto resource = testing::test_resource("x");
  std::vector<std::byte> datagram(4096);
  std::size_t used = 0;
  std::vector<std::size_t> starts;
  for (std::uint64_t i = 0; i < 3; ++i) {
    starts.push_back(used);
    used += wire::align_record(
        wire::encode_span(testing::make_span(5, i, resource), std::span(datagram).subspan(used)));
  }
  datagram[starts[1] + wire::kRecordHeaderSize + 48] = std::byte{99};  // middle span: bad kind
  datagram[starts[2] + 6] = std::byte{9};                              // last: unknown schema
  model::SpanBatch out;
  const auto result = wire::decode_datagram(std::span(datagram).first(used), out);
  CHECK(result.spans == 1);
  CHECK(result.malformed_records == 2);
  CHECK(result.first_error == wire::DecodeError::BadValue);
}

TEST_CASE("every single-byte corruption decodes or is rejected, never read out of bounds",
          "[wire]") {
  const auto resource = testing::test_resource("x");
  std::vector<std::byte> datagram(4096);
  std::size_t used = wire::align_record(wire::encode_resource(*resource, datagram));
  used += wire::encode_span(testing::make_span(7, 1, resource), std::span(datagram).subspan(used));
  datagram.resize(used);
  std::size_t rejected = 0;
  for (std::size_t at = 0; at < datagram.size(); ++at) {
    for (const int v : {0x00, 0x01, 0x7F, 0x80, 0xFF}) {
      auto bad = datagram;
      bad[at] = static_cast<std::byte>(v);
      model::SpanBatch out, packed;
      const auto result = wire::decode_datagram(bad, out);
      CHECK(result.spans + result.malformed_records >= 1);
      if (result.malformed_records > 0) ++rejected;
      // Packed, the same records are accepted, and what is accepted unpacks to the same span.
      const auto packed_result = wire::decode_datagram(bad, packed, wire::Items::Packed);
      CHECK(packed_result.spans == result.spans);
      CHECK(packed_result.first_error == result.first_error);
      for (std::size_t i = 0; i < std::min(out.size(), packed.size()); ++i) {
        CHECK(wire::unpack(packed[i]) == wire::DecodeError::None);
        CHECK(packed[i].attributes == out[i].attributes);
        CHECK(packed[i].events == out[i].events);
        CHECK(packed[i].status_message == out[i].status_message);
      }
    }
  }
  CHECK(rejected > 0);
}

TEST_CASE("the encoder refuses what does not fit instead of writing past the buffer", "[wire]") {
  const auto span = testing::make_span(1, 1, nullptr);
  const auto full = testing::encoded(span).size();
  for (std::size_t n = 0; n < full; ++n) {
    std::vector<std::byte> small(n);
    CHECK(wire::encode_span(span, small) == 0);
  }
  model::Span long_name = span;
  long_name.name.assign(wire::kMaxStringLength + 1, 'x');
  std::vector<std::byte> big(wire::kMaxRecordSize * 2);
  CHECK(wire::encode_span(long_name, big) == 0);
}

TEST_CASE("a span with an all-zero trace or span id is refused, packed or decoded", "[wire]") {
  const auto resource = testing::test_resource("risk");
  const auto items = GENERATE(wire::Items::Decoded, wire::Items::Packed);
  auto zero_trace = testing::make_span(5, 1, resource);
  zero_trace.trace_id = {};
  auto zero_span = testing::make_span(5, 2, resource);
  zero_span.span_id = {};
  for (const auto& span : {zero_trace, zero_span}) {
    model::Span out;
    CHECK(wire::decode_span(testing::payload_of(testing::encoded(span)), resource, out, items) ==
          wire::DecodeError::ZeroId);
  }
  // In a datagram: counted apart from malformed records; the valid span after them arrives.
  std::vector<std::byte> datagram(wire::kMaxRecordSize);
  std::size_t used = 0;
  for (const auto& span : {zero_trace, zero_span, testing::make_span(5, 3, resource)}) {
    used += wire::align_record(wire::encode_span(span, std::span(datagram).subspan(used)));
  }
  model::SpanBatch out;
  const auto result = wire::decode_datagram(std::span(datagram).first(used), out, items);
  CHECK(result.spans == 1);
  CHECK(result.zero_id_spans == 2);
  CHECK(result.malformed_records == 0);
  // A parent id of zeros is a root, not a refusal.
  CHECK(out.size() == 1);
}

TEST_CASE("loss records' counts add up without wrapping", "[wire]") {
  std::vector<std::byte> datagram(64);
  std::size_t used = 0;
  for (const std::uint64_t n : {UINT64_MAX - 1, std::uint64_t{5}}) {
    used += wire::align_record(wire::encode_loss(std::span(datagram).subspan(used), n));
  }
  model::SpanBatch out;
  CHECK(wire::decode_datagram(std::span(datagram).first(used), out).producer_losses == UINT64_MAX);
}

TEST_CASE("items left out in skip mode arrive as the span's dropped counts, packed or decoded",
          "[wire]") {
  const std::array<std::uint8_t, 16> trace{1};
  const std::array<std::uint8_t, 8> id{2};
  const wire::SpanHeader header{.trace_id = trace.data(), .span_id = id.data()};
  std::vector<std::byte> buffer(200);  // room for a few attributes only
  wire::SpanEncoder e(buffer, header, "full", /*skip_items=*/true);
  for (int i = 0; i < 10; ++i) e.attribute("attribute.number", std::int64_t{i});
  const std::array<wire::AttributeView, 1> big{{{"k", std::string_view("x")}}};
  e.event(1, std::string(150, 'e'), big);  // does not fit either
  const auto state = e.state();
  REQUIRE(state.dropped_attributes > 0);
  CHECK(state.dropped_events == 1);
  CHECK(state.dropped_items == state.dropped_attributes + 1);
  const auto length = e.finish();
  REQUIRE(length > 0);
  REQUIRE(length <= buffer.size());
  const auto payload = std::span<const std::byte>(buffer).subspan(wire::kRecordHeaderSize,
                                                                  length - wire::kRecordHeaderSize);
  model::Span decoded;
  REQUIRE(wire::decode_span(payload, nullptr, decoded) == wire::DecodeError::None);
  CHECK(decoded.attributes.size() + state.dropped_attributes == 10);
  CHECK(decoded.dropped_attributes == state.dropped_attributes);
  CHECK(decoded.dropped_events == 1);
  CHECK(decoded.events.empty());

  model::Span packed;
  REQUIRE(wire::decode_span(payload, nullptr, packed, wire::Items::Packed) ==
          wire::DecodeError::None);
  std::size_t seen = 0;
  for (wire::AttributeCursor c(packed); c.next();) ++seen;  // the Dropped item is no attribute
  CHECK(seen == decoded.attributes.size());
  REQUIRE(wire::unpack(packed) == wire::DecodeError::None);
  CHECK(packed.dropped_attributes == decoded.dropped_attributes);
  CHECK(packed.dropped_events == 1);

  // The agent's encoder carries them too (re-encoding a span keeps its counts).
  decoded.span_id = {3};
  model::Span again;
  REQUIRE(wire::decode_span(testing::payload_of(testing::encoded(decoded)), nullptr, again) ==
          wire::DecodeError::None);
  CHECK(again.dropped_attributes == decoded.dropped_attributes);
  CHECK(again.dropped_events == 1);
}

TEST_CASE("links round trip with their trace state and attributes, packed or decoded", "[wire]") {
  auto resource = testing::test_resource("orders");
  auto span = testing::make_span(3, 1, resource);
  span.links.push_back(
      {.trace_id = {9, 8, 7},
       .span_id = {6, 5},
       .trace_state = "rojo=00f067aa0ba902b7",
       .attributes = {{"link.kind", std::string("follows")}, {"link.seq", std::int64_t{4}}}});
  span.links.push_back({.trace_id = {1}, .span_id = {2}, .trace_state = "", .attributes = {}});
  const auto record = testing::encoded(span);
  model::Span decoded;
  REQUIRE(wire::decode_span(testing::payload_of(record), resource, decoded) ==
          wire::DecodeError::None);
  testing::check_same_span(span, decoded);
  CHECK(decoded.links == span.links);
  model::Span packed;
  REQUIRE(wire::decode_span(testing::payload_of(record), resource, packed, wire::Items::Packed) ==
          wire::DecodeError::None);
  std::size_t seen = 0;
  for (wire::AttributeCursor c(packed); c.next();)
    ++seen;  // a link's attributes are not the span's
  CHECK(seen == span.attributes.size());
  REQUIRE(wire::unpack(packed) == wire::DecodeError::None);
  CHECK(packed.links == span.links);
}
