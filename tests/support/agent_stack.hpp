#pragma once
// A real tailgate-sink process and a real agent process pointed at it, on 127.0.0.1 with ports the
// kernel picks (discovered from their logs), in a temporary directory. For integration tests.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/sink_spans.hpp"

namespace tailgate::testing {

inline int port_after(const std::string& text, const std::string& prefix) {
  std::smatch m;
  const std::regex re(prefix + "([0-9]+)");
  return std::regex_search(text, m, re) ? std::stoi(m[1]) : 0;
}

/// The drop-in receivers are on by default at the clients' fixed ports (6831, 6832, 4317, 4318,
/// 5778); tests run side by side move them to ports the kernel picks. As flow-style entries of
/// `receivers: {...}`, and as block-style lines for those `receivers_yaml` does not set itself.
inline constexpr const char* kDropInsOnFreePorts =
    "jaeger_compact: {endpoint: \"127.0.0.1:0\"}, jaeger_binary: {endpoint: \"127.0.0.1:0\"}, "
    "otlp_grpc: {endpoint: \"127.0.0.1:0\"}, otlp_http: {endpoint: \"127.0.0.1:0\"}, "
    "jaeger_sampling: {endpoint: \"127.0.0.1:0\"}";
inline std::string drop_ins_on_free_ports(const std::string& receivers_yaml) {
  std::string out;
  for (const std::string name :
       {"jaeger_compact", "jaeger_binary", "otlp_grpc", "otlp_http", "jaeger_sampling"}) {
    if (receivers_yaml.find("  " + name + ":") == std::string::npos)
      out += "  " + name + ":\n    endpoint: 127.0.0.1:0\n";
  }
  return out;
}

struct AgentStack {
  TempDir dir;
  std::unique_ptr<ChildProcess> sink;
  std::unique_ptr<ChildProcess> agent;
  int sink_port = 0;
  int udp_port = 0;
  int admin_port = 0;
  std::string exporter_yaml_;
  std::string receivers_yaml_;
  int runs_ = 0;
  std::string admin_yaml_;

  /// `extra_yaml` (other top-level sections) is appended to a config that sets the UDP endpoint
  /// and the exporter endpoint; `exporter_yaml` holds more exporter keys, indented two spaces,
  /// `receivers_yaml` more receivers (otlp_http: ...) and `admin_yaml` more admin keys, likewise.
  explicit AgentStack(const std::string& extra_yaml, const std::string& exporter_yaml = "",
                      const std::string& receivers_yaml = "", const std::string& admin_yaml = "")
      : exporter_yaml_(exporter_yaml), receivers_yaml_(receivers_yaml), admin_yaml_(admin_yaml) {
    // The agent's default spool and state file go to this test's directory (as systemd's
    // StateDirectory= would set it), not to ~/.local/state shared by every test; inherited by
    // every agent this test starts on this stack's config.
    ::setenv("STATE_DIRECTORY", state_directory().c_str(), 1);
    sink = std::make_unique<ChildProcess>(
        std::vector<std::string>{TAILGATE_SINK_BIN, "--listen", "127.0.0.1:0", "--jsonl",
                                 dir.file("spans.jsonl")},
        dir.file("sink.out"), dir.file("sink.err"));
    sink_port = port_after(wait_for_text(dir.file("sink.err"), "serving", std::chrono::seconds(10)),
                           "on port ");
    REQUIRE(sink_port > 0);
    write_config(extra_yaml);
    launch_agent();
  }

  ~AgentStack() { ::unsetenv("STATE_DIRECTORY"); }
  AgentStack(const AgentStack&) = delete;
  AgentStack& operator=(const AgentStack&) = delete;

  /// Where the agent's default spool (<it>/spool) and tailgate.state go.
  [[nodiscard]] std::string state_directory() const { return dir.file("state"); }

  /// Starts the agent on config_path() and waits until it is ready; reads its ports.
  void launch_agent() {
    agent = std::make_unique<ChildProcess>(
        std::vector<std::string>{TAILGATE_AGENT_BIN, "--config", config_path()},
        dir.file("agent.out"), dir.file("agent.err"));
    const auto log =
        wait_for_text(dir.file("agent.err"), "event=agent_ready", std::chrono::seconds(10));
    INFO(log);
    udp_port = port_after(log, "receiver=udp endpoint=127.0.0.1:");
    admin_port = port_after(log, "event=admin_listening endpoint=127.0.0.1:");
    REQUIRE(udp_port > 0);
    REQUIRE(admin_port > 0);
  }

  /// SIGKILL: the agent gets no chance to shut down, as in an OOM kill.
  void kill_agent() {
    agent->signal(SIGKILL);
    REQUIRE(agent->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
  }

  /// Starts the agent again on the same config and directories; the stopped run's log is kept as
  /// agent-<n>.err, and agent_log() reads the new one. The ports may change (the config has 0).
  void restart_agent() {
    REQUIRE_FALSE(agent->running());
    std::rename(dir.file("agent.err").c_str(),
                dir.file("agent-" + std::to_string(++runs_) + ".err").c_str());
    launch_agent();
  }

  /// The backend goes away: a clean stop, requests in progress answered first.
  void stop_sink() {
    sink->signal(SIGTERM);
    REQUIRE(sink->wait(std::chrono::seconds(10)) == 0);
  }
  /// The backend comes back on the same port, recording into spans-<tag>.jsonl.
  void restart_sink(const std::string& tag) {
    sink = std::make_unique<ChildProcess>(
        std::vector<std::string>{TAILGATE_SINK_BIN, "--listen",
                                 "127.0.0.1:" + std::to_string(sink_port), "--jsonl",
                                 dir.file("spans-" + tag + ".jsonl")},
        dir.file("sink-" + tag + ".out"), dir.file("sink-" + tag + ".err"));
    REQUIRE(wait_for_text(dir.file("sink-" + tag + ".err"), "serving", std::chrono::seconds(10))
                .find("serving") != std::string::npos);
  }

  [[nodiscard]] std::string config_path() const { return dir.file("tailgate.yaml"); }
  [[nodiscard]] std::string ring_directory() const { return dir.file("ring"); }
  void write_config(const std::string& extra_yaml) const {
    std::ofstream(config_path()) << "receivers:\n  udp:\n    endpoint: 127.0.0.1:"
                                 << (udp_port > 0 ? udp_port : 0) << "\n"
                                 << "  ring:\n    directory: " << ring_directory()
                                 << "\n    scan_interval: 50ms\n"
                                 << "    stalled_write_timeout: 300ms\n"
                                 << receivers_yaml_ << drop_ins_on_free_ports(receivers_yaml_)
                                 << "admin:\n  endpoint: 127.0.0.1:"
                                 << (admin_port > 0 ? admin_port : 0)
                                 << "\n  export_failing_after: 500ms\n"
                                 << admin_yaml_ << "exporter:\n  endpoint: 127.0.0.1:" << sink_port
                                 << "\n  max_batch_delay: 50ms\n"
                                 << exporter_yaml_ << extra_yaml;
  }
  [[nodiscard]] std::string agent_log() const { return read_file(dir.file("agent.err")); }

  /// SIGTERM the agent and wait for its clean exit; returns the log.
  std::string stop_agent() {
    agent->signal(SIGTERM);
    const auto status = agent->wait(std::chrono::seconds(30));
    INFO(agent_log());
    REQUIRE(status == 0);
    return agent_log();
  }

  /// The agent's peak resident memory so far (VmHWM), in bytes.
  [[nodiscard]] std::size_t agent_peak_rss() const {
    const auto status = read_file("/proc/" + std::to_string(agent->pid()) + "/status");
    return static_cast<std::size_t>(port_after(status, "VmHWM:\\s+")) * 1024;
  }

  /// The spans the sink has written so far.
  [[nodiscard]] std::vector<nlohmann::json> sink_spans() const {
    return sink_spans_in(dir.file("spans.jsonl"));
  }
};

/// The key=value fields of the agent's last `event=<event>` line.
inline std::map<std::string, std::string> log_fields(const std::string& log,
                                                     const std::string& event) {
  std::map<std::string, std::string> fields;
  const auto at = log.rfind("event=" + event + " ");
  if (at == std::string::npos) return fields;
  const auto end = log.find('\n', at);
  std::istringstream line(log.substr(at, end - at));
  for (std::string kv; line >> kv;) {
    const auto eq = kv.find('=');
    if (eq != std::string::npos) fields[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return fields;
}

}  // namespace tailgate::testing
