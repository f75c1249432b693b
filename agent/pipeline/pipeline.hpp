#pragma once
// The pipeline stage: one thread that drains the receivers' queue, decides what to keep, and hands
// kept spans to the exporter's queue. Today every span is kept (the sampler replaces decide());
// the thread, the queues and the drain-on-stop contract are the ones the sampler will use.
// start()/stop() are called by the Agent's thread; the rest runs on the pipeline thread.

#include <thread>

#include "model/span_queue.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::pipeline {

class Pipeline final {
 public:
  Pipeline(model::SpanQueue& in, model::SpanQueue& out, telemetry::Counters& counters);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  void start();
  /// Drains: closes the inbox, hands on everything still in it, then joins. Receivers must be
  /// stopped first so that nothing arrives after the drain.
  void stop();

 private:
  void run() noexcept;

  model::SpanQueue& in_;
  model::SpanQueue& out_;
  telemetry::Counters& counters_;
  std::thread thread_;
};

}  // namespace tailgate::pipeline
