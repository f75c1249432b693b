#pragma once
// Spans into and out of their buffered form (model::PackedSpans): pack() when the trace table or
// the hold takes a span in, take_spans() when a trace is kept. A span's items, packed by its
// receiver or written here from its decoded fields (OTLP/JSON, Jaeger, tests), are copied with
// attribute keys interned; what the item encoding cannot hold is kept aside whole. Taken out,
// every span is field for field what wire::unpack made of it before. Pipeline thread.

#include <cstddef>
#include <vector>

#include "model/key_table.hpp"
#include "model/packed_spans.hpp"
#include "model/span.hpp"

namespace tailgate::wire {

/// Reused room for encoding a decoded span's items on the way in.
struct PackScratch {
  std::vector<std::byte> bytes;
};

/// Appends `span` to `trace` (its first span starts it); returns the bytes the trace grew by.
std::size_t pack(model::Span&& span, model::PackedSpans& trace, model::KeyTable& keys,
                 PackScratch& scratch);
/// Appends every span of `more` (of the same trace) to `trace`; returns the bytes it grew by.
std::size_t pack(model::PackedSpans&& more, model::PackedSpans& trace, model::KeyTable& keys,
                 PackScratch& scratch);

/// The spans of `trace`, decoded in full, in the order they came.
[[nodiscard]] model::SpanBatch take_spans(model::PackedSpans&& trace);

/// A buffered span decoded in full (what take_spans makes of each).
[[nodiscard]] model::Span materialize(const model::SpanView& span);

}  // namespace tailgate::wire
