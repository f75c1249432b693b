// A Jaeger emitBatch datagram as the Jaeger receivers get it from anyone on the host. The first
// byte picks the protocol (bit 0: binary, else compact); the rest is the datagram. A datagram
// adds all of its decodable spans or none, every span has its resource, and nothing the datagram
// claims (lengths, counts, nesting) may allocate past libFuzzer's RSS limit or crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "receivers/jaeger_thrift.hpp"

using namespace tailgate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto protocol = (data[0] & 1) != 0 ? receivers::jaeger::Protocol::Binary
                                           : receivers::jaeger::Protocol::Compact;
  model::SpanBatch spans;
  const auto result = receivers::jaeger::decode_emit_batch(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(data) + 1, size - 1), protocol,
      spans);
  if (result.spans != spans.size()) std::abort();
  // An error always comes with a refusal: the datagram's, or a span's (zero ids).
  if (result.malformed == 0 && result.zero_ids == 0 && !result.error.empty()) std::abort();
  for (const auto& s : spans) {
    if (!s.resource || s.span_id == model::SpanId{} || s.trace_id == model::TraceId{} ||
        s.end_unix_ns < s.start_unix_ns) {
      std::abort();
    }
  }
  return 0;
}
