#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

namespace tailgate::cli {
namespace {

constexpr const char* kUsage =
    "usage: tailgate [--config FILE] [--validate] [--version] [--help]\n"
    "       tailgate explain TRACE_ID [--config FILE | --admin HOST:PORT] [--json]\n";

constexpr const char* kFooter = R"(
Environment:
  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_COMPRESSION,
  OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_INSECURE, OTEL_EXPORTER_OTLP_CERTIFICATE,
  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_KEY
                    override exporter.* (of the file, or of the built-in defaults); the
                    OTEL_EXPORTER_OTLP_TRACES_* form of each wins over the general one
  ${VAR}, ${VAR:-default} in the config file's values: replaced by the variable
  GLIBC_TUNABLES    when set, malloc keeps its own tuning (else the agent tunes it)
  NOTIFY_SOCKET, WATCHDOG_USEC
                    set by systemd (Type=notify, WatchdogSec): readiness and watchdog

Signals:
  SIGTERM, SIGINT   stop: close the receivers, decide what is buffered, flush the exporter
  SIGHUP            reload the config file's sampling policies and log.level

Exit codes:
  0                 stopped cleanly; or the config is valid (--validate); or --help, --version
  1                 start-up or run failed (a port taken...): the log says why
                    (event=startup_failed)
  2                 bad command line, or an invalid configuration (file:line: key: why)
  explain: 0 the agent knows the trace, 1 it does not, 2 a bad id or no answer
)";

}  // namespace

std::optional<int> parse(int argc, char** argv, Options& o) {
  CLI::App app("tailgate " TAILGATE_VERSION
               ": receives finished spans, holds each trace until it is complete, tail-samples "
               "it and exports the kept traces over OTLP/gRPC.",
               "tailgate");
  app.set_version_flag("--version", "tailgate " TAILGATE_VERSION);
  app.footer(kFooter);
  // A flag given twice: the last one wins, as it did before CLI11 (scripts append overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("-c,--config", o.config_path,
                 "YAML configuration (every key: config/tailgate.yaml); default: built-in");
  app.add_flag("--validate", o.validate,
               "check the configuration as start-up does and exit (0 valid, 2 invalid)");
  auto* explain = app.add_subcommand(
      "explain", "ask the running agent (its admin.endpoint) what became of a trace");
  explain->add_option("TRACE_ID", o.trace_id, "the trace id, 32 hex digits")->required();
  explain->add_option("--admin", o.admin, "the agent's admin endpoint (default: from --config)");
  explain->add_option("-c,--config", o.config_path, "read admin.endpoint from this file");
  explain->add_flag("--json", o.json, "print the agent's answer as JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // 0, the help on stdout
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "tailgate: %s\n%s(tailgate --help says more)\n", e.what(), kUsage);
    return 2;
  }
  o.explain = explain->parsed();
  return std::nullopt;
}

}  // namespace tailgate::cli
