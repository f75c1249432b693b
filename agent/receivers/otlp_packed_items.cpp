#include "receivers/otlp_packed_items.hpp"

#include <cstring>

#include "receivers/decode_budget.hpp"
#include "receivers/otlp_decode.hpp"

namespace tailgate::receivers::otlp::packed {
namespace {

namespace common = opentelemetry::proto::common::v1;

// False: the value is one protobuf would merge (sent twice), or invalid: left to from_otlp's own
// mapping.
bool read_any_value(std::string_view bytes, int depth, Value& out) {
  // The forms SDKs send, one string, int or bool field filling the message, read without the walk
  // below (which reads them the same); anything else, or a varint it cannot read, goes the walk.
  const auto head = bytes.size() >= 2 ? static_cast<std::uint8_t>(bytes[0]) : 0;
  const std::size_t size = bytes.size() >= 2 ? static_cast<std::uint8_t>(bytes[1]) : 0x80;
  if (head == 0x0A && size < 0x80 && size == bytes.size() - 2) {  // string_value
    const auto text = bytes.substr(2);
    out.view = text;
    return protowire::valid_utf8(text);
  }
  if (head == 0x18 || head == 0x10) {  // int_value, bool_value
    Reader r(bytes.substr(1));
    std::uint64_t n = 0;
    if (r.varint(n) && r.done()) {
      if (head == 0x18) {
        out.view = static_cast<std::int64_t>(n);
      } else {
        out.view = n != 0;
      }
      return true;
    }
  }
  bool typeless = false;  // array, map or bytes: value_of's
  const bool read = for_each_field(
      bytes, Message::AnyValue, depth, [&](Reader& r, std::uint32_t number, const Field& field) {
        std::uint64_t n = 0;
        std::string_view s;
        switch (number) {
          case 1:
            if (!r.bytes(s) || !protowire::valid_utf8(s)) return false;
            out.view = s;
            return true;
          case 2:
            if (!r.varint(n)) return false;
            out.view = n != 0;
            return true;
          case 3:
            if (!r.varint(n)) return false;
            out.view = static_cast<std::int64_t>(n);
            return true;
          case 4: {
            if (!r.fixed64(n)) return false;
            double d = 0;
            std::memcpy(&d, &n, sizeof d);
            out.view = d;
            return true;
          }
          default:  // 5 array, 6 map, 7 bytes (the last one sent wins, or protobuf merges them)
            typeless = true;
            return r.bytes(s) && (field.kind != protowire::Kind::Message ||
                                  (depth >= 1 && valid(s, field.message, depth - 1)));
        }
      });
  if (!read) return false;
  if (typeless) {
    // Parsed and mapped value by value: past a bound, left to the span's own mapping, which is
    // counted against the request's budget (an array of a million empty values: +100 MB).
    if (protowire::count_messages(bytes, Message::AnyValue) > DecodeBudget::kMaxPackedValueMessages)
      return false;
    common::AnyValue any;
    if (!any.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
    out.owned = value_of(any);
  }
  return true;
}

}  // namespace

bool read_key_value(std::string_view bytes, int depth, std::string_view& key, Value& value) {
  // The form SDKs send, a key (field 1) then a value (field 2) and nothing else, each under 128
  // bytes: read without the walk below, which reads it the same.
  if (bytes.size() >= 4 && bytes[0] == 0x0A) {
    const auto key_size = static_cast<std::uint8_t>(bytes[1]);
    if (key_size < 0x80 && key_size + 4u <= bytes.size() && bytes[2 + key_size] == 0x12) {
      const auto value_size = static_cast<std::uint8_t>(bytes[3 + key_size]);
      if (value_size < 0x80 && 4u + key_size + value_size == bytes.size()) {
        key = bytes.substr(2, key_size);
        return protowire::valid_utf8(key) && fits16(key) &&
               read_any_value(bytes.substr(4 + key_size), depth - 1, value) && value.fits();
      }
    }
  }
  int values = 0;
  const bool read = for_each_field(bytes, Message::KeyValue, depth,
                                   [&](Reader& r, std::uint32_t number, const Field&) {
                                     std::string_view body;
                                     if (!r.bytes(body)) return false;
                                     if (number == 1) {
                                       key = body;
                                       return protowire::valid_utf8(body);
                                     }
                                     // A value sent twice is merged by protobuf: left to
                                     // from_otlp's mapping.
                                     return ++values == 1 && read_any_value(body, depth - 1, value);
                                   });
  return read && fits16(key) && value.fits();
}

void write_attributes(wire::ByteWriter& w, const std::vector<KeyValueView>& attributes) {
  w.u8(static_cast<std::uint8_t>(attributes.size()));
  for (const auto& a : attributes) {
    w.str16(a.key);
    a.value.write(w);
  }
}

}  // namespace tailgate::receivers::otlp::packed
