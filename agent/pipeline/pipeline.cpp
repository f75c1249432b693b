#include "pipeline/pipeline.hpp"

#include <chrono>

namespace tailgate::pipeline {

Pipeline::Pipeline(model::SpanQueue& in, model::SpanQueue& out, telemetry::Counters& counters)
    : in_(in), out_(out), counters_(counters) {}

Pipeline::~Pipeline() {
  stop();
}

void Pipeline::start() {
  thread_ = std::thread([this] { run(); });
}

void Pipeline::stop() {
  if (!thread_.joinable()) return;
  in_.close();
  thread_.join();
}

void Pipeline::run() noexcept {
  model::SpanBatch batch;
  while (true) {
    // The short timeout bounds how late a closed inbox is noticed; pushes wake us at once.
    const auto n = in_.pop_all(batch, std::chrono::milliseconds(100));
    if (n == 0) {
      if (in_.closed() && in_.size_spans() == 0) return;
      continue;
    }
    if (!out_.try_push(batch)) {
      counters_.add_dropped(telemetry::DropReason::ExportQueueFull, batch.size());
      batch.clear();
    }
  }
}

}  // namespace tailgate::pipeline
