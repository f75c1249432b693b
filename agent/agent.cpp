#include "agent.hpp"

#include <chrono>
#include <csignal>
#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "export/otlp_exporter.hpp"
#include "pipeline/pipeline.hpp"
#include "receivers/udp_receiver.hpp"

namespace tailgate {
namespace {
constexpr auto kStatsInterval = std::chrono::seconds(10);
}

Agent::Agent(config::Config config)
    : config_(std::move(config)),
      pipeline_queue_(config_.pipeline.queue_spans),
      export_queue_(config_.exporter.queue_spans) {}

Agent::~Agent() = default;

int Agent::run() {
  start();
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer stats_timer(io);
  std::function<void()> schedule_stats = [&] {
    stats_timer.expires_after(kStatsInterval);
    stats_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      log_stats("stats");
      schedule_stats();
    });
  };
  schedule_stats();
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("event=signal_received signal={}", signal);
    stats_timer.cancel();
  });
  io.run();
  shutdown();
  return 0;
}

// Start order: exporter, pipeline, then receivers, so that nothing is received before there is
// somewhere to put it.
void Agent::start() {
  exporter_ = std::make_unique<exporter::OtlpExporter>(config_.exporter, export_queue_, counters_);
  pipeline_ = std::make_unique<pipeline::Pipeline>(pipeline_queue_, export_queue_, counters_);
  if (config_.receivers.udp.enabled) {
    udp_ =
        std::make_unique<receivers::UdpReceiver>(config_.receivers.udp, pipeline_queue_, counters_);
  }
  exporter_->start();
  pipeline_->start();
  spdlog::info("event=exporter_started endpoint={} tls={} compression={}",
               config_.exporter.endpoint, !config_.exporter.insecure,
               config_.exporter.compression == config::Compression::Gzip ? "gzip" : "none");
  if (udp_) {
    udp_->start();
    spdlog::info("event=receiver_bound receiver=udp endpoint={} socket_buffer={}",
                 udp_->local_endpoint(), udp_->socket_buffer_bytes());
  }
  spdlog::info("event=agent_ready");
}

// Shutdown is the start order reversed, draining at each step: nothing that was received is
// abandoned while there is still time to deliver it.
void Agent::shutdown() {
  stop_receivers();
  drain_pipeline();
  flush_exporter();
  log_stats("shutdown_complete");
}

void Agent::stop_receivers() {
  if (udp_) udp_->stop();
  spdlog::info("event=receivers_stopped");
}

void Agent::drain_pipeline() {
  pipeline_->stop();
  export_queue_.close();
  spdlog::info("event=pipeline_drained");
}

void Agent::flush_exporter() {
  const auto left = exporter_->stop(config_.exporter.shutdown_grace);
  spdlog::info("event=exporter_flushed undelivered={}", left);
}

void Agent::log_stats(const char* event) const {
  using telemetry::DropReason;
  const auto& c = counters_;
  spdlog::info(
      "event={} received={} exported={} dropped={} dropped_malformed={} dropped_kernel_buffer={} "
      "dropped_producer_loss={} dropped_pipeline_full={} dropped_export_queue_full={} "
      "dropped_export_failed={} dropped_export_rejected={} export_requests_ok={} "
      "export_requests_failed={} export_retries={}",
      event, c.received(), c.spans_exported.load(std::memory_order_relaxed),
      c.dropped_after_decode(), c.dropped_of(DropReason::Malformed),
      c.dropped_of(DropReason::KernelBuffer), c.dropped_of(DropReason::ProducerLoss),
      c.dropped_of(DropReason::PipelineFull), c.dropped_of(DropReason::ExportQueueFull),
      c.dropped_of(DropReason::ExportFailed), c.dropped_of(DropReason::ExportRejected),
      c.export_requests_ok.load(std::memory_order_relaxed),
      c.export_requests_failed.load(std::memory_order_relaxed),
      c.export_retries.load(std::memory_order_relaxed));
}

}  // namespace tailgate
