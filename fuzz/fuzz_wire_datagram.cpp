// A UDP datagram of records, as the UDP receiver gets it from anyone on the host: every record
// decodes or is counted malformed, and the counts add up.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "wire/decode.hpp"

using namespace tailgate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  model::SpanBatch spans;
  const auto result = wire::decode_datagram(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), spans);
  if (result.spans != spans.size()) std::abort();
  for (const auto& s : spans) {
    if (!s.resource) std::abort();  // every span has a resource (unknown_service at worst)
  }
  return 0;
}
