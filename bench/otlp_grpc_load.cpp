// OTLP/gRPC load for otlp_grpc_bench.py: `spans` spans in requests of 512 (otlp_requests.hpp),
// sent as fast as the agent answers from two connections. Retries a request the agent asks to
// retry. With `hold`, no span is a root (its trace stays buffered until max_trace_age). Prints
// one JSON line: spans sent and seconds taken. Usage: otlp_grpc_load <port> <spans> [hold]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "otlp_requests.hpp"

namespace {

namespace pb = opentelemetry::proto;
using tailgate::bench::kSpansPerTrace;
using tailgate::bench::kTracesPerRequest;
using tailgate::bench::make_request;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && !(argc == 4 && std::string(argv[3]) == "hold")) {
    std::fprintf(stderr, "usage: otlp_grpc_load <port> <spans> [hold]\n");
    return 2;
  }
  const std::string target = std::string("127.0.0.1:") + argv[1];
  const auto requests = std::strtoull(argv[2], nullptr, 10) / (kSpansPerTrace * kTracesPerRequest);
  const bool roots = argc == 3;
  const auto began = std::chrono::steady_clock::now();
  std::vector<std::thread> senders;
  for (std::uint64_t sender = 0; sender < 2; ++sender) {
    senders.emplace_back([&target, requests, sender, roots] {
      grpc::ChannelArguments args;
      args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection of its own
      auto stub = pb::collector::trace::v1::TraceService::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
      std::mt19937_64 random(sender + 1);
      for (std::uint64_t r = sender; r < requests; r += 2) {
        const auto request = make_request(1 + r * kTracesPerRequest, random, roots);
        for (int attempt = 0; attempt < 1000; ++attempt) {
          grpc::ClientContext context;
          pb::collector::trace::v1::ExportTraceServiceResponse response;
          const auto status = stub->Export(&context, request, &response);
          if (status.ok()) break;
          if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
            std::fprintf(stderr, "export failed: %s\n", status.error_message().c_str());
            std::exit(1);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  }
  for (auto& t : senders) t.join();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
  std::printf("{\"spans\": %llu, \"seconds\": %.3f}\n",
              static_cast<unsigned long long>(requests * kSpansPerTrace * kTracesPerRequest),
              took.count());
  return 0;
}
