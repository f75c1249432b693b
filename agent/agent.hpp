#pragma once
// The one place that knows every stage: it builds receivers → pipeline → exporter around the two
// span queues, runs the main loop (signals, periodic stats), and shuts down in order, draining
// rather than cancelling. Owned and run by main()'s thread.

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "export/spool_location.hpp"
#include "model/keep_queue.hpp"
#include "model/span_queue.hpp"
#include "telemetry/counters.hpp"

namespace tailgate {

namespace receivers {
class UdpReceiver;
class RingReceiver;
class OtlpGrpcReceiver;
class OtlpHttpReceiver;
class JaegerSamplingServer;
}  // namespace receivers
namespace pipeline {
class Pipeline;
}
namespace exporter {
class OtlpExporter;
}
namespace spanmetrics {
class SpanMetrics;
}
namespace peers {
class PeerLink;
}
namespace scrub {
class Scrubber;
}
namespace telemetry {
class RunState;
}
namespace lookup {
class TraceLog;
}
namespace admin {
class AdminServer;
struct Snapshot;
}  // namespace admin

class Agent final {
 public:
  explicit Agent(config::Config config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  /// Starts every stage, serves until SIGINT/SIGTERM, shuts down; returns the exit code.
  /// SIGHUP re-reads `config_path` (when given) and applies its sampling section.
  int run(const std::string& config_path = {});

 private:
  void start();
  void shutdown();
  void stop_receivers();
  void drain_pipeline();
  void flush_exporter();
  void reload(const std::string& config_path);
  [[nodiscard]] admin::Snapshot snapshot() const;
  void log_stats(const char* event) const;

  config::Config config_;
  telemetry::Counters counters_;
  model::SpanQueue pipeline_queue_;
  model::SpanQueue export_queue_;
  std::unique_ptr<lookup::TraceLog> trace_log_;  ///< null without the admin server
  /// The spool and state directories this run uses, and their locks (before exporter_: the
  /// locks outlive it).
  exporter::DurableLocations locations_;
  std::unique_ptr<exporter::OtlpExporter> exporter_;
  std::unique_ptr<spanmetrics::SpanMetrics> span_metrics_;  ///< null when switched off
  std::unique_ptr<scrub::Scrubber> scrubber_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  model::KeepQueue keeps_to_publish_;       ///< pipeline → peers (idle when peers are off)
  model::KeepQueue keeps_to_follow_;        ///< peers → pipeline
  std::unique_ptr<peers::PeerLink> peers_;  ///< null when peers are off
  std::vector<std::unique_ptr<receivers::UdpReceiver>> udp_receivers_;  ///< native and Jaeger
  std::unique_ptr<receivers::RingReceiver> ring_;
  std::unique_ptr<receivers::OtlpGrpcReceiver> otlp_grpc_;
  std::unique_ptr<receivers::OtlpHttpReceiver> otlp_http_;
  std::unique_ptr<receivers::JaegerSamplingServer> jaeger_sampling_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<telemetry::RunState> run_state_;  ///< crash accounting
  double start_time_unix_seconds_ = 0;
};

}  // namespace tailgate
