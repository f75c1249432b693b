// The peers stage against a real redis-server (tests/support/redis_server.hpp): keeps go out as
// stream entries and come back from other agents' entries; Redis absent, killed or answering
// errors costs the stage's own threads only, and every failure is counted.
#include "peers/peer_link.hpp"

#include <thread>

#include <catch2/catch.hpp>

#include "peers/keep_codec.hpp"
#include "peers/redis_link.hpp"
#include "support/eventually.hpp"
#include "support/redis_server.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using telemetry::PeerConnection;

namespace {

config::PeersConfig peers_config(const std::string& endpoint, const std::string& agent) {
  config::PeersConfig c;
  c.enabled = true;
  c.endpoint = endpoint;
  c.agent_id = agent;
  c.publish_delay = 1ms;
  c.timeout = 300ms;
  c.initial_backoff = 20ms;
  c.max_backoff = 100ms;
  return c;
}

model::Keep keep(std::uint8_t seed, const std::string& policy = "error") {
  model::Keep k;
  k.trace_id.fill(seed);
  k.policy = policy;
  k.probability = 1.0;
  return k;
}

std::uint64_t errors(const telemetry::Counters& c, PeerConnection which) {
  return c.peer_errors[static_cast<std::size_t>(which)].load();
}

struct Peer {
  Peer(const std::string& endpoint, const std::string& agent, std::size_t queue = 1024)
      : outbox(queue), inbox(queue), link(peers_config(endpoint, agent), outbox, inbox, counters) {}
  telemetry::Counters counters;
  model::KeepQueue outbox, inbox;
  peers::PeerLink link;
};

/// Starts both links and waits until `b` follows the stream (a keep published before is unseen).
void start_following(Peer& a, Peer& b) {
  a.link.start();
  b.link.start();
  REQUIRE(testing::eventually([&] {
    return b.counters.peer_connected[static_cast<std::size_t>(PeerConnection::Follow)].load() == 1;
  }));
}

}  // namespace

TEST_CASE("keep codec: a keep survives the trip, bad entries are refused", "[peers]") {
  const auto fields = peers::encode_keep(keep(0xAB, "critical"), "host-a:1");
  std::vector<std::pair<std::string_view, std::string_view>> views(fields.begin(), fields.end());
  model::Keep out;
  REQUIRE(peers::decode_keep(views, "host-b:2", out) == peers::Decoded::Keep);
  CHECK(out.trace_id == keep(0xAB).trace_id);
  CHECK(out.policy == "critical");
  CHECK(out.probability == 1.0);
  CHECK(out.sequence == 0);  // unnumbered: an agent from before numbering
  CHECK(peers::decode_keep(views, "host-a:1", out) == peers::Decoded::Own);
  views[1].second = "not hex at all, but thirty-two c";
  CHECK(peers::decode_keep(views, "host-b:2", out) == peers::Decoded::Malformed);

  auto numbered = keep(0xCD);
  numbered.sequence = 42;
  const auto fields2 = peers::encode_keep(numbered, "host-a:1");
  std::vector<std::pair<std::string_view, std::string_view>> views2(fields2.begin(), fields2.end());
  std::string_view agent;
  REQUIRE(peers::decode_keep(views2, "host-b:2", out, &agent) == peers::Decoded::Keep);
  CHECK(out.sequence == 42);
  CHECK(agent == "host-a:1");
  views2.back().second = "0";
  CHECK(peers::decode_keep(views2, "host-b:2", out) == peers::Decoded::Malformed);
  views2.back().second = "12x";
  CHECK(peers::decode_keep(views2, "host-b:2", out) == peers::Decoded::Malformed);
}

TEST_CASE("peer link: keeps another agent published but this one never read are counted missed",
          "[peers]") {
  testing::TempDir dir;
  testing::RedisServer redis(dir.file(""));
  Peer a(redis.endpoint(), "a"), b(redis.endpoint(), "b");
  start_following(a, b);
  // a numbers its keeps 1, 2, 3: b reads them all, nothing missed.
  for (std::uint8_t i = 1; i <= 3; ++i) REQUIRE(a.outbox.try_push(keep(i)));
  REQUIRE(testing::eventually([&] { return b.counters.peer_keeps_received.load() == 3; }));
  const auto missed_of = [](const telemetry::Counters& c) {
    return c.peer_keeps_lost[static_cast<std::size_t>(telemetry::PeerLoss::Missed)].load();
  };
  CHECK(missed_of(b.counters) == 0);
  // Agent c's entries 1, 2, then 10 (3 to 9 trimmed before b read them), then 2 again (sent
  // twice across a broken connection) and a forged huge number, bounded.
  peers::RedisLink c;
  REQUIRE(c.connect(redis.endpoint(), "", 1s, 1s));
  const std::string id(32, 'e');
  for (const char* n : {"1", "2", "10", "2", "18446744073709551615"}) {
    REQUIRE(c.command({"XADD", "tailgate:keeps", "*", "a", "c", "t", id, "p", "error", "q", "1",
                       "n", n}) != nullptr);
  }
  REQUIRE(testing::eventually([&] { return b.counters.peer_keeps_received.load() == 8; }));
  a.link.stop();
  b.link.stop();
  CHECK(missed_of(b.counters) == 7 + (1u << 20));
}

TEST_CASE("peer link: keeps published by one agent are followed by another, not by itself",
          "[peers]") {
  testing::TempDir dir;
  testing::RedisServer redis(dir.file(""));
  Peer a(redis.endpoint(), "a"), b(redis.endpoint(), "b");
  start_following(a, b);
  REQUIRE(a.outbox.try_push(keep(1)));
  REQUIRE(a.outbox.try_push(keep(2, "latency")));
  std::vector<model::Keep> got;
  REQUIRE(testing::eventually([&] {
    b.inbox.pop_all(got);
    return got.size() == 2;
  }));
  CHECK(got[0].trace_id == keep(1).trace_id);
  CHECK(got[1].policy == "latency");
  CHECK(a.counters.peer_keeps_published.load() == 2);
  CHECK(b.counters.peer_keeps_received.load() == 2);
  a.link.stop();
  b.link.stop();
  CHECK(a.inbox.size() == 0);  // its own keeps are skipped
}

TEST_CASE("peer link: no Redis: keeps wait within the bound, failures counted, stop is prompt",
          "[peers]") {
  Peer p("127.0.0.1:" + std::to_string(testing::free_loopback_port()), "alone", 4);
  p.link.start();
  std::size_t accepted = 0;
  for (std::uint8_t i = 1; i <= 6; ++i) accepted += p.outbox.try_push(keep(i));
  CHECK(accepted == 4);  // the pipeline counts the other two (publish_queue_full)
  REQUIRE(testing::eventually([&] { return errors(p.counters, PeerConnection::Publish) >= 2; }));
  const auto start = std::chrono::steady_clock::now();
  p.link.stop();
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  // What was waiting to be published is lost now, and counted.
  CHECK(p.counters.peer_keeps_lost[static_cast<std::size_t>(telemetry::PeerLoss::PublishFailed)]
            .load() == 4);
}

TEST_CASE("peer link: a stream key Redis refuses to read is counted and retried with backoff",
          "[peers]") {
  testing::TempDir dir;
  testing::RedisServer redis(dir.file(""));
  {
    peers::RedisLink setup;
    REQUIRE(setup.connect(redis.endpoint(), "", 1s, 1s));
    REQUIRE(setup.command({"SET", "tailgate:keeps", "not a stream"}) != nullptr);
  }
  Peer p(redis.endpoint(), "reader");
  p.link.start();
  std::this_thread::sleep_for(500ms);
  p.link.stop();
  // Refused, counted, and retried at the backoff's pace (20 ms doubling to 100 ms): a few times,
  // not a busy loop of thousands.
  const auto n = errors(p.counters, PeerConnection::Follow);
  CHECK(n >= 2);
  CHECK(n <= 20);
  CHECK(p.inbox.size() == 0);
}

TEST_CASE("peer link: AUTH with the configured password, and a wrong one is counted, nothing sent",
          "[peers]") {
  testing::TempDir dir;
  testing::RedisServer redis(dir.file(""), "s3cret");
  const auto with_password = [&](const std::string& password) {
    auto c = peers_config(redis.endpoint(), "agent-" + password);
    c.password = password;
    return c;
  };
  model::KeepQueue outbox(16), inbox(16);
  telemetry::Counters right_counters, wrong_counters;
  {
    peers::PeerLink right(with_password("s3cret"), outbox, inbox, right_counters);
    right.start();
    REQUIRE(outbox.try_push(keep(10)));
    CHECK(testing::eventually([&] { return right_counters.peer_keeps_published.load() == 1; }));
  }
  {
    peers::PeerLink wrong(with_password("guess"), outbox, inbox, wrong_counters);
    wrong.start();
    CHECK(
        testing::eventually([&] { return errors(wrong_counters, PeerConnection::Publish) >= 2; }));
  }
  CHECK(wrong_counters.peer_keeps_published.load() == 0);
  CHECK(errors(right_counters, PeerConnection::Publish) == 0);
}
