// tailgate from C++: a market data handler that traces each tick (the root of a trace), the
// order book update under it and a strategy call in "another service" (its context passed as a
// W3C traceparent, as it would cross a process boundary).
//
//   g++ -std=c++20 market_data.cpp -ltailgate -o market_data
//   TAILGATE_RING_DIRECTORY=/dev/shm/tailgate ./market_data [ticks]
//
// Prints one JSON line per tick: {"trace_id", "tick", "crossed"}. Every fourth tick has a
// crossed book: the update throws, and its span records the exception and is marked ERROR.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tailgate/tailgate.hpp"

namespace {

void update_book(tailgate::Tracer& tracer, int tick, double bid, double ask) {
  auto span = tracer.span("md.book.update");
  span.set("book.symbol", "ETHUSDT").set("book.bid", bid).set("book.ask", ask);
  // A full depth snapshot: past the span's 1 KiB in place, the record grows to hold it.
  span.set("book.snapshot", std::string(1500, static_cast<char>('a' + tick % 26)));
  span.event("book.levels", {{"levels", std::int64_t{20}}});
  if (bid >= ask) {
    try {
      throw std::runtime_error("crossed book");
    } catch (const std::exception& e) {
      // The exception event (as OpenTelemetry's RecordException, it sets no status), and ERROR
      // because a crossed book fails the update.
      span.exception(e).error(e.what());
    }
  }
}

// The strategy service: its parent arrives as a traceparent header.
void strategy(tailgate::Tracer& tracer, const std::string& traceparent) {
  const auto parent = tailgate::SpanContext::from_traceparent(traceparent);
  auto span = parent ? tracer.span("strategy.signal", *parent, tailgate::SpanKind::Server)
                     : tracer.span("strategy.signal", tailgate::SpanKind::Server);
  span.set("signal.strength", 0.42).set("signal.live", true);
}

}  // namespace

int main(int argc, char** argv) {
  const int ticks = argc > 1 ? std::atoi(argv[1]) : 4;
  const char* directory = std::getenv("TAILGATE_RING_DIRECTORY");
  tailgate::Tracer tracer({.service_name = "cpp-market-data",
                           .service_version = "1.0.0",
                           .resource = {{"deployment.environment", "example"}},
                           .directory = directory != nullptr ? directory : "/dev/shm/tailgate"});
  if (!tracer.error().empty()) std::fprintf(stderr, "no segment: %s\n", tracer.error().c_str());
  for (int tick = 0; tick < ticks; ++tick) {
    const bool crossed = tick % 4 == 3;
    std::string trace_id;
    {
      auto root = tracer.root_span("md.tick.process", tailgate::SpanKind::Consumer);
      root.set("tick.seq", tick).set("tick.venue", "binance");
      trace_id = root.context().trace_id_hex();
      update_book(tracer, tick, crossed ? 2311.0 : 2310.0, 2310.5);
      strategy(tracer, root.context().traceparent());
      if (!crossed) root.ok();
    }
    std::printf("{\"trace_id\": \"%s\", \"tick\": %d, \"crossed\": %s}\n", trace_id.c_str(), tick,
                crossed ? "true" : "false");
  }
  const auto stats = tracer.stats();
  return stats.dropped == 0 && stats.dropped_items == 0 ? 0 : 1;
}
