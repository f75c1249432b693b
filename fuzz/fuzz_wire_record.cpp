// One record's payload, as the ring receiver hands it over: decode_span and decode_resource must
// refuse anything malformed without reading out of bounds, and a span they accept must survive
// re-encoding: encode(decode(encode(span))) == encode(span), byte for byte (bytes, not values:
// a NaN attribute is not equal to itself). Packed (as the agent's receivers decode), the same
// payload must be accepted exactly when it is decoded, and unpack to the same encoding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "model/span.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"

using namespace tailgate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> payload(reinterpret_cast<const std::byte*>(data), size);
  model::Resource resource;
  (void)wire::decode_resource(payload, resource);

  model::Span span, packed;
  const auto decoded = wire::decode_span(payload, wire::unknown_resource(), span);
  const auto checked =
      wire::decode_span(payload, wire::unknown_resource(), packed, wire::Items::Packed);
  if ((decoded == wire::DecodeError::None) != (checked == wire::DecodeError::None)) std::abort();
  if (decoded != wire::DecodeError::None) return 0;
  for (wire::AttributeCursor cursor(packed); const auto a = cursor.next();) {
    // The first attribute of that name, from either form, is of the same kind.
    const auto in_packed = wire::find_attribute(packed, a->key);
    const auto in_decoded = wire::find_attribute(span, a->key);
    if (!in_packed || !in_decoded || in_packed->index() != in_decoded->index()) std::abort();
  }
  if (wire::unpack(packed) != wire::DecodeError::None) std::abort();  // checked, yet unreadable
  std::vector<std::byte> again(wire::kMaxRecordSize);
  const auto n = wire::encode_span(span, again);
  if (n == 0) return 0;  // larger than a record once re-encoded: fine, the decoder took less
  std::vector<std::byte> unpacked(wire::kMaxRecordSize);
  if (wire::encode_span(packed, unpacked) != n ||
      std::memcmp(again.data(), unpacked.data(), n) != 0)
    std::abort();  // unpacked is not what a full decode gives
  model::Span back;
  const auto redecoded =
      wire::decode_span(std::span<const std::byte>(again.data() + wire::kRecordHeaderSize,
                                                   n - wire::kRecordHeaderSize),
                        wire::unknown_resource(), back);
  if (redecoded != wire::DecodeError::None) std::abort();  // our own encoding refused
  std::vector<std::byte> third(wire::kMaxRecordSize);
  const auto m = wire::encode_span(back, third);
  if (m != n || std::memcmp(again.data(), third.data(), n) != 0) std::abort();  // not stable
  return 0;
}
