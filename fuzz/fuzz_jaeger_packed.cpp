// The packed Jaeger decoder (receivers/jaeger_packed.hpp) against the libthrift reference on
// arbitrary datagrams: the same datagrams refused, and for the rest the same counts, client stats
// and spans, field for field once unpacked (tests/support/jaeger_compare.hpp). The first byte
// picks the protocol (bit 0: binary, else compact); the rest is the datagram.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "support/jaeger_compare.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using tailgate::receivers::jaeger::Protocol;
  const auto protocol = (data[0] & 1) != 0 ? Protocol::Binary : Protocol::Compact;
  const auto compared = tailgate::testing::compare_jaeger(
      std::span(reinterpret_cast<const std::byte*>(data) + 1, size - 1), protocol);
  if (!compared.difference.empty()) {
    std::fprintf(stderr, "packed Jaeger decoding differs: %s\n", compared.difference.c_str());
    std::abort();
  }
  return 0;
}
