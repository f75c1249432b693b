#include "telemetry/drop_rate.hpp"

namespace tailgate::telemetry {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;

Totals minus(const Totals& a, const Totals& b) noexcept {
  return {a.received - b.received,
          a.dropped - b.dropped,
          a.dropped_before_decode - b.dropped_before_decode,
          a.sampled_out - b.sampled_out,
          a.export_requests - b.export_requests,
          a.export_failures - b.export_failures,
          a.rejected_requests - b.rejected_requests,
          a.rejected_spans - b.rejected_spans};
}

double ratio(std::uint64_t part, std::uint64_t whole) noexcept {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

Totals totals_of(const Counters& c) noexcept {
  Totals t;
  t.received = c.received();
  for (std::size_t r = 0; r < c.dropped.size(); ++r) {
    const auto n = c.dropped[r].load(std::memory_order_relaxed);
    t.dropped += n;
    if (!after_decode(static_cast<DropReason>(r))) t.dropped_before_decode += n;
  }
  t.sampled_out = c.spans_sampled_out.load(std::memory_order_relaxed);
  t.export_failures = c.export_requests_failed.load(std::memory_order_relaxed);
  t.export_requests = c.export_requests_ok.load(std::memory_order_relaxed) + t.export_failures;
  for (std::size_t r = 0; r < Counters::kReceivers; ++r) {
    for (std::size_t why = 0; why < Counters::kRejectReasons; ++why) {
      t.rejected_requests += c.requests_rejected[r][why].load(std::memory_order_relaxed);
      t.rejected_spans += c.spans_rejected[r][why].load(std::memory_order_relaxed);
    }
  }
  return t;
}

double WindowRates::drop_rate() const noexcept {
  return ratio(delta.dropped, delta.received + delta.dropped_before_decode);
}

double WindowRates::export_failure_rate() const noexcept {
  return ratio(delta.export_failures, delta.export_requests);
}

DropRateWindows::DropRateWindows(std::uint64_t start_ns) : start_ns_(start_ns) {
  samples_.push_back({start_ns, {}});
}

void DropRateWindows::sample(std::uint64_t now_ns, const Totals& totals) {
  samples_.push_back({now_ns, totals});
  // Keep one sample older than 5 minutes so that the 5-minute window is whole.
  while (samples_.size() > 2 && now_ns - samples_[1].at_ns >= 300 * kSecond) samples_.pop_front();
}

std::vector<WindowRates> DropRateWindows::windows(std::uint64_t now_ns, const Totals& now) const {
  const auto since = [&](std::uint64_t span_ns) {
    // The newest sample at least span_ns old, else the oldest we have.
    const Sample* base = &samples_.front();
    for (const auto& s : samples_) {
      if (now_ns - s.at_ns >= span_ns) base = &s;
    }
    return base;
  };
  std::vector<WindowRates> out;
  for (const auto& [name, span] : {std::pair{"1m", 60 * kSecond}, std::pair{"5m", 300 * kSecond}}) {
    const auto* base = since(span);
    out.push_back(
        {name, static_cast<double>(now_ns - base->at_ns) / 1e9, minus(now, base->totals)});
  }
  out.push_back({"since_start", static_cast<double>(now_ns - start_ns_) / 1e9, now});
  return out;
}

}  // namespace tailgate::telemetry
