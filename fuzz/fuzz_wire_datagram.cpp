// A UDP datagram of records, as the UDP receiver gets it from anyone on the host: every record
// decodes or is counted malformed, and the counts add up; packed (as the receiver decodes it),
// the same records are accepted and every span unpacks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "wire/decode.hpp"

using namespace tailgate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(data), size);
  model::SpanBatch spans, packed;
  const auto result = wire::decode_datagram(datagram, spans);
  if (result.spans != spans.size()) std::abort();
  const auto packed_result = wire::decode_datagram(datagram, packed, wire::Items::Packed);
  if (packed_result.spans != result.spans ||
      packed_result.malformed_records != result.malformed_records ||
      packed_result.zero_id_spans != result.zero_id_spans) {
    std::abort();
  }
  for (auto& s : packed) {
    if (wire::unpack(s) != wire::DecodeError::None) std::abort();
  }
  for (const auto& s : spans) {
    if (!s.resource) std::abort();  // every span has a resource (unknown_service at worst)
    if (s.trace_id == model::TraceId{} || s.span_id == model::SpanId{}) std::abort();  // refused
  }
  return 0;
}
