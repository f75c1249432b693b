#pragma once
// Traces being held for a decision, by trace id: their spans (packed, model::PackedSpans: one block
// per trace, keys interned in the table's KeyTable), first and last arrival, whether the
// root has come, any error, the duration so far and the bytes they hold. Keeps two arrival-ordered
// queues so that the next trace due is found without a scan: root deadlines (root arrival +
// decision_wait, in arrival order because the wait is constant) and first arrivals (for
// max_trace_age and for deciding the oldest first under memory pressure). Entries erased early
// leave stale queue items behind; a sequence number tells them apart.
// The index is open addressing (linear probing, backward-shift deletion) over 32-byte slots that
// hold the id and the sequence: a lookup is one cache miss and two integer compares.
// std::unordered_map chased a bucket, then nodes, hashing each node's key again and comparing it
// with memcmp: a sixth of the pipeline thread (perf, 900k spans/s). Traces live in a deque
// (stable addresses), their places reused.
// Owned by the pipeline thread; not thread-safe.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "model/key_generations.hpp"
#include "model/packed_spans.hpp"
#include "model/resource_ledger.hpp"
#include "model/span.hpp"
#include "model/trace.hpp"
#include "wire/pack.hpp"

namespace tailgate::pipeline {

struct BufferedTrace {
  model::PackedSpans spans;
  std::uint64_t first_arrival_ns = 0;
  std::uint64_t last_arrival_ns = 0;
  std::uint64_t min_start_ns = UINT64_MAX;
  std::uint64_t max_end_ns = 0;
  std::size_t bytes = 0;
  std::uint64_t sequence = 0;
  bool root_seen = false;
  bool has_error = false;

  [[nodiscard]] std::uint64_t duration_ns() const noexcept {
    return max_end_ns > min_start_ns ? max_end_ns - min_start_ns : 0;
  }
  [[nodiscard]] model::Trace view(const model::TraceId& id) const noexcept {
    return {id, spans.list(), has_error, root_seen, duration_ns()};
  }
};

class TraceTable final {
 public:
  /// Spans' keys are interned in `keys` (the pipeline's tables, shared with its hold), else in
  /// the table's own.
  explicit TraceTable(std::uint64_t decision_wait_ns, model::KeyGenerations* keys = nullptr);

  /// Adds a span to its trace (packed: wire::pack), creating the trace if needed; returns the
  /// trace (its address holds until the trace is taken).
  BufferedTrace& add(model::Span&& span, std::uint64_t now_ns);
  [[nodiscard]] BufferedTrace* find(const model::TraceId& id) noexcept;
  /// Starts loading the slot `id` hashes to, for a find or add a little later: the slots are
  /// two-second-cold memory, and a miss on them was the largest cost of taking a span in.
  void prefetch(const model::TraceId& id) const noexcept {
    const auto [hi, lo] = halves(id);
    __builtin_prefetch(&slots_[home(hi, lo)]);
  }
  /// Removes a trace and returns its spans, still packed (wire::take_spans decodes them), their
  /// resources no longer counted here.
  model::PackedSpans take(const model::TraceId& id);

  /// The next trace whose root deadline has passed, if any.
  [[nodiscard]] std::optional<model::TraceId> next_root_due(std::uint64_t now_ns);
  /// The trace that arrived first and is still buffered, if its first arrival is <= `before_ns`.
  [[nodiscard]] std::optional<model::TraceId> next_oldest(std::uint64_t before_ns = UINT64_MAX);

  /// The wait given to roots that arrive from now on (a reload).
  void set_decision_wait(std::uint64_t ns) noexcept { decision_wait_ns_ = ns; }

  [[nodiscard]] std::size_t traces() const noexcept { return count_; }
  /// Bytes of the traces buffered: their spans, their index entries and, once each, the
  /// resources they name and the older key tables that buffered or held traces refer to.
  [[nodiscard]] std::size_t bytes() const noexcept {
    return bytes_ + ledger_.bytes() + keys_->retired_bytes();
  }
  /// Distinct resources the buffered traces name.
  [[nodiscard]] std::size_t resources() const noexcept { return ledger_.resources(); }
  [[nodiscard]] std::size_t spans() const noexcept { return spans_; }
  /// Entries in the arrival and root-deadline queues, stale ones included.
  [[nodiscard]] std::size_t queued() const noexcept { return arrivals_.size() + root_due_.size(); }
  [[nodiscard]] model::KeyGenerations& keys() noexcept { return *keys_; }
  [[nodiscard]] wire::PackScratch& scratch() noexcept { return scratch_; }

 private:
  struct Due {
    std::uint64_t at_ns;
    model::TraceId id;
    std::uint64_t sequence;
  };
  struct Slot {
    std::uint64_t hi = 0, lo = 0;  ///< the trace id
    std::uint64_t sequence = 0;    ///< its trace's; 0: the slot is empty
    std::uint32_t index = 0;       ///< into traces_
  };
  [[nodiscard]] bool live(const Due& d) const;
  /// Drops the entries of traces no longer here once they are most of `queue`.
  void compact_if_stale(std::deque<Due>& queue);
  /// The slot holding `id`, or the empty slot where it would go.
  [[nodiscard]] std::size_t probe(const model::TraceId& id) const noexcept;
  /// The id as the two integers a slot holds.
  [[nodiscard]] static std::pair<std::uint64_t, std::uint64_t> halves(
      const model::TraceId& id) noexcept {
    std::uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, id.data(), 8);
    std::memcpy(&lo, id.data() + 8, 8);
    return {hi, lo};
  }
  [[nodiscard]] std::size_t home(std::uint64_t hi, std::uint64_t lo) const noexcept {
    // Fibonacci hashing: the multiply's high bits depend on every bit of the id, so sequential
    // or zero-padded (64-bit) ids spread as well as random ones.
    return static_cast<std::size_t>(((hi ^ (lo * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL) >>
                                    shift_);
  }
  void grow();

 public:
  /// A trace's cost to the table besides its spans, counted in its bytes: the rest of its
  /// object, its index slots (at most half full, so two to four each) and its two queue entries.
  static constexpr std::size_t kIndexBytes =
      sizeof(BufferedTrace) - sizeof(model::PackedSpans) + 3 * sizeof(Slot) + 2 * sizeof(Due);

 private:
  void erase_slot(std::size_t i) noexcept;

  std::uint64_t decision_wait_ns_;
  std::unique_ptr<model::KeyGenerations> own_keys_;  ///< when no table was given
  model::KeyGenerations* keys_;
  wire::PackScratch scratch_;
  model::ResourceLedger ledger_;  ///< before traces_: they release into it when destroyed
  std::vector<Slot> slots_;       ///< a power of two, at most half full
  unsigned shift_ = 0;            ///< 64 - log2(slots_.size())
  std::deque<BufferedTrace> traces_;
  std::vector<std::uint32_t> free_;  ///< places in traces_ to reuse
  std::size_t count_ = 0;
  std::deque<Due> root_due_;
  std::deque<Due> arrivals_;
  std::size_t bytes_ = 0;
  std::size_t spans_ = 0;
  std::uint64_t next_sequence_ = 1;
};

}  // namespace tailgate::pipeline
