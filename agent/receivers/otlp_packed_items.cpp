#include "receivers/otlp_packed_items.hpp"

#include <cstring>

#include "receivers/otlp_decode.hpp"

namespace tailgate::receivers::otlp::packed {
namespace {

namespace common = opentelemetry::proto::common::v1;

// False: the value is one protobuf would merge (sent twice), or invalid: left to from_otlp's own
// mapping.
bool read_any_value(std::string_view bytes, int depth, Value& out) {
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
    common::AnyValue any;
    if (!any.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
    out.owned = value_of(any);
    out.is_owned = true;
  }
  return true;
}

}  // namespace

bool read_key_value(std::string_view bytes, int depth, std::string_view& key, Value& value) {
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
