#pragma once
// Spans into and out of their buffered form (model::PackedSpans): pack() when the trace table or
// the hold takes a span in, take_spans() when a trace is kept. A span's items, packed by its
// receiver or written here from its decoded fields (OTLP/JSON, Jaeger, tests), are copied with
// attribute keys interned; what the item encoding cannot hold is kept aside whole. Taken out,
// every span is field for field what wire::unpack made of it before. Pipeline thread.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/key_generations.hpp"
#include "model/packed_spans.hpp"
#include "model/span.hpp"

namespace tailgate::wire {

/// How far a trace's block is grown past the record that does not fit: room for the spans a trace
/// of this length is all but sure to get still (7 in 8 of the traces that came this far got
/// them), at the average record's size. A trace of a usual length is allocated once, not once per
/// span; traces of mixed lengths reserve nothing and grow exactly, as before. Learnt from the
/// traces packed so far, recent ones weighing more.
class BlockGrowth {
 public:
  /// The `n`th span (from 1) of a trace, a record of `record_bytes`, was added.
  void added(std::size_t n, std::size_t record_bytes) noexcept {
    if (n <= kLongest) ++reached_[n];
    average_ += (static_cast<std::int64_t>(record_bytes << kShift) - average_) >> kWeight;
    if (reached_[1] >= kHalveAt) {
      for (auto& r : reached_) r /= 2;
    }
  }
  /// Bytes to reserve besides a trace's `n`th record.
  [[nodiscard]] std::size_t reserve_after(std::size_t n) const noexcept {
    if (n > kLongest || reached_[n] < kEvidence) return 0;
    std::size_t more = 0;
    while (n + more < kLongest && reached_[n + more + 1] * 8 >= reached_[n] * 7) ++more;
    return std::min(kMaxReserve, more * static_cast<std::size_t>(average_ >> kShift));
  }

 private:
  static constexpr std::size_t kLongest = 32, kEvidence = 64, kHalveAt = 1U << 20,
                               kMaxReserve = 4096;
  static constexpr int kShift = 4, kWeight = 4;  ///< average in 1/16 B; a new record weighs 1/16
  std::array<std::uint32_t, kLongest + 1> reached_{};  ///< [n]: traces that took an nth span
  std::int64_t average_ = 0;
};

/// Reused room on the way in: a decoded span's items encoded, a record that does not fit its
/// trace's block written before the block grows to it; and how blocks grow.
struct PackScratch {
  std::vector<std::byte> bytes;
  std::vector<std::byte> record;
  BlockGrowth growth;
};

/// Appends `span` to `trace` (its first span starts it); returns the bytes the trace grew by.
/// Keys are interned in the trace's table (`keys` picks a new trace's).
std::size_t pack(model::Span&& span, model::PackedSpans& trace, model::KeyGenerations& keys,
                 PackScratch& scratch);
/// Appends every span of `more` (of the same trace) to `trace`; returns the bytes it grew by.
/// `more` whole if `trace` is empty, its records copied if their keys are in `trace`'s table, else
/// written again.
std::size_t pack(model::PackedSpans&& more, model::PackedSpans& trace, model::KeyGenerations& keys,
                 PackScratch& scratch);

/// The spans of `trace`, decoded in full, in the order they came.
[[nodiscard]] model::SpanBatch take_spans(model::PackedSpans&& trace);

/// A buffered span decoded in full (what take_spans makes of each).
[[nodiscard]] model::Span materialize(const model::SpanView& span);

}  // namespace tailgate::wire
