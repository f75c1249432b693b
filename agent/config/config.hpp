#pragma once
// The agent's configuration as plain aggregates with their defaults. config/tailgate.yaml documents
// the same keys with the same defaults, and a test holds the two equal. Built once by
// load_config() at start-up (and on reload); read-only afterwards, so it needs no locking.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace tailgate::config {

using namespace std::chrono_literals;

enum class LogLevel { Trace, Debug, Info, Warn, Error, Off };
enum class Compression { None, Gzip };

struct LogConfig {
  LogLevel level = LogLevel::Info;  ///< trace, debug, info, warn, error or off
  bool operator==(const LogConfig&) const = default;
};

struct UdpReceiverConfig {
  bool enabled = true;
  std::string endpoint = "127.0.0.1:6830";     ///< host:port; port 0 picks a free one (tests)
  std::size_t socket_buffer_bytes = 8u << 20;  ///< SO_RCVBUF: absorbs bursts while we decode
  bool operator==(const UdpReceiverConfig&) const = default;
};

struct ReceiversConfig {
  UdpReceiverConfig udp;
  bool operator==(const ReceiversConfig&) const = default;
};

struct PipelineConfig {
  std::size_t queue_spans = 262144;  ///< receivers → pipeline hand-off bound; past it, dropped
  bool operator==(const PipelineConfig&) const = default;
};

struct ExporterConfig {
  std::string endpoint = "localhost:4317";     ///< OTLP/gRPC host:port
  bool insecure = true;                        ///< plaintext; false means TLS
  std::string ca_file;                         ///< PEM roots for TLS; empty: the system's roots
  std::map<std::string, std::string> headers;  ///< gRPC metadata sent with every request
  Compression compression = Compression::None;
  std::chrono::milliseconds timeout = 5s;  ///< deadline of one export request
  std::size_t max_batch_spans = 512;
  std::chrono::milliseconds max_batch_delay = 200ms;
  std::size_t queue_spans = 262144;  ///< pipeline → exporter hand-off bound
  std::size_t max_inflight_requests = 4;
  std::chrono::milliseconds initial_backoff = 100ms;
  std::chrono::milliseconds max_backoff = 5s;
  std::chrono::milliseconds max_retry_time = 60s;  ///< give up on a batch after this long
  std::chrono::milliseconds shutdown_grace = 5s;   ///< how long shutdown waits for delivery
  bool operator==(const ExporterConfig&) const = default;
};

struct Config {
  LogConfig log;
  ReceiversConfig receivers;
  PipelineConfig pipeline;
  ExporterConfig exporter;
  bool operator==(const Config&) const = default;
};

}  // namespace tailgate::config
