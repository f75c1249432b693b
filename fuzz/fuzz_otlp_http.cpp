// An OTLP/HTTP request body as the receiver gets it from anyone who can connect. The first byte
// picks the encoding (bit 0: JSON, else protobuf; bit 1: gzip); the rest is the body. Every answer
// is one OTLP allows, and the counts add up: spans in the queue are exactly the spans counted
// received.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "receivers/otlp_http_receiver.hpp"

using namespace tailgate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool json = (data[0] & 1) != 0;
  const bool gzip = (data[0] & 2) != 0;
  telemetry::Counters counters;
  model::SpanQueue queue(1u << 20);
  const auto answer = receivers::handle_otlp_http(
      "POST", "/v1/traces", json ? "application/json" : "application/x-protobuf",
      gzip ? "gzip" : "", std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1),
      1u << 20, queue, counters);
  if (answer.status != 200 && answer.status != 400 && answer.status != 413) std::abort();
  if (queue.size_spans() != counters.received()) std::abort();
  if (answer.status != 200 && counters.received() != 0) std::abort();
  return 0;
}
