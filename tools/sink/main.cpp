// tailgate-sink: a real OTLP/gRPC receiver for demos and tests. Counts what it gets, optionally
// writes every span as a JSON line, can refuse (UNAVAILABLE) for a while, and prints a JSON
// summary on SIGINT/SIGTERM.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "otlp_sink.hpp"

namespace {
constexpr const char* kUsage =
    "usage: tailgate-sink [--listen HOST:PORT] [--port-file FILE] [--jsonl FILE]\n"
    "                     [--fail-for-ms N] [--require-header KEY=VALUE]... [--no-gzip]\n"
    "                     [--tls-cert F --tls-key F [--tls-client-ca F]]\n"
    "                     [--throttle-for-ms N [--retry-delay-ms D]]\n"
    "  --listen          address to serve OTLP/gRPC on (default 127.0.0.1:4317; port 0: any)\n"
    "  --port-file       write the bound port there once serving\n"
    "  --jsonl           write every received span as one JSON line\n"
    "  --fail-for-ms     answer UNAVAILABLE for the first N ms after start\n"
    "  --require-header  answer PERMISSION_DENIED to requests without this metadata\n"
    "  --no-gzip         refuse compressed requests (proves a client compresses)\n"
    "  --tls-cert F --tls-key F [--tls-client-ca F]  serve TLS (and require client certs)\n"
    "  --throttle-for-ms N [--retry-delay-ms D]  answer RESOURCE_EXHAUSTED with RetryInfo D\n";
}

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:4317";
  std::string port_file;
  long fail_for_ms = 0;
  long throttle_for_ms = 0;
  long retry_delay_ms = 1000;
  tailgate::tools::OtlpSink::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--listen" && has_value)
      listen = argv[++i];
    else if (arg == "--port-file" && has_value)
      port_file = argv[++i];
    else if (arg == "--jsonl" && has_value)
      options.jsonl_path = argv[++i];
    else if (arg == "--no-gzip")
      options.accept_gzip = false;
    else if (arg == "--fail-for-ms" && has_value)
      fail_for_ms = std::stol(argv[++i]);
    else if (arg == "--require-header" && has_value) {
      const std::string kv = argv[++i];
      const auto eq = kv.find('=');
      if (eq == std::string::npos) return std::fprintf(stderr, "%s", kUsage), 2;
      options.required_headers[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (arg == "--help" || arg == "-h") {
      return std::fputs(kUsage, stdout), 0;
    } else {
      return std::fprintf(stderr, "tailgate-sink: unknown argument %s\n%s", argv[i], kUsage), 2;
    }
  }

  // Block the stop signals before gRPC starts its threads, so that only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    tailgate::tools::SinkServer server(listen, options);
    if (fail_for_ms > 0) {
      server.sink().fail_until(std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(fail_for_ms));
    }
    if (throttle_for_ms > 0) {
      server.sink().throttle_until(
          std::chrono::steady_clock::now() + std::chrono::milliseconds(throttle_for_ms),
          std::chrono::milliseconds(retry_delay_ms));
    }
    std::fprintf(stderr, "tailgate-sink: serving OTLP/gRPC%s on port %d\n",
                 options.tls_cert_file.empty() ? "" : " over TLS", server.port());
    if (!port_file.empty()) {
      const auto tmp = port_file + ".tmp";
      std::ofstream(tmp) << server.port() << '\n';
      std::rename(tmp.c_str(), port_file.c_str());  // readers never see a half-written file
    }
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.shutdown();
    const auto s = server.sink().stats();
    std::cout << nlohmann::json{{"requests", s.requests},
                                {"refused_requests", s.refused_requests},
                                {"rejected_requests", s.rejected_requests},
                                {"throttled_requests", s.throttled_requests},
                                {"spans", s.spans},
                                {"error_spans", s.error_spans},
                                {"spans_by_policy", s.spans_by_policy},
                                {"spans_by_service", s.spans_by_service}}
                     .dump()
              << std::endl;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tailgate-sink: %s\n", e.what());
    return 1;
  }
  return 0;
}
