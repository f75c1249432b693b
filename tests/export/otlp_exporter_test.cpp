// The exporter against a real in-process OTLP/gRPC server (the tailgate-sink service) on
// 127.0.0.1, port 0.
#include "export/otlp_exporter.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "export/spool.hpp"
#include "otlp_sink.hpp"
#include "support/child_process.hpp"
#include "support/eventually.hpp"
#include "support/span_builder.hpp"

using namespace tailgate;
using namespace std::chrono_literals;

namespace {

config::ExporterConfig exporter_config(int port) {
  config::ExporterConfig c;
  c.endpoint = "127.0.0.1:" + std::to_string(port);
  c.max_batch_spans = 100;
  c.max_batch_delay = 20ms;
  c.initial_backoff = 20ms;
  c.max_backoff = 100ms;
  c.timeout = 2s;
  return c;
}

/// A loopback port nobody listens on (a server held it a moment ago): a backend that is down.
int closed_port() {
  tools::SinkServer gone("127.0.0.1:0", {});
  return gone.port();
}

void push_spans(model::SpanQueue& q, std::uint64_t traces, std::uint64_t spans_per_trace) {
  const auto resource = testing::test_resource("orders");
  model::SpanBatch batch;
  for (std::uint64_t t = 0; t < traces; ++t) {
    for (std::uint64_t i = 0; i < spans_per_trace; ++i)
      batch.push_back(testing::make_span(t, i, resource));
  }
  REQUIRE(q.try_push(batch));
}

}  // namespace

TEST_CASE("queued spans reach the server in batches of at most max_batch_spans", "[export]") {
  tools::SinkServer server("127.0.0.1:0", {.keep_spans = true});
  telemetry::Counters counters;
  model::SpanQueue queue(100000);
  exporter::OtlpExporter exporter(exporter_config(server.port()), queue, counters);
  exporter.start();
  push_spans(queue, 250, 4);
  REQUIRE(testing::eventually([&] { return server.sink().stats().spans == 1000; }));
  queue.close();
  CHECK(exporter.stop(1s) == 0);
  CHECK(server.sink().stats().requests >= 10);
  CHECK(counters.spans_exported.load() == 1000);
  std::set<std::string> ids;
  for (const auto& s : server.sink().spans()) ids.insert(s.span.span_id());
  CHECK(ids.size() == 1000);  // no duplicates
}

TEST_CASE("spans a partial success rejects are counted dropped, the rest exported", "[export]") {
  tools::SinkServer server("127.0.0.1:0", {});
  server.sink().reject_spans(7, "7 spans had no name");
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  exporter::OtlpExporter exporter(exporter_config(server.port()), queue, counters);
  exporter.start();
  push_spans(queue, 25, 4);  // one request of 100 spans
  REQUIRE(testing::eventually([&] { return counters.export_requests_ok.load() == 1; }));
  queue.close();
  CHECK(exporter.stop(1s) == 0);
  CHECK(counters.spans_exported.load() == 93);
  CHECK(counters.dropped_of(telemetry::DropReason::ExportRejected) == 7);
  CHECK(counters.export_retries.load() == 0);  // a partial success is not retried
}

TEST_CASE("a partial batch is sent once max_batch_delay has passed", "[export]") {
  tools::SinkServer server("127.0.0.1:0", {});
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  exporter::OtlpExporter exporter(exporter_config(server.port()), queue, counters);
  exporter.start();
  push_spans(queue, 1, 3);
  CHECK(testing::eventually([&] { return server.sink().stats().spans == 3; }, 5s));
  queue.close();
  exporter.stop(1s);
}

TEST_CASE("while the backend answers UNAVAILABLE, batches are retried and all arrive once",
          "[export]") {
  tools::SinkServer server("127.0.0.1:0", {.keep_spans = true});
  telemetry::Counters counters;
  model::SpanQueue queue(100000);
  exporter::OtlpExporter exporter(exporter_config(server.port()), queue, counters);
  // The outage starts with the spans, not with the server: under TSan on a loaded machine the
  // exporter's first request once came after a window opened at start-up had closed.
  server.sink().fail_until(std::chrono::steady_clock::now() + 1s);
  push_spans(queue, 100, 5);
  exporter.start();
  REQUIRE(testing::eventually([&] { return server.sink().stats().spans == 500; }));
  queue.close();
  CHECK(exporter.stop(1s) == 0);
  CHECK(server.sink().stats().refused_requests > 0);
  CHECK(counters.export_retries.load() > 0);
  CHECK(counters.dropped_of(telemetry::DropReason::ExportFailed) == 0);
  std::set<std::string> ids;
  for (const auto& s : server.sink().spans()) ids.insert(s.span.span_id());
  CHECK(ids.size() == 500);
}

TEST_CASE("a non-retryable refusal is dropped and counted, not retried", "[export]") {
  tools::SinkServer server("127.0.0.1:0", {.required_headers = {{"authorization", "Bearer t"}}});
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  exporter::OtlpExporter exporter(exporter_config(server.port()), queue, counters);
  exporter.start();
  push_spans(queue, 10, 2);
  REQUIRE(testing::eventually(
      [&] { return counters.dropped_of(telemetry::DropReason::ExportFailed) == 20; }));
  queue.close();
  exporter.stop(1s);
  // Every request the server refused was sent once: the only retries are of attempts that never
  // reached it (a connect that timed out on a loaded machine is retryable).
  const auto stats = server.sink().stats();
  CHECK(stats.rejected_requests > 0);
  CHECK(stats.rejected_requests ==
        counters.export_requests_failed.load() - counters.export_retries.load());
  CHECK(stats.spans == 0);
}

TEST_CASE("configured headers and gzip reach the server", "[export]") {
  auto config = [](int port) {
    auto c = exporter_config(port);
    c.headers = {{"authorization", "Bearer t"}};
    c.compression = config::Compression::Gzip;
    return c;
  };
  const std::map<std::string, std::string> required = {{"authorization", "Bearer t"}};
  SECTION("a server that checks the header receives everything") {
    tools::SinkServer server("127.0.0.1:0", {.required_headers = required});
    telemetry::Counters counters;
    model::SpanQueue queue(1000);
    exporter::OtlpExporter exporter(config(server.port()), queue, counters);
    exporter.start();
    push_spans(queue, 10, 2);
    REQUIRE(testing::eventually([&] { return server.sink().stats().spans == 20; }));
    queue.close();
    exporter.stop(1s);
  }
  SECTION("a server that refuses compression refuses every request: they were gzip") {
    tools::SinkServer server("127.0.0.1:0", {.required_headers = required, .accept_gzip = false});
    telemetry::Counters counters;
    model::SpanQueue queue(1000);
    exporter::OtlpExporter exporter(config(server.port()), queue, counters);
    exporter.start();
    push_spans(queue, 10, 2);
    REQUIRE(testing::eventually(
        [&] { return counters.dropped_of(telemetry::DropReason::ExportFailed) == 20; }));
    queue.close();
    exporter.stop(1s);
    CHECK(server.sink().stats().spans == 0);
  }
}

TEST_CASE("stop gives up after the grace period and counts what it could not deliver", "[export]") {
  const int port = closed_port();
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  exporter::OtlpExporter exporter(exporter_config(port), queue, counters);
  exporter.start();
  push_spans(queue, 10, 3);
  queue.close();
  const auto begin = std::chrono::steady_clock::now();
  CHECK(exporter.stop(300ms) == 30);
  CHECK(std::chrono::steady_clock::now() - begin < 5s);
  CHECK(counters.dropped_of(telemetry::DropReason::ExportFailed) == 30);
  CHECK(counters.spans_exported.load() == 0);
}

TEST_CASE("throttled with a RetryInfo, the exporter waits as long as the server asks", "[export]") {
  tools::SinkServer server("127.0.0.1:0", {});
  // Throttled for a second (long enough that the first request, however slow the start, is
  // inside it), each refusal asking for 600 ms.
  server.sink().throttle_until(std::chrono::steady_clock::now() + 1s, 600ms);
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  exporter::OtlpExporter exporter(exporter_config(server.port()), queue, counters);
  const auto begin = std::chrono::steady_clock::now();
  exporter.start();
  push_spans(queue, 2, 2);
  REQUIRE(testing::eventually([&] { return server.sink().stats().spans == 4; }));
  // Backoff alone (20-100 ms) would have been refused ten times or more within the second; at
  // the 600 ms the server asked for, once or twice.
  CHECK(std::chrono::steady_clock::now() - begin >= 600ms);
  CHECK(server.sink().stats().throttled_requests >= 1);
  CHECK(server.sink().stats().throttled_requests <= 3);
  queue.close();
  exporter.stop(1s);
}

TEST_CASE("with the backend gone, batches wait in the spool and are replayed when it is back",
          "[export]") {
  testing::TempDir dir;
  const int port = closed_port();
  auto config = exporter_config(port);
  config.spool_directory = dir.file("spool");
  config.max_retry_time = 60s;  // a failed batch is on disk at once all the same
  config.max_inflight_requests = 1;
  telemetry::Counters counters;
  model::SpanQueue queue(100000);
  exporter::OtlpExporter exporter(config, queue, counters);
  exporter.start();
  push_spans(queue, 100, 5);  // 500 spans, 5 batches
  REQUIRE(testing::eventually([&] { return counters.spool_spans_written.load() == 500; }, 2s));
  CHECK(counters.dropped_after_decode() == 0);

  tools::SinkServer server("127.0.0.1:" + std::to_string(port), {.keep_spans = true});
  // No new spans: the probe (the oldest spooled batch) finds the backend back.
  REQUIRE(testing::eventually([&] { return server.sink().stats().spans == 500; }, 5s));
  std::vector<std::uint64_t> seeds;  // span_id_of's argument: increasing in the order pushed
  for (const auto& s : server.sink().spans()) {
    std::uint64_t seed = 0;
    for (std::size_t i = 0; i < s.span.span_id().size(); ++i)
      seed |= std::uint64_t{static_cast<std::uint8_t>(s.span.span_id()[i] ^ 0x5A)} << (8 * i);
    seeds.push_back(seed);
  }
  CHECK(std::set<std::uint64_t>(seeds.begin(), seeds.end()).size() == 500);
  CHECK(std::is_sorted(seeds.begin(), seeds.end()));  // oldest first
  queue.close();
  exporter.stop(1s);
  CHECK(counters.spool_spans.load() == 0);
  CHECK(counters.spool_batches_replayed.load() == 5);
}

TEST_CASE("stopping with the backend down spools everything, and the next exporter sends it",
          "[export]") {
  testing::TempDir dir;
  const int port = closed_port();
  auto config = exporter_config(port);
  config.spool_directory = dir.file("spool");
  {
    telemetry::Counters counters;
    model::SpanQueue queue(100000);
    exporter::OtlpExporter exporter(config, queue, counters);
    exporter.start();
    push_spans(queue, 60, 5);
    queue.close();
    CHECK(exporter.stop(300ms) == 0);           // nothing dropped ...
    CHECK(counters.spool_spans.load() == 300);  // ... all of it on disk
  }
  tools::SinkServer server("127.0.0.1:" + std::to_string(port), {.keep_spans = true});
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  exporter::OtlpExporter exporter(config, queue, counters);
  CHECK(counters.spool_spans_recovered.load() == 300);
  exporter.start();
  REQUIRE(testing::eventually([&] { return server.sink().stats().spans == 300; }, 20s));
  queue.close();
  exporter.stop(1s);
}

TEST_CASE("spans of corrupt spool files count as dropped spool_corrupt, and the identity holds",
          "[export][spool_corrupt]") {
  testing::TempDir dir;
  {
    exporter::Spool spool(dir.file("spool"), 1 << 20);
    REQUIRE(spool.put(std::string(64, '\xff'), 3));  // checksummed, but not an export request
    REQUIRE(spool.put(std::string(200, 'x'), 4));
  }
  std::filesystem::resize_file(dir.file("spool/00000000000000000002-4.otlp"), 30);  // truncated
  tools::SinkServer server("127.0.0.1:0", {.keep_spans = true});
  auto config = exporter_config(server.port());
  config.spool_directory = dir.file("spool");
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  exporter::OtlpExporter exporter(config, queue, counters);
  CHECK(counters.spool_spans_recovered.load() == 7);
  CHECK(counters.dropped_of(telemetry::DropReason::SpoolCorrupt) == 4);  // found at start
  exporter.start();
  push_spans(queue, 1, 1);
  REQUIRE(testing::eventually([&] {
    return counters.dropped_of(telemetry::DropReason::SpoolCorrupt) == 7 &&
           server.sink().stats().spans == 1;
  }));
  queue.close();
  exporter.stop(1s);
  CHECK(counters.spool_corrupt_files.load() == 2);
  CHECK(counters.spool_corrupt_bytes.load() == 24 + 64 + 30);
  // recovered (7) + pushed (1) = exported + dropped + spooled
  CHECK(counters.spans_exported.load() + counters.dropped_after_decode() +
            counters.spool_spans.load() ==
        8);
}
