#pragma once
// Trading-workflow traces for tailgate-load. An order trace (the "critical" kind): root
// `signal_generation` with children `order.validate`, `api.exchange.place_order` and
// `order.confirm`, carrying the order.* and risk.* attributes the trading guides use. A market-data
// trace (the ordinary kind): root `market_data.tick` with `market_data.normalize`,
// `signal.evaluate` and `orderbook.update`. Either kind can fail (its middle child ends in ERROR)
// or be slow (its middle child takes 150 ms). Encodes straight into wire records, as a producer
// does. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>

namespace tailgate::tools {

struct WorkflowOptions {
  /// 0: the trading workflow above. Else benchmark traces of this many spans (a server root and
  /// its children), each with `attributes` attributes (alternately short text and integers).
  std::size_t spans_per_trace = 0;
  std::size_t attributes = 6;
  /// Benchmark traces' roots have a parent in another process (a SERVER span called from
  /// elsewhere, as in a fleet: peers), so the agent sees each trace cross a process boundary.
  bool remote_parent = false;
  double error_fraction = 0.05;    ///< traces whose order placement fails (status ERROR)
  double slow_fraction = 0.05;     ///< traces whose order placement takes 150 ms
  double critical_fraction = 0.2;  ///< order traces; the rest are market-data traces
  std::uint64_t seed = 1;
};

struct TraceSummary {
  std::size_t spans = 0;
  bool error = false;
  bool slow = false;
  bool critical = false;
};

class WorkflowGenerator final {
 public:
  explicit WorkflowGenerator(const WorkflowOptions& options);

  /// Encodes one trace's spans, children first as they finish, calling `emit` with each record.
  TraceSummary next_trace(std::uint64_t now_unix_ns,
                          const std::function<void(std::span<const std::byte>)>& emit);

 private:
  TraceSummary uniform_trace(std::uint64_t now_unix_ns,
                             const std::function<void(std::span<const std::byte>)>& emit);

  WorkflowOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace tailgate::tools
