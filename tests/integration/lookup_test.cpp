// "Where is my trace?" through the real agent: traces from a real ring producer (this process)
// to the real sink, then GET /debug/trace/<id> and `tailgate explain` for a kept, a sampled-out,
// a forgotten and an unknown trace; and the status page in a real headless browser (Debian's
// chromium), its screenshot kept under the build directory as a CI artifact.
#include <filesystem>

#include <catch2/catch.hpp>

#include "lookup/trace_log.hpp"
#include "shm/segment.hpp"
#include "support/agent_stack.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/span_builder.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// Errors kept by "error"; everything else sampled out by "base" at 0.
const std::string kPolicies =
    "sampling:\n  decision_wait: 100ms\n"
    "  policies: [{name: error, type: error, probability: 1.0},"
    " {name: base, type: base, probability: 0.0}]\n";

// make_span gives trace numbers divisible by 7 an error status.
constexpr std::uint64_t kKeptTrace = 7;
constexpr std::uint64_t kSampledOutTrace = 8;
constexpr std::uint64_t kNeverSentTrace = 9;

/// This process as a ring producer (it is alive, so the agent attaches its segment).
struct Producer {
  std::shared_ptr<const model::Resource> resource = testing::test_resource("lookup-producer");
  std::unique_ptr<shm::Segment> segment;
  shm::LaneWriter lane;

  explicit Producer(const std::string& ring) {
    std::vector<std::byte> record(1024);
    record.resize(wire::encode_resource(*resource, record));
    segment = shm::Segment::create(
        {.directory = ring, .lanes = 2, .lane_bytes = 1 << 16, .resource = record});
    lane = segment->claim_lane();
  }
  void send_trace(std::uint64_t trace, std::uint64_t spans) {
    std::vector<std::byte> record(wire::kMaxRecordSize);
    for (std::uint64_t i = 0; i < spans; ++i) {
      const auto n = wire::encode_span(testing::make_span(trace, i, resource), record);
      REQUIRE(lane.try_write(std::span(record.data(), n)));
    }
  }
};

nlohmann::json ask(int admin_port, std::uint64_t trace) {
  const auto answer =
      testing::http_get(admin_port, "/debug/trace/" + lookup::to_hex(testing::trace_id_of(trace)));
  REQUIRE(answer.status == 200);
  REQUIRE(answer.content_type == "application/json");
  return nlohmann::json::parse(answer.body);
}

struct Explained {
  int exit_code = -1;
  std::string text;
};
Explained explain(const testing::AgentStack& stack, std::uint64_t trace) {
  const auto out = stack.dir.file("explain.out");
  testing::ChildProcess child(
      {TAILGATE_AGENT_BIN, "explain", lookup::to_hex(testing::trace_id_of(trace)), "--admin",
       "127.0.0.1:" + std::to_string(stack.admin_port)},
      out, stack.dir.file("explain.err"));
  const auto code = child.wait(10s);
  REQUIRE(code);
  return {*code, testing::read_file(out)};
}

}  // namespace

TEST_CASE("trace lookup through the real agent: kept, sampled out, unknown, and tailgate explain",
          "[integration][lookup]") {
  testing::AgentStack stack(kPolicies);
  Producer producer(stack.ring_directory());
  producer.send_trace(kKeptTrace, 3);
  producer.send_trace(kSampledOutTrace, 2);

  // Kept, then delivered: the export outcome follows the sink's answer.
  nlohmann::json kept;
  REQUIRE(testing::eventually(
      [&] {
        kept = ask(stack.admin_port, kKeptTrace);
        return kept.value("export", "") == "sent";
      },
      10s, 20ms));
  INFO(kept.dump(2));
  CHECK(kept["status"] == "kept");
  CHECK(kept["remembered"] == "full");
  CHECK(kept["decision"]["policy"] == "error");
  CHECK(kept["decision"]["probability"] == 1.0);
  // Its first span was an error: kept on the fast path with that one span, the other two
  // followed the decision as they came (the sink has all three).
  CHECK(kept["decision"]["trigger"] == "fast_path");
  CHECK(kept["spans_at_decision"] == 1);
  CHECK(kept["root_seen"] == true);
  REQUIRE(kept["producers"].size() == 1);
  CHECK(kept["producers"][0]["service.name"] == "lookup-producer");
  CHECK(testing::eventually([&] { return stack.sink_spans().size() == 3; }));

  nlohmann::json dropped;
  REQUIRE(testing::eventually(
      [&] {
        dropped = ask(stack.admin_port, kSampledOutTrace);
        return dropped["status"] != "unknown" && dropped["status"] != "buffered";
      },
      10s, 20ms));
  INFO(dropped.dump(2));
  CHECK(dropped["status"] == "sampled_out");
  CHECK(dropped["decision"]["policy"] == "base");
  CHECK(dropped["decision"]["trigger"] == "root");
  CHECK(dropped["spans_at_decision"] == 2);
  CHECK_FALSE(dropped.contains("export"));

  const auto unknown = ask(stack.admin_port, kNeverSentTrace);
  CHECK(unknown["status"] == "unknown");
  CHECK(unknown["remembered"] == "nothing");
  CHECK(unknown["window"]["held"] == 2);

  // Bad ids are refused, with the reason.
  CHECK(testing::http_get(stack.admin_port, "/debug/trace/xyz").status == 400);
  CHECK(testing::http_get(stack.admin_port, "/debug/trace/" + std::string(32, '0')).status == 400);

  // The same through `tailgate explain`, a separate process asking the admin port.
  const auto e_kept = explain(stack, kKeptTrace);
  INFO(e_kept.text);
  CHECK(e_kept.exit_code == 0);
  CHECK_THAT(e_kept.text, Contains(": kept") && Contains("policy \"error\"") &&
                              Contains("export: sent") && Contains("service.name=lookup-producer"));
  const auto e_dropped = explain(stack, kSampledOutTrace);
  INFO(e_dropped.text);
  CHECK(e_dropped.exit_code == 0);
  CHECK_THAT(e_dropped.text, Contains(": sampled_out") && Contains("trigger root"));
  const auto e_unknown = explain(stack, kNeverSentTrace);
  INFO(e_unknown.text);
  CHECK(e_unknown.exit_code == 1);
  CHECK_THAT(e_unknown.text, Contains(": unknown"));
}

TEST_CASE("trace lookup: past the recent window only the decision cache's verdict is left",
          "[integration][lookup]") {
  testing::AgentStack stack(kPolicies, "", "", "  trace_lookup_entries: 1\n");
  Producer producer(stack.ring_directory());
  producer.send_trace(kKeptTrace, 3);
  REQUIRE(testing::eventually([&] { return ask(stack.admin_port, kKeptTrace)["status"] == "kept"; },
                              10s, 20ms));
  producer.send_trace(kSampledOutTrace, 2);
  REQUIRE(testing::eventually(
      [&] { return ask(stack.admin_port, kSampledOutTrace)["status"] == "sampled_out"; }, 10s,
      20ms));
  // The one-entry window now holds the second trace; the first is known only to the cache,
  // which the pipeline thread answers for.
  const auto forgotten = ask(stack.admin_port, kKeptTrace);
  INFO(forgotten.dump(2));
  CHECK(forgotten["status"] == "kept");
  CHECK(forgotten["remembered"] == "decision_only");
  CHECK(forgotten["decision"]["policy"] == "error");
  CHECK_THAT(forgotten["note"].get<std::string>(), Contains("forgotten"));
  const auto e = explain(stack, kKeptTrace);
  CHECK(e.exit_code == 0);
  CHECK_THAT(e.text, Contains(": kept") && Contains("forgotten"));
}

TEST_CASE("status page in a headless browser: the running agent's producers and policies",
          "[integration][lookup][browser]") {
  testing::AgentStack stack(kPolicies);
  Producer producer(stack.ring_directory());
  producer.send_trace(kKeptTrace, 3);
  const auto url = "http://127.0.0.1:" + std::to_string(stack.admin_port) + "/";
  // Wait until the page has something to show: the producer attached and the trace kept.
  REQUIRE(testing::eventually(
      [&] {
        const auto page = testing::http_get(stack.admin_port, "/").body;
        return page.find("lookup-producer") != std::string::npos &&
               page.find(lookup::to_hex(testing::trace_id_of(kKeptTrace))) != std::string::npos;
      },
      10s, 50ms));

  // The artifact: kept under the build directory for CI to collect.
  std::filesystem::create_directories(TAILGATE_ARTIFACT_DIR);
  const std::string screenshot = std::string(TAILGATE_ARTIFACT_DIR) + "/status-page.png";
  std::filesystem::remove(screenshot);
  INFO("the browser test needs Debian's chromium: tools/install-deps.sh installs it");
  REQUIRE(std::filesystem::exists(TAILGATE_CHROMIUM));
  const std::vector<std::string> browser = {
      TAILGATE_CHROMIUM, "--headless",     "--disable-gpu",
      "--no-sandbox",    "--no-first-run", "--user-data-dir=" + stack.dir.file("chromium")};
  auto dom_args = browser;
  dom_args.insert(dom_args.end(), {"--dump-dom", url});
  testing::ChildProcess dom(dom_args, stack.dir.file("dom.html"), stack.dir.file("dom.err"));
  REQUIRE(dom.wait(60s) == 0);
  const auto html = testing::read_file(stack.dir.file("dom.html"));
  INFO(html << testing::read_file(stack.dir.file("dom.err")));
  // The browser parsed it into the tables we wrote: the producer (this process) and each policy.
  CHECK_THAT(html, Contains("<table id=\"producers\">"));
  CHECK_THAT(html, Contains("<td>" + std::to_string(::getpid()) + "</td>"));
  CHECK_THAT(html, Contains("<td>lookup-producer</td>"));
  CHECK_THAT(html, Contains("<table id=\"policies\">"));
  CHECK_THAT(html, Contains("<td>error</td>"));
  CHECK_THAT(html, Contains("<td>base</td>"));
  CHECK_THAT(html, Contains(lookup::to_hex(testing::trace_id_of(kKeptTrace))));

  auto shot_args = browser;
  shot_args.insert(shot_args.end(), {"--hide-scrollbars", "--window-size=1100,1000",
                                     "--screenshot=" + screenshot, url});
  testing::ChildProcess shot(shot_args, stack.dir.file("shot.out"), stack.dir.file("shot.err"));
  REQUIRE(shot.wait(60s) == 0);
  INFO(testing::read_file(stack.dir.file("shot.err")));
  REQUIRE(std::filesystem::exists(screenshot));
  CHECK(std::filesystem::file_size(screenshot) > 10'000);  // a page, not a blank
}
