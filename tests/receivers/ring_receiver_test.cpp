// The ring receiver on a real segment in a temporary directory, written by this process (a live
// producer): what a producer of the ring group reports is bounded and its bad spans refused.
#include "receivers/ring_receiver.hpp"

#include <catch2/catch.hpp>

#include "shm/segment.hpp"
#include "support/child_process.hpp"
#include "support/eventually.hpp"
#include "support/span_builder.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
using namespace std::chrono_literals;

namespace {

void write(shm::LaneWriter& lane, std::span<std::byte> buffer, std::size_t n) {
  REQUIRE(n > 0);
  REQUIRE(lane.try_write(buffer.first(n)));
}

}  // namespace

TEST_CASE("a ring producer's loss reports are bounded and zero-id spans refused", "[receivers]") {
  testing::TempDir dir;
  telemetry::Counters counters;
  model::SpanQueue queue(10000);
  receivers::RingReceiver receiver({.directory = dir.file("ring"), .scan_interval = 20ms}, queue,
                                   counters);
  const auto resource = testing::test_resource("ring");
  std::vector<std::byte> resource_record(1024);
  resource_record.resize(wire::encode_resource(*resource, resource_record));
  auto segment = shm::Segment::create({.directory = dir.file("ring"),
                                       .lanes = 1,
                                       .lane_bytes = 1 << 16,
                                       .resource = resource_record});
  auto lane = segment->claim_lane();
  std::vector<std::byte> record(wire::kMaxRecordSize);
  // A hostile producer: 2^64 - 1 lost, then 10^18 lost (the two would wrap a plain sum), then
  // spans with zero ids, and one good span.
  write(lane, record, wire::encode_loss(record, UINT64_MAX));
  write(lane, record, wire::encode_loss(record, 1'000'000'000'000'000'000ULL));
  auto zero_trace = testing::make_span(1, 0, resource);
  zero_trace.trace_id = {};
  auto zero_span = testing::make_span(1, 1, resource);
  zero_span.span_id = {};
  write(lane, record, wire::encode_span(zero_trace, record));
  write(lane, record, wire::encode_span(zero_span, record));
  write(lane, record, wire::encode_span(testing::make_span(1, 2, resource), record));
  receiver.start();
  model::SpanBatch got;
  const bool arrived = testing::eventually(
      [&] {
        queue.pop_all(got, 10ms);
        return got.size() == 1;
      },
      10s);
  receiver.stop();
  lane.release();
  CHECK(arrived);
  using R = telemetry::RejectReason;
  CHECK(counters.spans_rejected_of(telemetry::Receiver::Ring, R::ZeroId) == 2);
  const auto lost = counters.dropped_of(telemetry::DropReason::ProducerLoss);
  // At most a second's worth of writes for its two lanes (own and overflow), never 10^18.
  CHECK(lost > 0);
  CHECK(lost <= 2 * 100'000'000ULL + 1000);
  CHECK(counters.loss_reports_capped[static_cast<std::size_t>(telemetry::Receiver::Ring)] >= 1);
  CHECK(counters.received() == 1);
}
