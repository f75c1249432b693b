#include "workflow.hpp"

#include <array>
#include <string_view>

#include "wire/encode.hpp"

namespace tailgate::tools {
namespace {

constexpr std::array<std::string_view, 4> kSymbols = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"};
constexpr std::uint8_t kInternal = 1, kServer = 2, kClient = 3;
constexpr std::uint8_t kStatusError = 2;
constexpr std::uint64_t kMicro = 1000, kMilli = 1000 * 1000;

template <std::size_t N>
void random_id(std::mt19937_64& rng, std::array<std::uint8_t, N>& id) {
  for (std::size_t i = 0; i < N; i += 8) {
    const auto v = rng();
    for (std::size_t j = 0; j < 8 && i + j < N; ++j)
      id[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
  }
}

}  // namespace

WorkflowGenerator::WorkflowGenerator(const WorkflowOptions& options)
    : options_(options), rng_(options.seed) {}

TraceSummary WorkflowGenerator::uniform_trace(
    std::uint64_t now_unix_ns, const std::function<void(std::span<const std::byte>)>& emit) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  TraceSummary summary;
  summary.error = unit(rng_) < options_.error_fraction;
  summary.slow = unit(rng_) < options_.slow_fraction;
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> root_id{}, caller_id{};
  random_id(rng_, trace_id);
  random_id(rng_, root_id);
  if (options_.remote_parent) random_id(rng_, caller_id);
  static constexpr std::array<std::string_view, 8> kKeys = {
      "order.symbol",  "order.quantity", "order.side",    "order.price_ticks",
      "exchange.name", "account.book",   "strategy.name", "risk.limit_ticks"};
  const std::uint64_t span_ns = summary.slow ? 150 * kMilli : 500 * kMicro;
  const std::uint64_t start = now_unix_ns - span_ns - 100 * kMicro;
  std::array<std::byte, 8192> buffer{};
  for (std::size_t i = 0; i < options_.spans_per_trace; ++i) {
    const bool root = i + 1 == options_.spans_per_trace;  // children end first, the root last
    std::array<std::uint8_t, 8> id{};
    if (root) {
      id = root_id;
    } else {
      random_id(rng_, id);
    }
    wire::SpanEncoder span(
        buffer,
        {.trace_id = trace_id.data(),
         .span_id = id.data(),
         .parent_span_id = !root                    ? root_id.data()
                           : options_.remote_parent ? caller_id.data()
                                                    : nullptr,
         .start_unix_ns = root ? start : start + 50 * kMicro,
         .end_unix_ns = root ? start + span_ns + 100 * kMicro : start + span_ns,
         .kind = root ? kServer : kInternal,
         .trace_flags = 1,
         .span_flags = root && options_.remote_parent ? wire::kParentIsRemote : std::uint8_t{0}},
        root ? "bench.root" : "bench.child");
    for (std::size_t a = 0; a < options_.attributes; ++a) {
      const auto key = kKeys[a % kKeys.size()];
      if (a % 2 == 0) {
        span.attribute(key, kSymbols[(a / 2) % kSymbols.size()]);
      } else {
        span.attribute(key, static_cast<std::int64_t>(rng_() % 100000));
      }
    }
    if (summary.error && root) span.set_status(kStatusError);
    if (const auto n = span.finish(); n > 0) {
      emit(std::span(buffer.data(), n));
      ++summary.spans;
    }
  }
  return summary;
}

TraceSummary WorkflowGenerator::next_trace(
    std::uint64_t now_unix_ns, const std::function<void(std::span<const std::byte>)>& emit) {
  if (options_.spans_per_trace > 0) return uniform_trace(now_unix_ns, emit);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  TraceSummary summary;
  summary.error = unit(rng_) < options_.error_fraction;
  summary.slow = unit(rng_) < options_.slow_fraction;
  summary.critical = unit(rng_) < options_.critical_fraction;
  const bool order = summary.critical;
  const auto symbol = kSymbols[rng_() % kSymbols.size()];
  const bool buy = rng_() % 2 == 0;
  const auto quantity = static_cast<std::int64_t>(1 + rng_() % 100);
  const double price = 100.0 + static_cast<double>(rng_() % 100000) / 100.0;

  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> root_id{};
  random_id(rng_, trace_id);
  random_id(rng_, root_id);

  // Durations: validate 200 µs, place_order 2 ms (150 ms when slow), confirm 300 µs.
  const std::uint64_t place_ns = summary.slow ? 150 * kMilli : 2 * kMilli;
  const std::uint64_t total_ns = 200 * kMicro + place_ns + 300 * kMicro + 100 * kMicro;
  const std::uint64_t start = now_unix_ns - total_ns;

  std::array<std::byte, 2048> buffer{};
  const auto child = [&](std::string_view name, std::uint8_t kind, std::uint64_t begin,
                         std::uint64_t end, auto&& add_items) {
    std::array<std::uint8_t, 8> id{};
    random_id(rng_, id);
    wire::SpanEncoder span(buffer,
                           {.trace_id = trace_id.data(),
                            .span_id = id.data(),
                            .parent_span_id = root_id.data(),
                            .start_unix_ns = begin,
                            .end_unix_ns = end,
                            .kind = kind,
                            .trace_flags = 1},
                           name);
    span.attribute("order.symbol", symbol);
    add_items(span);
    if (const auto n = span.finish(); n > 0) {
      emit(std::span(buffer.data(), n));
      ++summary.spans;
    }
  };

  const auto t_validate = start + 50 * kMicro;
  child(order ? "order.validate" : "market_data.normalize", kInternal, t_validate,
        t_validate + 200 * kMicro, [&](auto& s) {
          s.attribute("risk.passed", true);
          s.attribute("risk.check_type", std::string_view("position_limit"));
        });
  const auto t_place = t_validate + 200 * kMicro;
  child(order ? "api.exchange.place_order" : "signal.evaluate", order ? kClient : kInternal,
        t_place, t_place + place_ns, [&](auto& s) {
          s.attribute("order.side", std::string_view(buy ? "buy" : "sell"));
          s.attribute("order.quantity", quantity);
          s.attribute("order.price", price);
          s.attribute("order.type", std::string_view("limit"));
          s.attribute("exchange.name", std::string_view("binance"));
          if (summary.error) {
            const std::array<wire::AttributeView, 2> attrs{{
                {"exception.type", std::string_view("ExchangeError")},
                {"exception.message", std::string_view("insufficient margin")},
            }};
            s.event(t_place + place_ns, "exception", attrs);
            s.set_status(kStatusError);
            s.status_message("exchange rejected order: insufficient margin");
          }
        });
  const auto t_confirm = t_place + place_ns;
  child(order ? "order.confirm" : "orderbook.update", kInternal, t_confirm,
        t_confirm + 300 * kMicro, [&](auto& s) {
          s.attribute("order.status", std::string_view(summary.error ? "rejected" : "filled"));
        });

  wire::SpanEncoder root(buffer,
                         {.trace_id = trace_id.data(),
                          .span_id = root_id.data(),
                          .start_unix_ns = start,
                          .end_unix_ns = start + total_ns,
                          .kind = kServer,
                          .trace_flags = 1},
                         order ? "signal_generation" : "market_data.tick");
  root.attribute("strategy.name", std::string_view("momentum"));
  root.attribute("signal.symbol", symbol);
  root.attribute("signal.strength", 0.5 + static_cast<double>(rng_() % 50) / 100.0);
  if (summary.error) root.set_status(kStatusError);
  if (const auto n = root.finish(); n > 0) {
    emit(std::span(buffer.data(), n));
    ++summary.spans;
  }
  return summary;
}

}  // namespace tailgate::tools
