// The ring directory as deployed: the agent and producers as different users, in either start
// order, a directory squatted by another user, and the agent under tailgate.service's
// restrictions (umask 0077, RestrictSUIDSGID) run by tailgate-restricted-exec, since systemd is
// not PID 1 here. The parent directory is 1777, as /dev/shm is.
#include "shm/ring_directory.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/agent_stack.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/sink_spans.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::ChildProcess;

namespace {

// Users and groups by number (none needs a name): the agent's user and the ring group, and a
// trading user whose own group is not the ring group but who is a member of it.
constexpr int kAgentUid = 4242, kRingGid = 4242;
constexpr int kTraderUid = 4243, kTraderGid = 4243;
constexpr int kNobody = 65534;

const std::vector<std::string> kAgentUser = {TAILGATE_RESTRICTED_EXEC_BIN, "--uid",
                                             std::to_string(kAgentUid),    "--gid",
                                             std::to_string(kRingGid),     "--"};
/// tailgate.service: its user, UMask=0077 and RestrictSUIDSGID=yes.
const std::vector<std::string> kAgentUnit = {TAILGATE_RESTRICTED_EXEC_BIN,
                                             "--uid",
                                             std::to_string(kAgentUid),
                                             "--gid",
                                             std::to_string(kRingGid),
                                             "--umask",
                                             "0077",
                                             "--no-setid-modes",
                                             "--"};
const std::vector<std::string> kTrader = {
    TAILGATE_RESTRICTED_EXEC_BIN, "--uid",    std::to_string(kTraderUid), "--gid",
    std::to_string(kTraderGid),   "--groups", std::to_string(kRingGid),   "--"};

/// A sink, and an agent started when the test says, by a launcher, on <tmp>/shm/tailgate.
struct Deployment {
  testing::TempDir dir;
  std::unique_ptr<ChildProcess> sink, agent;
  int admin_port = 0;

  Deployment() {
    // Other users read the config and enter shm/, which is 1777 like /dev/shm.
    fs::permissions(dir.file(""), fs::perms(0755));
    fs::create_directory(dir.file("shm"));
    fs::permissions(dir.file("shm"), fs::perms(01777));
    sink = std::make_unique<ChildProcess>(
        std::vector<std::string>{TAILGATE_SINK_BIN, "--listen", "127.0.0.1:0", "--jsonl",
                                 dir.file("spans.jsonl")},
        dir.file("sink.out"), dir.file("sink.err"));
    const int sink_port = testing::port_after(
        testing::wait_for_text(dir.file("sink.err"), "serving", 10s), "on port ");
    REQUIRE(sink_port > 0);
    std::ofstream(dir.file("tailgate.yaml"))
        << "receivers:\n  udp:\n    endpoint: 127.0.0.1:0\n  ring:\n    directory: " << ring()
        << "\n    scan_interval: 50ms\n"
        << testing::drop_ins_on_free_ports("")  // not 6831 & co: other tests run beside
        << "admin:\n  endpoint: 127.0.0.1:0\n"
        << "exporter:\n  endpoint: 127.0.0.1:" << sink_port << "\n  max_batch_delay: 50ms\n"
        << "sampling:\n  decision_wait: 100ms\n"
        << "  policies: [{name: all, type: base, probability: 1.0}]\n";
  }
  [[nodiscard]] std::string ring() const { return dir.file("shm/tailgate"); }

  void start_agent(std::vector<std::string> launcher) {
    launcher.insert(launcher.end(), {TAILGATE_AGENT_BIN, "--config", dir.file("tailgate.yaml")});
    // Its spool and state file in this test's directory (any user may write it), not the
    // user's shared ~/.local/state, where tests running beside it would read them.
    fs::create_directories(dir.file("state"));
    fs::permissions(dir.file("state"), fs::perms(0777));
    agent = std::make_unique<ChildProcess>(launcher, dir.file("agent.out"), dir.file("agent.err"),
                                           std::vector<std::string>{"STATE_DIRECTORY=" +
                                                                    dir.file("state")});
    const auto log = testing::wait_for_text(dir.file("agent.err"), "event=agent_ready", 10s);
    INFO(log);
    admin_port = testing::port_after(log, "event=admin_listening endpoint=127.0.0.1:");
    REQUIRE(admin_port > 0);
  }
  [[nodiscard]] std::string agent_log() const { return testing::read_file(dir.file("agent.err")); }

  /// tailgate-load as `launcher` says, `traces` traces into the ring; what it printed.
  nlohmann::json load(std::vector<std::string> launcher, int traces,
                      const std::vector<std::string>& env = {}) {
    launcher.insert(launcher.end(), {TAILGATE_LOAD_BIN, "--ring-directory", ring(), "--traces",
                                     std::to_string(traces), "--rate", "200", "--seed", "3"});
    ChildProcess load(launcher, dir.file("load.out"), dir.file("load.err"), env);
    const auto status = load.wait(60s);
    INFO(testing::read_file(dir.file("load.err")));
    REQUIRE(status == 0);
    return nlohmann::json::parse(testing::read_file(dir.file("load.out")));
  }

  [[nodiscard]] std::size_t spans_at_sink() const {
    std::set<std::string> ids;
    for (const auto& s : testing::sink_spans_in(dir.file("spans.jsonl")))
      ids.insert(s["span_id"].get<std::string>());
    return ids.size();
  }
};

struct stat stat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

/// The reason tailgate_ring_directory_refused says 1 under on the agent's /metrics ("" if none);
/// every other reason must say 0.
std::string refused_on_metrics(int admin_port) {
  const auto metrics = testing::http_get(admin_port, "/metrics").body;
  INFO(metrics);
  constexpr std::string_view kSample = "tailgate_ring_directory_refused{reason=\"";
  std::string refused;
  std::size_t samples = 0;
  for (auto at = metrics.find(kSample); at != std::string::npos;
       at = metrics.find(kSample, at + 1)) {
    const auto reason_end = metrics.find('"', at + kSample.size());
    const auto value = metrics.substr(reason_end + 3, metrics.find('\n', at) - reason_end - 3);
    ++samples;
    CHECK((value == "0" || value == "1"));
    if (value == "1") {
      CHECK(refused.empty());  // one reason at a time
      refused = metrics.substr(at + kSample.size(), reason_end - at - kSample.size());
    }
  }
  CHECK(samples >= 7);  // the whole closed set, whatever holds
  return refused;
}

/// Another user (nobody:nogroup) makes `path` with `mode`, as a squatter would.
void squat(const std::string& path, mode_t mode) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const bool made = ::setgid(kNobody) == 0 && ::setuid(kNobody) == 0 &&
                      ::mkdir(path.c_str(), 0700) == 0 && ::chmod(path.c_str(), mode) == 0;
    ::_exit(made ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace

TEST_CASE(
    "a producer of another user that starts before the agent makes the ring directory the "
    "agent can read, and the agent's heartbeat there says it reads it",
    "[integration][ring_directory]") {
  Deployment d;
  // The trading process first: it makes the directory (ring group from TAILGATE_RING_GROUP).
  const auto sent = d.load(kTrader, 20, {"TAILGATE_RING_GROUP=" + std::to_string(kRingGid)});
  REQUIRE(sent["spans_sent"].get<std::size_t>() > 0);
  const auto made = stat_of(d.ring());
  CHECK(made.st_uid == static_cast<uid_t>(kTraderUid));
  CHECK(made.st_gid == static_cast<gid_t>(kRingGid));
  CHECK((made.st_mode & 07777) == 02770);
  CHECK_FALSE(shm::heartbeat_age(d.ring()).has_value());  // no agent yet: a producer sees it

  d.start_agent(kAgentUser);
  CHECK(testing::eventually(
      [&] { return d.spans_at_sink() == sent["spans_sent"].get<std::size_t>(); }, 20s, 20ms));
  INFO(d.agent_log());
  CHECK(d.agent_log().find("event=ring_directory_refused") == std::string::npos);
  // The heartbeat is refreshed every second while the agent reads.
  REQUIRE(testing::eventually([&] { return shm::heartbeat_age(d.ring()).has_value(); }, 5s));
  const auto first = stat_of(d.ring() + "/" + shm::kHeartbeatName).st_mtim;
  CHECK(testing::eventually(
      [&] {
        const auto now = stat_of(d.ring() + "/" + shm::kHeartbeatName).st_mtim;
        return now.tv_sec != first.tv_sec || now.tv_nsec != first.tv_nsec;
      },
      5s, 50ms));
  CHECK(*shm::heartbeat_age(d.ring()) < shm::kHeartbeatStale);
  d.agent->signal(SIGTERM);
  CHECK(d.agent->wait(20s) == 0);
  CHECK_FALSE(shm::heartbeat_age(d.ring()).has_value());  // gone with the agent
}

TEST_CASE(
    "a ring directory squatted by another user (mode 2777) is refused, /ready says so, producers "
    "refuse it too, and once it is removed the agent makes its own",
    "[integration][ring_directory]") {
  Deployment d;
  squat(d.ring(), 02777);
  d.start_agent({});  // as root: even root refuses a directory it does not own
  const auto log = d.agent_log();
  INFO(log);
  CHECK(log.find("event=ring_directory_refused") != std::string::npos);
  CHECK(log.find("lets other users in") != std::string::npos);
  const auto ready = testing::http_get(d.admin_port, "/ready");
  CHECK(ready.status == 503);
  CHECK(ready.body.find("ring_directory_refused") != std::string::npos);
  CHECK(refused_on_metrics(d.admin_port) == "open_to_others");
  CHECK_FALSE(fs::exists(d.ring() + "/" + shm::kHeartbeatName));

  // A producer will not put its spans where the squatter reads them.
  ChildProcess load({TAILGATE_LOAD_BIN, "--ring-directory", d.ring(), "--traces", "5"},
                    d.dir.file("load.out"), d.dir.file("load.err"));
  CHECK(load.wait(30s) == 1);
  CHECK(testing::read_file(d.dir.file("load.err")).find("lets other users in") !=
        std::string::npos);

  fs::remove_all(d.ring());  // the administrator removes it: the agent makes its own
  CHECK(testing::eventually([&] { return testing::http_get(d.admin_port, "/ready").status == 200; },
                            10s, 50ms));
  const auto own = stat_of(d.ring());
  CHECK(own.st_uid == ::geteuid());
  CHECK((own.st_mode & 07777) == 02770);
  CHECK(refused_on_metrics(d.admin_port) == "");
}

TEST_CASE(
    "a ring directory owned by a user outside the ring group is refused, even with the ring "
    "group and mode 2770",
    "[integration][ring_directory]") {
  Deployment d;
  // nobody owns it (so may delete or replace any segment) though it is not in the agent's group.
  REQUIRE(::mkdir(d.ring().c_str(), 0700) == 0);
  REQUIRE(::chown(d.ring().c_str(), kNobody, ::getegid()) == 0);
  REQUIRE(::chmod(d.ring().c_str(), 02770) == 0);
  d.start_agent({});
  const auto log = d.agent_log();
  INFO(log);
  CHECK(log.find("owned by a user outside the ring group") != std::string::npos);
  CHECK(testing::http_get(d.admin_port, "/ready").status == 503);
  CHECK(refused_on_metrics(d.admin_port) == "foreign_owner");
  CHECK_FALSE(fs::exists(d.ring() + "/" + shm::kHeartbeatName));
}

TEST_CASE("a ring directory of the agent's own that others can write is repaired",
          "[integration][ring_directory]") {
  Deployment d;
  REQUIRE(::mkdir(d.ring().c_str(), 0700) == 0);
  REQUIRE(::chown(d.ring().c_str(), static_cast<uid_t>(-1), kNobody) == 0);
  REQUIRE(::chmod(d.ring().c_str(), 02777) == 0);
  d.start_agent({});  // root, who owns it
  const auto st = stat_of(d.ring());
  CHECK((st.st_mode & 07777) == 02770);
  CHECK(st.st_gid == ::getegid());
  CHECK(testing::http_get(d.admin_port, "/ready").status == 200);
  INFO(d.agent_log());
  CHECK(d.agent_log().find("event=ring_directory_ready") != std::string::npos);
}

TEST_CASE(
    "under tailgate.service's restrictions (UMask=0077, RestrictSUIDSGID) the agent makes the "
    "ring directory 0770 for its group, and a producer in the group gets its spans to it",
    "[integration][ring_directory]") {
  Deployment d;
  // The launcher does refuse set-id modes, as systemd does, and nothing else.
  fs::create_directory(d.dir.file("probe"));
  const auto chmod_as_unit = [&](const char* mode) {
    ChildProcess chmod({TAILGATE_RESTRICTED_EXEC_BIN, "--no-setid-modes", "--", "/bin/chmod", mode,
                        d.dir.file("probe")},
                       d.dir.file("chmod.out"), d.dir.file("chmod.err"));
    return chmod.wait(10s);
  };
  CHECK(chmod_as_unit("2770") != 0);
  CHECK(chmod_as_unit("0770") == 0);

  d.start_agent(kAgentUnit);
  const auto made = stat_of(d.ring());
  CHECK(made.st_uid == static_cast<uid_t>(kAgentUid));
  CHECK(made.st_gid == static_cast<gid_t>(kRingGid));
  CHECK((made.st_mode & 07777) == 0770);  // not drwx------
  INFO(d.agent_log());
  CHECK(d.agent_log().find("set-id modes refused here") != std::string::npos);
  CHECK(testing::http_get(d.admin_port, "/ready").status == 200);

  // The directory passes no group on (no setgid): the producer gives its segment the group.
  const auto sent = d.load(kTrader, 20);
  REQUIRE(sent["spans_sent"].get<std::size_t>() > 0);
  CHECK(testing::eventually(
      [&] { return d.spans_at_sink() == sent["spans_sent"].get<std::size_t>(); }, 20s, 20ms));
}
