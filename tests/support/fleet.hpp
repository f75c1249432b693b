#pragma once
// A fleet on one host for the peers tests: one real tailgate-sink and N real agent processes that
// all export to it, each with its own ports (picked by the kernel, read from its log), ring
// directory and YAML. Peers settings (Redis) come in each agent's YAML.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/agent_stack.hpp"
#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/metrics_text.hpp"
#include "support/sink_spans.hpp"

namespace tailgate::testing {

class Fleet {
 public:
  struct Agent {
    std::unique_ptr<ChildProcess> process;
    int udp_port = 0;
    int admin_port = 0;
  };

  /// One agent per entry of `yaml` (top-level sections appended to its base config);
  /// `environment` is given to every agent (NAME=value).
  explicit Fleet(const std::vector<std::string>& yaml,
                 const std::vector<std::string>& environment = {}) {
    sink_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{TAILGATE_SINK_BIN, "--listen", "127.0.0.1:0", "--jsonl",
                                 dir.file("spans.jsonl")},
        dir.file("sink.out"), dir.file("sink.err"));
    sink_port_ = port_after(
        wait_for_text(dir.file("sink.err"), "serving", std::chrono::seconds(10)), "on port ");
    REQUIRE(sink_port_ > 0);
    for (std::size_t i = 0; i < yaml.size(); ++i) {
      const auto name = "agent" + std::to_string(i);
      std::ofstream(dir.file(name + ".yaml"))
          << "receivers:\n  udp:\n    endpoint: 127.0.0.1:0\n  ring:\n    directory: "
          << dir.file(name + "-ring") << "\n"
          << drop_ins_on_free_ports("") << "admin:\n  endpoint: 127.0.0.1:0\n"
          << "exporter:\n  endpoint: 127.0.0.1:" << sink_port_ << "\n  max_batch_delay: 50ms\n"
          << yaml[i];
      Agent a;
      a.process = std::make_unique<ChildProcess>(
          std::vector<std::string>{TAILGATE_AGENT_BIN, "--config", dir.file(name + ".yaml")},
          dir.file(name + ".out"), dir.file(name + ".err"), with_state(environment, name));
      const auto log =
          wait_for_text(dir.file(name + ".err"), "event=agent_ready", std::chrono::seconds(15));
      INFO(log);
      a.udp_port = port_after(log, "receiver=udp endpoint=127.0.0.1:");
      a.admin_port = port_after(log, "event=admin_listening endpoint=127.0.0.1:");
      REQUIRE(a.udp_port > 0);
      REQUIRE(a.admin_port > 0);
      agents.push_back(std::move(a));
    }
  }

  /// Each agent's default spool and state file in its own directory (as systemd would give it).
  [[nodiscard]] std::vector<std::string> with_state(std::vector<std::string> environment,
                                                    const std::string& name) const {
    environment.insert(environment.begin(), "STATE_DIRECTORY=" + dir.file(name + "-state"));
    return environment;
  }

  [[nodiscard]] std::string log(std::size_t i) const {
    return read_file(dir.file("agent" + std::to_string(i) + ".err"));
  }
  [[nodiscard]] std::string metrics(std::size_t i) const {
    return http_get(agents[i].admin_port, "/metrics").body;
  }
  [[nodiscard]] double metric(std::size_t i, const std::string& name,
                              const std::string& labels = "") const {
    return metric_value(metrics(i), name, labels);
  }

  /// SIGTERM agent `i` and wait for its clean exit; returns its log.
  std::string stop(std::size_t i) {
    agents[i].process->signal(SIGTERM);
    const auto status = agents[i].process->wait(std::chrono::seconds(30));
    INFO(log(i));
    REQUIRE(status == 0);
    return log(i);
  }

  /// The spans the sink has written so far.
  [[nodiscard]] std::vector<nlohmann::json> sink_spans() const {
    return sink_spans_in(dir.file("spans.jsonl"));
  }

  TempDir dir;
  std::vector<Agent> agents;

 private:
  std::unique_ptr<ChildProcess> sink_;
  int sink_port_ = 0;
};

}  // namespace tailgate::testing
