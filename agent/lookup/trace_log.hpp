#pragma once
// "Where is my trace?": what the agent decided about each recent trace, for GET /debug/trace/<id>
// and `tailgate explain`. The decision cache keeps 4 bytes a trace (kept or not, and the policy);
// this keeps the rest — trigger, probability, when, spans, producers, the export outcome — for a
// bounded recent window of decisions (admin.trace_lookup_entries), the oldest overwritten first.
// Written once per trace at decision time by the pipeline thread (never per span), updated once
// per export request by the exporter thread, read by the admin thread: each under one short lock
// over preallocated slots, so nothing here allocates after construction (bar the shared names).
// A record that has been overwritten is simply not found: the answer then says the window no
// longer reaches back that far.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/span.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::lookup {

/// What became of a kept trace's spans after the pipeline (the last thing heard of them).
enum class ExportState : std::uint8_t {
  None,        ///< sampled out: nothing to export
  Queued,      ///< handed to the exporter, not answered yet
  Retrying,    ///< a request failed and will be sent again
  Sent,        ///< the backend accepted the request
  PartlySent,  ///< the backend accepted the request but rejected some of its spans
  Spooled,     ///< on disk, waiting for the backend
  Failed,      ///< given up: non-retryable error, retries exhausted, or the spool was full
  QueueFull,   ///< dropped before export: the exporter's queue was full
};
[[nodiscard]] const char* to_string(ExportState s) noexcept;

using PolicyNames = std::vector<std::string>;

/// One decided trace as the pipeline saw it.
struct Decided {
  static constexpr std::size_t kMaxProducers = 3;
  model::TraceId id{};
  bool kept = false;
  telemetry::DecisionTrigger trigger = telemetry::DecisionTrigger::Root;
  std::uint16_t policy = kNoPolicy;  ///< index into *policy_names
  static constexpr std::uint16_t kNoPolicy = 0xFFFF;
  double probability = 0;
  std::uint64_t first_arrival_ns = 0;  ///< steady clock
  std::uint64_t decided_ns = 0;        ///< steady clock
  std::uint32_t spans = 0;
  bool root_seen = false;
  /// The distinct producers its spans came from (the first kMaxProducers; lookup::Producers: their
  /// identifying attributes, not the resources themselves), and how many in all.
  std::array<std::shared_ptr<const model::Resource>, kMaxProducers> producers;
  std::uint8_t producer_count = 0;
  /// The policy list in force when it was decided (a reload replaces it).
  std::shared_ptr<const PolicyNames> policy_names;
  ExportState export_state = ExportState::None;

  [[nodiscard]] std::string policy_name() const;
  /// Adds a producer, if it is a new one.
  void add_producer(const std::shared_ptr<const model::Resource>& resource) noexcept;
};

/// What the pipeline thread knows of a trace right now, beyond the trace log: its trace table
/// (buffered, waiting for a decision) and its decision cache (decided: kept or not, the policy).
struct Probe {
  bool buffered = false;
  std::uint32_t spans = 0;
  std::uint64_t first_arrival_ns = 0;  ///< steady clock
  std::uint64_t bytes = 0;
  bool root_seen = false;
  bool in_decision_cache = false;
  bool kept = false;
  std::string policy;
};

class TraceLog final {
 public:
  /// Holds the last `capacity` decisions; 0 keeps none (every lookup answers "not remembered").
  explicit TraceLog(std::size_t capacity);
  TraceLog(const TraceLog&) = delete;
  TraceLog& operator=(const TraceLog&) = delete;

  /// Pipeline thread, once per decided trace: overwrites the oldest record when full.
  void record(Decided&& decided);
  /// Exporter thread, once per request: the new state of the traces whose spans it carried.
  void set_export_state(std::span<const model::TraceId> ids, ExportState state);

  /// Any thread: a copy of the record for `id`, if it is still in the window.
  [[nodiscard]] std::optional<Decided> find(const model::TraceId& id) const;
  /// Any thread: the newest `n` kept traces, newest first.
  [[nodiscard]] std::vector<Decided> recent_kept(std::size_t n) const;

  struct Window {
    std::size_t capacity = 0;
    std::size_t held = 0;
    std::uint64_t recorded = 0;           ///< decisions recorded since start
    std::uint64_t oldest_decided_ns = 0;  ///< the oldest record still held (0: none)
  };
  [[nodiscard]] Window window() const;

 private:
  /// The index slot of `id`, or the empty slot where it would go. mutex_ held.
  [[nodiscard]] std::size_t probe(const model::TraceId& id) const noexcept;
  void erase_index(std::size_t slot) noexcept;  // mutex_ held
  [[nodiscard]] std::size_t home(const model::TraceId& id) const noexcept;

  static constexpr std::uint32_t kEmpty = 0xFFFFFFFF;
  mutable std::mutex mutex_;
  std::vector<Decided> records_;      ///< a ring; next_ is where the next record goes
  std::vector<std::uint32_t> index_;  ///< open addressing: record positions, kEmpty; <= half full
  std::size_t mask_ = 0;
  std::size_t next_ = 0;
  std::size_t held_ = 0;
  std::uint64_t recorded_ = 0;
};

/// The 32 lowercase hex digits of a trace id, and back (nullopt unless exactly 32 hex digits,
/// not all zero).
[[nodiscard]] std::string to_hex(const model::TraceId& id);
[[nodiscard]] std::optional<model::TraceId> parse_trace_id(std::string_view hex) noexcept;

}  // namespace tailgate::lookup
