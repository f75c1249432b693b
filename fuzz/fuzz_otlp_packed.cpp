// The packed OTLP decoder (receivers/otlp_packed.hpp) against protobuf's parse and from_otlp on
// arbitrary bytes: the same requests refused, and for the rest the same spans, counts and
// refusals, field for field once unpacked (tests/support/otlp_packed_compare.hpp).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "support/otlp_packed_compare.hpp"

// protobuf logs each invalid UTF-8 string it refuses: a line per run would slow the fuzzer.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto compared = tailgate::testing::compare_packed(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!compared.difference.empty()) {
    std::fprintf(stderr, "packed decoding differs: %s\n", compared.difference.c_str());
    std::abort();
  }
  return 0;
}
