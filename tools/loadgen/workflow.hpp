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

  /// One trade flow over kFleetParts processes, each beside its own agent (the fleet demo,
  /// docs/fleet.md); `emit` gets the part (process) index with each record. Part 0, the strategy:
  /// a SERVER root and the PRODUCER span that sends the order (or the tick) on. Part 1, the
  /// gateway: a CONSUMER span (its parent, the producer, remote) and the call to the exchange,
  /// `api.exchange.place_order` (a critical name) in order traces; the only span that fails or is
  /// slow. Part 2, risk: a CONSUMER span of the same message and an internal child. So only the
  /// gateway's agent sees what makes a trace worth keeping; every part has its own local root.
  TraceSummary fleet_trace(
      std::uint64_t now_unix_ns,
      const std::function<void(std::size_t, std::span<const std::byte>)>& emit);
  static constexpr std::size_t kFleetParts = 3;
  static constexpr std::size_t kFleetSpansPerTrace = 6;

 private:
  TraceSummary uniform_trace(std::uint64_t now_unix_ns,
                             const std::function<void(std::span<const std::byte>)>& emit);

  WorkflowOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace tailgate::tools
