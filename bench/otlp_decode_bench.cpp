// The OTLP receivers' decoding step alone, for callgrind: one 512-span request (otlp_requests.hpp)
// decoded `iterations` times, either as before (protobuf's parse on an arena, then from_otlp) or
// packed (from_otlp_bytes). Instructions per span = (Ir at N iterations - Ir at 1) / ((N-1) * 512).
// Usage: otlp_decode_bench reference|packed <iterations>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include <google/protobuf/arena.h>

#include "otlp_requests.hpp"
#include "receivers/otlp_packed.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: otlp_decode_bench reference|packed <iterations>\n");
    return 2;
  }
  const std::string_view mode = argv[1];
  const auto iterations = std::strtoul(argv[2], nullptr, 10);
  std::mt19937_64 random(1);
  const auto bytes = tailgate::bench::make_request(1, random).SerializeAsString();
  std::size_t spans = 0;
  for (unsigned long i = 0; i < iterations; ++i) {
    tailgate::model::SpanBatch batch;
    tailgate::receivers::otlp::IngestResult result;
    if (mode == "packed") {
      if (!tailgate::receivers::otlp::from_otlp_bytes(bytes, batch, result).empty()) return 1;
    } else {
      google::protobuf::Arena arena;
      auto* request = google::protobuf::Arena::CreateMessage<
          tailgate::receivers::otlp::pb::ExportTraceServiceRequest>(&arena);
      if (!request->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return 1;
      result = tailgate::receivers::otlp::from_otlp(*request, batch);
    }
    spans += batch.size();
  }
  std::printf("%zu spans decoded, %zu bytes a request\n", spans, bytes.size());
  return 0;
}
