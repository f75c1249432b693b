#include "agent.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "admin/admin_server.hpp"
#include "config/load_config.hpp"
#include "config/startup_checks.hpp"
#include "export/otlp_exporter.hpp"
#include "lookup/trace_log.hpp"
#include "peers/peer_link.hpp"
#include "pipeline/pipeline.hpp"
#include "receivers/jaeger_sampling.hpp"
#include "receivers/jaeger_thrift.hpp"
#include "receivers/otlp_decode.hpp"
#include "receivers/otlp_grpc_receiver.hpp"
#include "receivers/otlp_http_receiver.hpp"
#include "receivers/ring_receiver.hpp"
#include "receivers/udp_receiver.hpp"
#include "shm/ring_directory.hpp"
#include "telemetry/drop_rate.hpp"
#include "telemetry/log_escape.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/run_state.hpp"

namespace tailgate {
namespace {
constexpr auto kStatsInterval = std::chrono::seconds(10);
// What a kill -9 loses is measured at this grain; a write is ~250 bytes, off every hot path.
constexpr auto kStateInterval = std::chrono::seconds(1);

// Calls `fn` every `interval` until `timer` is cancelled.
void repeat(boost::asio::steady_timer& timer, std::chrono::steady_clock::duration interval,
            std::function<void()> fn) {
  timer.expires_after(interval);
  timer.async_wait([&timer, interval, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (ec) return;
    fn();
    repeat(timer, interval, fn);
  });
}
// A trace lookup waits this long for the pipeline thread's turn (it turns every 20 ms or faster).
constexpr auto kProbeTimeout = std::chrono::milliseconds(500);

}  // namespace

Agent::Agent(config::Config config)
    : config_(std::move(config)),
      pipeline_queue_(config_.pipeline.queue_spans, config_.pipeline.queue_bytes),
      export_queue_(config_.exporter.queue_spans, config_.exporter.queue_bytes),
      keeps_to_publish_(config_.peers.queue_keeps),
      keeps_to_follow_(config_.peers.queue_keeps) {}

Agent::~Agent() = default;

int Agent::run(const std::string& config_path) {
  start();
  // systemd (Type=notify): ready once every receiver is bound. Without NOTIFY_SOCKET it is a no-op.
  sd_notify(0, "READY=1");
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::signal_set hangup(io, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload(config_path);
      wait_hangup();
    });
  };
  wait_hangup();
  boost::asio::steady_timer stats_timer(io);
  repeat(stats_timer, kStatsInterval, [this] { log_stats("stats"); });
  boost::asio::steady_timer state_timer(io);
  repeat(state_timer, kStateInterval, [this] { run_state_->save(counters_, false); });
  // The watchdog is fed only while the pipeline thread turns: a stuck pipeline stops the pings
  // and systemd restarts the agent, as /health would tell Kubernetes.
  std::uint64_t watchdog_usec = 0;
  boost::asio::steady_timer watchdog_timer(io);
  std::function<void()> schedule_watchdog = [&] {
    watchdog_timer.expires_after(std::chrono::microseconds(watchdog_usec / 2));
    watchdog_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      const auto beat = counters_.pipeline_heartbeat_ns.load(std::memory_order_relaxed);
      const auto now =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now().time_since_epoch())
                                         .count());
      if (beat != 0 && now - beat < watchdog_usec * 1000 / 2)
        sd_notify(0, "WATCHDOG=1");
      else
        spdlog::error("event=watchdog_withheld reason=pipeline_stalled");
      schedule_watchdog();
    });
  };
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) schedule_watchdog();
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("event=signal_received signal={}", signal);
    stats_timer.cancel();
    state_timer.cancel();
    hangup.cancel();
    watchdog_timer.cancel();
    sd_notify(0, "STOPPING=1");
  });
  io.run();
  shutdown();
  return 0;
}

// Start order: exporter, pipeline, then receivers, so that nothing is received before there is
// somewhere to put it.
void Agent::start() {
  start_time_unix_seconds_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // What /debug/trace answers from: only worth its memory when there is someone to ask.
  if (config_.admin.enabled)
    trace_log_ = std::make_unique<lookup::TraceLog>(config_.admin.trace_lookup_entries);
  locations_ =
      exporter::resolve_locations(config_, [](const char* name) { return std::getenv(name); });
  counters_.spool_location_fallbacks.store(locations_.fallbacks, std::memory_order_relaxed);
  auto exporter_config = config_.exporter;
  exporter_config.spool_directory = locations_.spool;
  exporter_ = std::make_unique<exporter::OtlpExporter>(exporter_config, export_queue_, counters_,
                                                       trace_log_.get());
  // Before any span comes in: report what the last run lost, and mark this one as running.
  run_state_ = std::make_unique<telemetry::RunState>(locations_.state);
  run_state_->open(counters_);
  scrubber_ = std::make_unique<scrub::Scrubber>(config_.redaction, config_.limits, counters_);
  if (config_.span_metrics.enabled)
    span_metrics_ =
        std::make_unique<spanmetrics::SpanMetrics>(config_.span_metrics, scrubber_.get());
  pipeline::PeerLinks links;
  if (config_.peers.enabled) {
    links = {&keeps_to_publish_, &keeps_to_follow_, config_.peers.hold_time,
             config_.peers.hold_bytes};
    peers_ = std::make_unique<peers::PeerLink>(config_.peers, keeps_to_publish_, keeps_to_follow_,
                                               counters_);
  }
  pipeline_ = std::make_unique<pipeline::Pipeline>(
      config_.sampling, pipeline_queue_, config_.pipeline.queue_spans, export_queue_, counters_,
      [] {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now().time_since_epoch())
                                              .count());
      },
      span_metrics_.get(), scrubber_.get(), links, trace_log_.get());
  const auto& rc = config_.receivers;
  // The checks --validate runs too (an unset exporter, a self-export loop).
  config::check_startup(config_, "config");
  using receivers::jaeger::Protocol;
  const auto add_udp = [this](const char* name, const config::UdpReceiverConfig& c,
                              telemetry::Receiver kind, receivers::DatagramDecoder decoder) {
    if (!c.enabled) return;
    udp_receivers_.push_back(std::make_unique<receivers::UdpReceiver>(
        name, c, kind, std::move(decoder), pipeline_queue_, counters_));
  };
  add_udp("udp", rc.udp, telemetry::Receiver::Udp, receivers::native_decoder());
  add_udp("jaeger_compact", rc.jaeger_compact, telemetry::Receiver::JaegerCompact,
          receivers::jaeger::decoder(Protocol::Compact));
  add_udp("jaeger_binary", rc.jaeger_binary, telemetry::Receiver::JaegerBinary,
          receivers::jaeger::decoder(Protocol::Binary));
  if (rc.otlp_grpc.enabled || rc.otlp_http.enabled) receivers::otlp::route_protobuf_logs();
  if (rc.otlp_http.enabled) {
    otlp_http_ =
        std::make_unique<receivers::OtlpHttpReceiver>(rc.otlp_http, pipeline_queue_, counters_);
  }
  if (config_.receivers.ring.enabled) {
    ring_ = std::make_unique<receivers::RingReceiver>(config_.receivers.ring, pipeline_queue_,
                                                      counters_);
  }
  exporter_->start();
  pipeline_->start();
  if (peers_) {
    // Redis need not be up: the agent decides alone until it is (readiness does not wait).
    peers_->start();
    spdlog::info("event=peers_started endpoint={} stream={} agent_id={}", config_.peers.endpoint,
                 config_.peers.stream, peers_->agent_id());
  }
  spdlog::info("event=exporter_started endpoint={} tls={} compression={}",
               config_.exporter.endpoint, !config_.exporter.insecure,
               config_.exporter.compression == config::Compression::Gzip ? "gzip" : "none");
  if (ring_) {
    ring_->start();
    spdlog::info("event=receiver_bound receiver=ring directory={}", ring_->directory());
  }
  for (const auto& udp : udp_receivers_) {
    udp->start();
    spdlog::info("event=receiver_bound receiver={} endpoint={} socket_buffer={}", udp->name(),
                 udp->local_endpoint(), udp->socket_buffer_bytes());
  }
  if (rc.jaeger_sampling.enabled) {
    jaeger_sampling_ =
        std::make_unique<receivers::JaegerSamplingServer>(rc.jaeger_sampling, counters_);
    jaeger_sampling_->start();
    spdlog::info("event=receiver_bound receiver=jaeger_sampling endpoint={}",
                 jaeger_sampling_->local_endpoint());
  }
  if (otlp_http_) {
    otlp_http_->start();
    spdlog::info("event=receiver_bound receiver=otlp_http endpoint={}",
                 otlp_http_->local_endpoint());
  }
  // gRPC serves from the moment it is built, so it comes last, once everything else is up.
  if (rc.otlp_grpc.enabled) {
    otlp_grpc_ =
        std::make_unique<receivers::OtlpGrpcReceiver>(rc.otlp_grpc, pipeline_queue_, counters_);
    spdlog::info("event=receiver_bound receiver=otlp_grpc endpoint={}",
                 otlp_grpc_->local_endpoint());
  }
  if (config_.admin.enabled) {
    admin_ = std::make_unique<admin::AdminServer>(config_.admin, [this] { return snapshot(); });
    admin_->start();
    spdlog::info("event=admin_listening endpoint={}", admin_->local_endpoint());
  }
  spdlog::info("event=agent_ready");
}

admin::Snapshot Agent::snapshot() const {
  admin::Snapshot s;
  s.counters = &counters_;
  s.span_metrics = span_metrics_.get();
  s.now_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::steady_clock::now().time_since_epoch())
                                            .count());
  // Every enabled receiver is bound once start() has returned (it throws otherwise).
  s.receivers_bound = (!config_.receivers.ring.enabled || ring_ != nullptr) &&
                      (!config_.receivers.otlp_grpc.enabled || otlp_grpc_ != nullptr);
  if (ring_) {
    const auto problem = ring_->directory_problem();
    s.ring_directory_problem = problem.why;
    for (std::size_t i = 1; i < static_cast<std::size_t>(shm::DirectoryRefusal::kCount); ++i) {
      const auto reason = static_cast<shm::DirectoryRefusal>(i);
      if (reason == shm::DirectoryRefusal::UnknownGroup) continue;  // a producer's, never ours
      s.ring_directory_refused.emplace_back(shm::to_string(reason), reason == problem.refusal);
    }
  }
  s.gauges = {pipeline_queue_.size_spans(), config_.pipeline.queue_spans,
              export_queue_.size_spans(),   config_.exporter.queue_spans,
              export_queue_.size_bytes(),   start_time_unix_seconds_,
              pipeline_queue_.size_bytes()};
  for (const auto& p : pipeline_->policy_stats()) {
    s.policies.push_back({p.name, p.kept_traces, p.sampled_out_traces});
  }
  s.now_unix_ns =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  s.trace_log = trace_log_.get();
  s.probe = [pipeline = pipeline_.get()](const model::TraceId& id) {
    return pipeline->probe(id, kProbeTimeout);
  };
  if (ring_) {
    for (auto& p : ring_->producers()) {
      s.status.producers.push_back(
          {p.pid, std::move(p.process), std::move(p.service), p.lanes, p.spans, p.dropped, p.fill});
    }
  }
  s.status.max_buffered_bytes = config_.sampling.max_buffered_bytes;
  s.status.spool_max_bytes = locations_.spool.empty() ? 0 : config_.exporter.spool_max_bytes;
  s.status.last_errors = telemetry::last_errors();
  return s;
}

// Shutdown is the start order reversed, draining at each step: nothing that was received is
// abandoned while there is still time to deliver it.
void Agent::shutdown() {
  stop_receivers();
  drain_pipeline();
  flush_exporter();
  log_stats("shutdown_complete");
  run_state_->save(counters_, /*clean=*/true);  // the last step: nothing was left in memory
}

void Agent::stop_receivers() {
  // The admin server goes first: it reads the stages' state through snapshot().
  if (admin_) admin_->stop();
  if (ring_) ring_->stop();
  if (otlp_grpc_) otlp_grpc_->stop();
  if (otlp_http_) otlp_http_->stop();
  if (jaeger_sampling_) jaeger_sampling_->stop();
  for (const auto& udp : udp_receivers_) udp->stop();
  spdlog::info("event=receivers_stopped");
}

void Agent::drain_pipeline() {
  pipeline_->stop();
  // After the pipeline: the keeps of its last decisions are published before the link closes.
  if (peers_) peers_->stop();
  export_queue_.close();
  spdlog::info("event=pipeline_drained");
}

void Agent::flush_exporter() {
  const auto left = exporter_->stop(config_.exporter.shutdown_grace);
  spdlog::info("event=exporter_flushed undelivered={}", left);
}

// Only the sampling section changes live; everything else is bound to sockets and threads.
void Agent::reload(const std::string& config_path) {
  if (config_path.empty()) {
    spdlog::warn("event=reload_skipped reason=no_config_file");
    return;
  }
  try {
    auto next = config::load_config(config_path);
    // Live: sampling and the log level. The rest is bound to sockets, threads and memory.
    std::string restart_needed;
    const auto note = [&](bool changed, const char* section) {
      if (changed) restart_needed += (restart_needed.empty() ? "" : ",") + std::string(section);
    };
    note(next.receivers != config_.receivers, "receivers");
    note(next.pipeline != config_.pipeline, "pipeline");
    note(next.exporter != config_.exporter, "exporter");
    note(next.admin != config_.admin, "admin");
    note(next.log.format != config_.log.format, "log.format");
    note(next.state != config_.state, "state");
    if (!restart_needed.empty()) {
      spdlog::warn("event=reload_needs_restart sections={} applied=sampling,log.level",
                   restart_needed);
    }
    pipeline_->reload(next.sampling);
    config_.sampling = next.sampling;
    if (next.log.level != config_.log.level) {
      telemetry::set_log_level(next.log.level);
      config_.log.level = next.log.level;
    }
    counters_.config_reloads_ok.fetch_add(1, std::memory_order_relaxed);
  } catch (const config::ConfigError& e) {
    counters_.config_reloads_failed.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("event=reload_failed kept=previous_config error={}", telemetry::quoted(e.what()));
  }
}

void Agent::log_stats(const char* event) const {
  const auto& c = counters_;
  const auto get = [](const telemetry::Counter& x) { return x.load(std::memory_order_relaxed); };
  // received (+ recovered from an earlier run's spool) = exported + sampled_out + dropped
  // + spooled + in flight.
  std::string drops;
  for (std::size_t i = 0; i < c.dropped.size(); ++i) {
    const auto r = static_cast<telemetry::DropReason>(i);
    drops += fmt::format(" dropped_{}={}", telemetry::to_string(r), c.dropped_of(r));
  }
  // Bad input refused by the receivers: neither received nor dropped.
  const auto rejected = telemetry::totals_of(c);
  drops += fmt::format(" rejected_requests={} rejected_spans={}", rejected.rejected_requests,
                       rejected.rejected_spans);
  spdlog::info(
      "event={} received={} exported={} sampled_out={} dropped={} spooled={} recovered={}{} "
      "export_requests_ok={} export_requests_failed={} export_retries={} spool_bytes={} "
      "spool_replayed_batches={} spool_corrupt_files={}",
      event, c.received(), get(c.spans_exported), get(c.spans_sampled_out),
      c.dropped_after_decode(), get(c.spool_spans), get(c.spool_spans_recovered), drops,
      get(c.export_requests_ok), get(c.export_requests_failed), get(c.export_retries),
      get(c.spool_bytes), get(c.spool_batches_replayed), get(c.spool_corrupt_files));
  std::string triggers;
  for (std::size_t i = 0; i < c.decisions.size(); ++i) {
    const auto t = static_cast<telemetry::DecisionTrigger>(i);
    triggers += fmt::format(" {}={}", telemetry::to_string(t), c.decisions_of(t));
  }
  spdlog::info(
      "event={}_sampling buffered_traces={} buffered_bytes={} stressed={} "
      "base_probability={:.6f} late_kept={} late_sampled_out={}{}",
      event, c.traces_buffered.load(std::memory_order_relaxed),
      c.bytes_buffered.load(std::memory_order_relaxed), c.stressed.load(std::memory_order_relaxed),
      static_cast<double>(c.base_probability_ppm.load(std::memory_order_relaxed)) / 1e6,
      c.late_spans_kept.load(std::memory_order_relaxed),
      c.late_spans_sampled_out.load(std::memory_order_relaxed), triggers);
  if (pipeline_) {
    for (const auto& p : pipeline_->policy_stats()) {
      spdlog::info("event={}_policy policy={} kept_traces={} sampled_out_traces={}", event, p.name,
                   p.kept_traces, p.sampled_out_traces);
    }
  }
}

}  // namespace tailgate
