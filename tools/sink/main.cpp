// tailgate-sink: a real OTLP/gRPC receiver for demos and tests. Counts what it gets, optionally
// writes every span as a JSON line, can refuse (UNAVAILABLE) for a while, and prints a JSON
// summary on SIGINT/SIGTERM.
#include <pthread.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_checks.hpp"
#include "otlp_sink.hpp"

namespace {

constexpr const char* kFooter = R"(
Signals:
  SIGINT, SIGTERM   stop, and print what was received as one JSON line on stdout
Exit codes:
  0                 stopped by a signal (the summary printed)
  1                 could not serve (the address taken, a TLS file unreadable...)
  2                 bad command line
)";

constexpr std::uint64_t kMaxMilliseconds = 86'400'000;

struct Args {
  std::string listen = "127.0.0.1:4317";
  std::string port_file;
  long fail_for_ms = 0;
  long throttle_for_ms = 0;
  long retry_delay_ms = 1000;
  tailgate::tools::OtlpSink::Options options;
};

// An exit code when the program stops here (--help: 0; a bad command line: 2).
std::optional<int> parse(int argc, char** argv, Args& a) {
  CLI::App app(
      "tailgate-sink: a real OTLP/gRPC receiver for demos and tests; counts what it "
      "gets and prints a JSON summary when stopped.",
      "tailgate-sink");
  app.footer(kFooter);
  // A flag given twice: the last one wins, as it did before CLI11 (scripts append overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::vector<std::string> headers;
  app.add_option("--listen", a.listen, "address to serve OTLP/gRPC on (port 0: any)")
      ->capture_default_str()
      ->check(tailgate::tools::endpoints(tailgate::tools::PortZero::Allowed));
  app.add_option("--port-file", a.port_file, "write the bound port there once serving");
  app.add_option("--jsonl", a.options.jsonl_path, "write every received span as one JSON line");
  // A day at most: a negative time meant nothing, and a huge one overflowed the clock.
  const auto milliseconds = tailgate::tools::count_in(0, kMaxMilliseconds);
  app.add_option("--fail-for-ms", a.fail_for_ms,
                 "answer UNAVAILABLE for the first N ms after start")
      ->check(milliseconds);
  app.add_option("--require-header", headers,
                 "KEY=VALUE: answer PERMISSION_DENIED to requests without this metadata "
                 "(repeatable)")
      ->take_all()
      ->allow_extra_args(false);
  app.add_flag(
      "--no-gzip", [&a](std::int64_t) { a.options.accept_gzip = false; },
      "refuse compressed requests (proves a client compresses)");
  auto* cert = app.add_option("--tls-cert", a.options.tls_cert_file, "serve TLS: PEM certificate");
  auto* key = app.add_option("--tls-key", a.options.tls_key_file, "its PEM private key");
  app.add_option("--tls-client-ca", a.options.tls_client_ca_file,
                 "require client certificates signed by this CA")
      ->needs(cert);
  cert->needs(key);
  key->needs(cert);
  auto* throttle = app.add_option("--throttle-for-ms", a.throttle_for_ms,
                                  "answer RESOURCE_EXHAUSTED for the first N ms after start")
                       ->check(milliseconds);
  app.add_option("--retry-delay-ms", a.retry_delay_ms, "the RetryInfo delay those answers carry")
      ->capture_default_str()
      ->check(milliseconds)
      ->needs(throttle);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (const auto& kv : headers) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "tailgate-sink: --require-header wants KEY=VALUE, got %s\n", kv.c_str());
      return 2;
    }
    a.options.required_headers[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (const auto exit_code = parse(argc, argv, args)) return *exit_code;
  auto& options = args.options;

  // Block the stop signals before gRPC starts its threads, so that only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    tailgate::tools::SinkServer server(args.listen, options);
    if (args.fail_for_ms > 0) {
      server.sink().fail_until(std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(args.fail_for_ms));
    }
    if (args.throttle_for_ms > 0) {
      server.sink().throttle_until(
          std::chrono::steady_clock::now() + std::chrono::milliseconds(args.throttle_for_ms),
          std::chrono::milliseconds(args.retry_delay_ms));
    }
    std::fprintf(stderr, "tailgate-sink: serving OTLP/gRPC%s on port %d\n",
                 options.tls_cert_file.empty() ? "" : " over TLS", server.port());
    if (!args.port_file.empty()) {
      const auto tmp = args.port_file + ".tmp";
      std::ofstream(tmp) << server.port() << '\n';
      std::rename(tmp.c_str(), args.port_file.c_str());  // readers never see a half-written file
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
