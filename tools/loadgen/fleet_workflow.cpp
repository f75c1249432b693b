// Trading-workflow traces split over three processes (WorkflowGenerator::fleet_trace), for the
// fleet demo: what a trace looks like when each process has its own agent.
#include <array>
#include <string_view>

#include "wire/encode.hpp"
#include "wire/span_record.hpp"
#include "workflow.hpp"

namespace tailgate::tools {
namespace {

// OTLP span kinds.
constexpr std::uint8_t kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5;
constexpr std::uint8_t kStatusError = 2;
constexpr std::uint64_t kMicro = 1000, kMilli = 1000 * 1000;

using SpanId = std::array<std::uint8_t, 8>;

SpanId random_span_id(std::mt19937_64& rng) {
  SpanId id{};
  const auto v = rng();
  for (std::size_t j = 0; j < id.size(); ++j) id[j] = static_cast<std::uint8_t>(v >> (8 * j));
  return id;
}

struct FleetSpan {
  std::size_t part;
  std::string_view name;
  std::uint8_t kind;
  const SpanId* parent;  ///< null: the trace's root
  bool remote_parent;
  std::uint64_t begin, end;
  bool error;
};

}  // namespace

TraceSummary WorkflowGenerator::fleet_trace(
    std::uint64_t now_unix_ns,
    const std::function<void(std::size_t, std::span<const std::byte>)>& emit) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  TraceSummary summary;
  summary.error = unit(rng_) < options_.error_fraction;
  summary.slow = unit(rng_) < options_.slow_fraction;
  summary.critical = unit(rng_) < options_.critical_fraction;
  const bool order = summary.critical;
  std::array<std::uint8_t, 16> trace_id{};
  for (std::size_t i = 0; i < trace_id.size(); i += 8) {
    const auto v = rng_();
    for (std::size_t j = 0; j < 8; ++j) trace_id[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
  }
  const std::array<SpanId, kFleetSpansPerTrace> ids = {random_span_id(rng_), random_span_id(rng_),
                                                       random_span_id(rng_), random_span_id(rng_),
                                                       random_span_id(rng_), random_span_id(rng_)};

  // The strategy's part ends within 300 µs; only the gateway's call is slow (150 ms).
  const std::uint64_t call_ns = summary.slow ? 150 * kMilli : 2 * kMilli;
  const std::uint64_t s = now_unix_ns - (400 * kMicro + call_ns);
  // Children first, then each part's local root, as spans end.
  const std::array<FleetSpan, kFleetSpansPerTrace> spans = {{
      {0, order ? "order.submit" : "market_data.publish", kProducer, &ids[1], false,
       s + 100 * kMicro, s + 200 * kMicro, false},
      {0, order ? "signal_generation" : "market_data.tick", kServer, nullptr, false, s,
       s + 300 * kMicro, false},
      {1, order ? "api.exchange.place_order" : "signal.evaluate", order ? kClient : kInternal,
       &ids[3], false, s + 300 * kMicro, s + 300 * kMicro + call_ns, summary.error},
      {1, order ? "order.receive" : "market_data.receive", kConsumer, &ids[0], true,
       s + 250 * kMicro, s + 400 * kMicro + call_ns, false},
      {2, order ? "risk.recalculate" : "orderbook.update", kInternal, &ids[5], false,
       s + 300 * kMicro, s + 600 * kMicro, false},
      {2, order ? "position.update" : "orderbook.receive", kConsumer, &ids[0], true,
       s + 250 * kMicro, s + 650 * kMicro, false},
  }};
  std::array<std::byte, 2048> buffer{};
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const auto& f = spans[i];
    wire::SpanEncoder span(
        buffer,
        {.trace_id = trace_id.data(),
         .span_id = ids[i].data(),
         .parent_span_id = f.parent ? f.parent->data() : nullptr,
         .start_unix_ns = f.begin,
         .end_unix_ns = f.end,
         .kind = f.kind,
         .trace_flags = 1,
         .span_flags = f.remote_parent ? wire::kParentIsRemote : std::uint8_t{0}},
        f.name);
    span.attribute("order.symbol", std::string_view("BTCUSDT"));
    if (f.error) {
      span.set_status(kStatusError);
      span.status_message("exchange rejected order: insufficient margin");
    }
    if (const auto n = span.finish(); n > 0) {
      emit(f.part, std::span(buffer.data(), n));
      ++summary.spans;
    }
  }
  return summary;
}

}  // namespace tailgate::tools
