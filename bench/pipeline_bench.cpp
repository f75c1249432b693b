// The sampler stage alone on one core: spans through Pipeline::ingest + tick (insert into the
// trace table, decide by the default policies, annotate and hand kept spans on), with the bytes a
// buffered span is accounted beside its encoded size. No thread, no sockets: the stage's own cost.
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_spans.hpp"
#include "model/span_queue.hpp"
#include "pipeline/pipeline.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"
#include "wire/pack.hpp"

using namespace tailgate;

namespace {

// The spans as the ring receiver hands them to the pipeline: decoded from their records, items
// packed.
std::vector<model::Span> as_received(const std::vector<model::Span>& spans) {
  std::vector<std::byte> buffer(wire::kMaxRecordSize);
  std::vector<model::Span> out(spans.size());
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const auto n = wire::encode_span(spans[i], buffer);
    if (n == 0 ||
        wire::decode_span(
            std::span(buffer).subspan(wire::kRecordHeaderSize, n - wire::kRecordHeaderSize),
            spans[i].resource, out[i], wire::Items::Packed) != wire::DecodeError::None) {
      std::abort();
    }
  }
  return out;
}

// range(1): span metrics before sampling on (1) or off (0), side by side in the same run.
void BM_SamplerStage(benchmark::State& state) {
  const auto spans_per_trace = static_cast<std::size_t>(state.range(0));
  const bool with_metrics = state.range(1) != 0;
  const std::size_t traces = 200'000 / spans_per_trace;
  const auto source = as_received(bench::make_traces(traces, spans_per_trace, 42));
  config::SamplingConfig config;
  config.decision_wait = std::chrono::milliseconds(1);
  std::uint64_t kept = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto batch = source;
    telemetry::Counters counters;
    model::SpanQueue in(1), out(source.size() + 1);
    auto metrics = with_metrics
                       ? std::make_unique<spanmetrics::SpanMetrics>(config::SpanMetricsConfig{})
                       : nullptr;
    pipeline::Pipeline stage(
        config, in, 1, out, counters, [] { return 0; }, metrics.get());
    state.ResumeTiming();
    bench::feed_stage(stage, batch);
    kept = counters.spans_kept.load();
    state.PauseTiming();
    model::SpanBatch drained;
    out.pop_all(drained, std::chrono::milliseconds(0));
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * source.size()));
  state.counters["kept_fraction"] = static_cast<double>(kept) / static_cast<double>(source.size());
}
BENCHMARK(BM_SamplerStage)
    ->ArgNames({"spans_per_trace", "span_metrics"})
    // Off and on next to each other, so that the shared machine's drift hits both alike.
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({4, 0})
    ->Args({4, 1})
    ->Args({10, 0})
    ->Args({10, 1})
    ->Args({100, 0})
    ->Args({100, 1})
    ->Unit(benchmark::kMillisecond);

// Span metrics alone: the per-span lookup and increments, over a trading mix of operations
// (3 names x 2 statuses) with one dimension. One batch of 512, hot in cache as a batch the
// pipeline has just taken from its queue is.
void BM_SpanMetricsRecord(benchmark::State& state) {
  const auto source = as_received(bench::make_traces(128, 4, 7));
  config::SpanMetricsConfig config;
  config.dimensions = {"order.type"};
  spanmetrics::SpanMetrics metrics(config);
  auto batch = source;
  for (auto _ : state) metrics.record(batch);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * source.size()));
  state.counters["series"] = static_cast<double>(metrics.series_count());
}
BENCHMARK(BM_SpanMetricsRecord)->Unit(benchmark::kMillisecond);

// What the trace table accounts for a buffered span (model::PackedSpans::memory_bytes: its
// trace's block, the trace's object, its resource's share) against its encoding on the wire, the
// span arriving packed (ring, UDP, OTLP protobuf) or decoded (OTLP/JSON, Jaeger; packed on entry).
// RSS growth per buffered span on each input path: ingest_bench --memory.
void BM_BufferedSpanMemory(benchmark::State& state) {
  const auto items = state.range(0) != 0 ? wire::Items::Packed : wire::Items::Decoded;
  constexpr std::size_t kTraces = 1000, kSpansPerTrace = 4;
  const auto spans = bench::make_traces(kTraces, kSpansPerTrace, 7);
  std::vector<std::byte> buffer(wire::kMaxRecordSize);
  double memory = 0, encoded = 0;
  for (auto _ : state) {
    memory = encoded = 0;
    model::KeyGenerations keys;
    wire::PackScratch scratch;
    std::vector<model::PackedSpans> traces(kTraces);
    for (std::size_t i = 0; i < spans.size(); ++i) {
      const auto n = wire::encode_span(spans[i], buffer);
      encoded += static_cast<double>(n);
      model::Span decoded;
      if (wire::decode_span(
              std::span(buffer).subspan(wire::kRecordHeaderSize, n - wire::kRecordHeaderSize),
              spans[i].resource, decoded, items) != wire::DecodeError::None) {
        state.SkipWithError("decode failed");
        return;
      }
      memory += static_cast<double>(
          wire::pack(std::move(decoded), traces[i / kSpansPerTrace], keys, scratch));
    }
  }
  state.counters["memory_bytes_per_span"] = memory / static_cast<double>(spans.size());
  state.counters["encoded_bytes_per_span"] = encoded / static_cast<double>(spans.size());
  state.counters["ratio"] = memory / encoded;
}
BENCHMARK(BM_BufferedSpanMemory)->ArgName("packed")->Arg(1)->Arg(0)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
