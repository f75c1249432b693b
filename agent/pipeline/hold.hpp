#pragma once
// The hold: spans of cross-process traces that this agent sampled out, kept a while in case
// another agent of the fleet keeps the trace (peers, docs/fleet.md; DESIGN §4), so a keep that
// arrives after the local drop still brings the whole trace. Bounded in bytes (oldest let go
// first; the order they entered in counts too) and in time (hold_time after the trace's first held
// span). Spans let go are sampled out for good; the hold remembers which traces it let go, and
// how many spans, for a while, so a keep that comes too late is counted. Held spans are in flight
// in the accounting identity. Spans are held packed (model::PackedSpans), as the trace table holds
// them: a trace it takes from the table is held as it is. Owned by the pipeline thread; not
// thread-safe.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>

#include "model/key_generations.hpp"
#include "model/packed_spans.hpp"
#include "model/resource_ledger.hpp"
#include "model/span.hpp"
#include "pipeline/recent_ids.hpp"
#include "wire/pack.hpp"

namespace tailgate::pipeline {

class Hold final {
 public:
  /// Spans' keys are interned in `keys` (the pipeline's tables, shared with its trace table),
  /// else in the hold's own.
  Hold(std::uint64_t hold_time_ns, std::size_t max_bytes, model::KeyGenerations* keys = nullptr);

  /// Holds `spans` of trace `id` (added to what it already holds of it). Returns how many spans
  /// the hold let go to stay within its bytes: they are sampled out now.
  std::size_t add(const model::TraceId& id, model::PackedSpans&& spans, std::uint64_t now_ns);
  std::size_t add(const model::TraceId& id, model::Span&& span, std::uint64_t now_ns);
  std::size_t add(const model::TraceId& id, model::SpanBatch&& spans, std::uint64_t now_ns);
  [[nodiscard]] bool contains(const model::TraceId& id) const { return traces_.contains(id); }
  /// Takes every held span of `id` (a rescue), still packed; empty if none.
  model::PackedSpans take(const model::TraceId& id);
  /// Lets go of traces held longer than hold_time; returns how many spans.
  std::size_t expire(std::uint64_t now_ns);
  /// Lets go of everything (shutdown); returns how many spans.
  std::size_t release_all();
  /// How many spans of `id` the hold let go before a keep for it came (0: none known), once.
  std::size_t take_too_late(const model::TraceId& id);

  [[nodiscard]] std::size_t spans() const noexcept { return spans_; }
  /// Bytes held: the spans, the order, and once each the resources they name.
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_ + ledger_.bytes(); }
  [[nodiscard]] std::size_t traces() const noexcept { return traces_.size(); }
  /// Places in the arrival order, including those rescued traces left behind (bounded by bytes).
  [[nodiscard]] std::size_t arrivals() const noexcept { return arrivals_.size(); }

 private:
  struct Held {
    model::PackedSpans spans;
    std::size_t bytes = 0;
    std::uint64_t sequence = 0;
  };
  struct Arrival {
    std::uint64_t at_ns;
    model::TraceId id;
    std::uint64_t sequence;
  };
  // A rescued trace leaves its place in the order behind until it reaches the front: charged to
  // the bytes, or a fast stream of rescues with a long hold_time would grow the order unbounded.
  static constexpr std::size_t kArrivalBytes = sizeof(Arrival);
  /// Adds to the trace's held spans what `put` packs into them; returns the spans let go.
  template <typename Put>
  std::size_t add_with(const model::TraceId& id, std::uint64_t now_ns, Put&& put);
  /// Lets the oldest held trace go (stale arrivals skipped); returns its spans' count.
  std::size_t release_oldest();
  /// Pops the oldest arrival if its trace was taken or let go since; false if it is held.
  bool pop_stale() noexcept;
  void pop_arrival() noexcept;

  std::uint64_t hold_time_ns_;
  std::size_t max_bytes_;
  std::unique_ptr<model::KeyGenerations> own_keys_;  ///< when no table was given
  model::KeyGenerations* keys_;
  wire::PackScratch scratch_;
  model::ResourceLedger ledger_;  ///< before traces_: they release into it when destroyed
  std::unordered_map<model::TraceId, Held, TraceIdHash> traces_;
  std::deque<Arrival> arrivals_;  ///< in the order traces entered the hold
  RecentIds<std::size_t> let_go_;
  std::size_t spans_ = 0;
  std::size_t bytes_ = 0;
  std::uint64_t next_sequence_ = 1;
};

}  // namespace tailgate::pipeline
