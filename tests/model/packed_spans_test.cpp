// A trace's block of buffered span records (model/packed_spans.hpp).
#include "model/packed_spans.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

#include "model/key_table.hpp"

using namespace tailgate;

// Found by AddressSanitizer in the fleet tests: a record whose size is not a multiple of the
// alignment, ending at the last byte its block was grown to, had its padding written past the
// block. Under ASan the block is exactly the size asked for, so this writes out of bounds there.
TEST_CASE("a record's padding fits the block it was begun in, for every unaligned size",
          "[model]") {
  const auto keys = std::make_shared<const model::KeyTable>();
  for (std::size_t size = model::packed::kHeadSize; size < model::packed::kHeadSize + 16; ++size) {
    model::PackedSpans trace;
    trace.start(model::TraceId{1}, keys);
    auto* record = trace.begin_record(size);
    std::fill(record, record + size, std::byte{0});
    trace.end_record(size);
    CHECK(trace.size() == 1);
  }
}
