#pragma once
// Trading-workflow traces for tailgate-load: a root `signal_generation` with children
// `order.validate`, `api.exchange.place_order` and `order.confirm`, carrying the order.* and
// risk.* attributes the trading guides use. Some traces fail at the exchange, some are slow.
// Encodes straight into wire records, as a producer does. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>

namespace tailgate::tools {

struct WorkflowOptions {
  double error_fraction = 0.05;  ///< traces whose order placement fails (status ERROR)
  double slow_fraction = 0.05;   ///< traces whose order placement takes 150 ms
  std::uint64_t seed = 1;
};

struct TraceSummary {
  std::size_t spans = 0;
  bool error = false;
  bool slow = false;
};

class WorkflowGenerator final {
 public:
  explicit WorkflowGenerator(const WorkflowOptions& options);

  /// Encodes one trace's spans, children first as they finish, calling `emit` with each record.
  TraceSummary next_trace(std::uint64_t now_unix_ns,
                          const std::function<void(std::span<const std::byte>)>& emit);

 private:
  WorkflowOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace tailgate::tools
