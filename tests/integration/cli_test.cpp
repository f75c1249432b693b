// The tailgate binary's command line, as an operator meets it.
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/agent_stack.hpp"
#include "support/child_process.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using tailgate::testing::ChildProcess;

namespace {
struct Run {
  int code;
  std::string out;
  std::string err;
};

// Runs a program (the agent unless args[0] is an absolute path) and collects its exit code and
// output.
Run run(std::vector<std::string> args) {
  tailgate::testing::TempDir dir;
  if (args.empty() || !args[0].starts_with('/')) args.insert(args.begin(), TAILGATE_AGENT_BIN);
  ChildProcess p(args, dir.file("out"), dir.file("err"));
  const auto code = p.wait(20s);
  REQUIRE(code.has_value());
  return {*code, tailgate::testing::read_file(dir.file("out")),
          tailgate::testing::read_file(dir.file("err"))};
}
// The flags a program's --help lists (CLI11's layout: "  -c,--config TEXT  why"), each with a
// value of its type when it takes one.
std::vector<std::vector<std::string>> listed_flags(const std::string& help) {
  static const std::regex line(R"(^\s+(?:-\w,)?(--[a-z][a-z-]*)(?: (TEXT|INT|UINT|FLOAT)\b)?)");
  std::vector<std::vector<std::string>> flags;
  std::istringstream in(help);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (!std::regex_search(l, m, line) || m[1] == "--help") continue;
    // A value the flag's check takes: an endpoint, the lower bound of a range, or any.
    static const std::regex lowest(R"( in \[([0-9.]+) - )");
    std::smatch bound;
    if (!m[2].matched)
      flags.push_back({m[1]});
    else if (l.find(":HOST:PORT") != std::string::npos)
      flags.push_back({m[1], "127.0.0.1:9"});
    else if (std::regex_search(l, bound, lowest))
      flags.push_back({m[1], bound[1]});
    else
      flags.push_back({m[1], m[2] == "TEXT" ? "a=b" : m[2] == "FLOAT" ? "0.5" : "2000"});
  }
  return flags;
}

// `--help` lists only flags the program then accepts (tailgate-sink listed five it refused).
void every_listed_flag_is_accepted(const std::string& program, std::size_t at_least) {
  const auto help = run({program, "--help"});
  INFO(help.out);
  REQUIRE(help.code == 0);
  const auto flags = listed_flags(help.out);
  CHECK(flags.size() >= at_least);
  for (auto args : flags) {
    args.insert(args.begin(), program);
    args.push_back("--help");  // parsed, then help instead of running
    const auto r = run(args);
    INFO(args[1] << ": " << r.err);
    CHECK(r.code == 0);
  }
}

}  // namespace

TEST_CASE("every flag --help lists is accepted, by all three programs", "[integration]") {
  every_listed_flag_is_accepted(TAILGATE_AGENT_BIN, 3);
  every_listed_flag_is_accepted(TAILGATE_SINK_BIN, 11);
  every_listed_flag_is_accepted(TAILGATE_LOAD_BIN, 15);
}

TEST_CASE("help tells the environment variables, signals and exit codes", "[integration]") {
  const auto agent = run({"--help"});
  CHECK(agent.code == 0);
  CHECK_THAT(agent.out, Contains("OTEL_EXPORTER_OTLP_ENDPOINT") &&
                            Contains("OTEL_EXPORTER_OTLP_TRACES_") && Contains("SIGHUP") &&
                            Contains("SIGTERM") && Contains("Exit codes:") && Contains("explain"));
  CHECK_THAT(run({TAILGATE_SINK_BIN, "--help"}).out,
             Contains("SIGTERM") && Contains("Exit codes:"));
  CHECK_THAT(run({TAILGATE_LOAD_BIN, "--help"}).out, Contains("Exit codes:"));
  CHECK_THAT(run({"explain", "--help"}).out, Contains("--admin") && Contains("TRACE_ID"));
}

TEST_CASE("flags take --flag=value as --flag value, and a bad value is a usage error",
          "[integration]") {
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger-collector.invalid:4317", 1);
  const auto r = run({"--config=" TAILGATE_SHIPPED_CONFIG, "--validate"});
  ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("valid"));
  // A bad value is a usage error (2), not a crash: tailgate-load threw on "--traces x".
  CHECK(run({TAILGATE_LOAD_BIN, "--traces=x"}).code == 2);
  CHECK(run({TAILGATE_LOAD_BIN, "--error-fraction", "1.5"}).code == 2);
  CHECK(run({TAILGATE_SINK_BIN, "--fail-for-ms=soon"}).code == 2);
  CHECK(run({TAILGATE_SINK_BIN, "--tls-cert", "/dev/null"}).code == 2);  // and its key?
  CHECK(run({"explain"}).code == 2);                                     // which trace?
}

// Each was taken: a negative count wrapped to 2^64 (strtoull), nan and inf passed CLI11's range
// check, a port past 65535 was bound modulo 65536, and nan or inf seconds made the deadline
// undefined.
TEST_CASE(
    "tailgate-load and tailgate-sink refuse negative, zero, nan and inf numbers and bad "
    "ports with exit 2, naming the flag",
    "[integration]") {
  const std::vector<std::vector<std::string>> load_cases = {
      {"--traces", "-5"},
      {"--traces", "0"},
      {"--rate", "-1"},
      {"--rate", "nan"},
      {"--rate", "inf"},
      {"--max-seconds", "0"},
      {"--max-seconds", "-1"},
      {"--max-seconds", "nan"},
      {"--max-seconds", "inf"},
      {"--error-fraction", "nan"},
      {"--slow-fraction", "-0.1"},
      {"--critical-fraction", "inf"},
      {"--attributes", "-1"},
      {"--spans-per-trace", "-1"},
      {"--datagram-bytes", "-1"},
      {"--seed", "-1"},
      {"--target", "127.0.0.1:99999"},
      {"--target", "127.0.0.1:0"},
      {"--target", "127.0.0.1"},
      {"--fleet-targets", "127.0.0.1:1,127.0.0.1:70000,127.0.0.1:3"},
  };
  for (const auto& c : load_cases) {
    // Bounded where the old program took the value: a few traces to a closed port, one second.
    std::vector<std::string> args = {TAILGATE_LOAD_BIN, "--target", "127.0.0.1:9", "--traces", "20",
                                     "--max-seconds",   "1"};
    args.insert(args.end(), c.begin(), c.end());
    const auto r = run(args);
    INFO(c[0] << " " << c[1] << ": " << r.out << r.err);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains(c[0] + ": expected"));
  }
  for (const auto& c : {std::vector<std::string>{"--listen", "127.0.0.1:99999"},
                        {"--listen", "4317"},
                        {"--listen", "127.0.0.1:-1"},
                        {"--fail-for-ms", "-5"},
                        {"--throttle-for-ms", "-1"}}) {
    std::vector<std::string> args = {TAILGATE_SINK_BIN};
    args.insert(args.end(), c.begin(), c.end());
    const auto r = run(args);
    INFO(c[0] << " " << c[1] << ": " << r.err);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains(c[0] + ": expected"));
  }
}

// The old agent read /dev/zero and a FIFO for ever (and took a directory for an empty file).
TEST_CASE(
    "a config that is not a regular file or is over 1 MiB is refused with exit 2, at "
    "start-up and by --validate",
    "[integration]") {
  tailgate::testing::TempDir dir;
  REQUIRE(::mkfifo(dir.file("fifo.yaml").c_str(), 0600) == 0);
  {
    std::ofstream big(dir.file("big.yaml"));
    big << "log: {level: info}\n";
    for (int i = 0; i < 25000; ++i) big << "# a comment line of about sixty bytes, many of them\n";
  }
  std::ofstream(dir.file("password.yaml"))
      << "peers: {password_file: \"" << dir.file("fifo.yaml") << "\"}\n";
  const struct Case {
    std::string path, says;
  } cases[] = {{"/dev/zero", "not a regular file"},
               {dir.file("fifo.yaml"), "not a regular file"},
               {dir.file(""), "not a regular file"},
               {dir.file("big.yaml"), "larger than 1048576 bytes"},
               {dir.file("password.yaml"), "peers.password_file: cannot read"}};
  for (const auto& c : cases) {
    for (const bool validate : {true, false}) {
      std::vector<std::string> args = {"--config", c.path};
      if (validate) args.emplace_back("--validate");
      const auto r = run(args);
      INFO(c.path << (validate ? " --validate: " : ": ") << r.err);
      CHECK(r.code == 2);
      CHECK_THAT(r.err, Contains(c.path) && Contains(c.says));
    }
  }
}

TEST_CASE("validate accepts the shipped config plus an exporter endpoint and exits 0",
          "[integration]") {
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger-collector.invalid:4317", 1);
  const auto r = run({"--validate", "--config", TAILGATE_SHIPPED_CONFIG});
  ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("valid"));
}

TEST_CASE("validate rejects a bad file with exit 2, naming file, line and key", "[integration]") {
  const std::string bad = TAILGATE_CONFIG_TESTDATA "/bad_duration.yaml";
  const auto r = run({"--validate", "--config", bad});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains(bad + ":3: exporter.timeout:") && Contains("\"fast\""));
}

TEST_CASE("without --config the OpenTelemetry variables still apply and are checked",
          "[integration]") {
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://no-port-here", 1);
  const auto r = run({"--validate"});
  ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  CHECK(r.code == 2);  // the old agent ignored the variable without a file and said "valid"
  CHECK_THAT(r.err, Contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger-collector.invalid:4317", 1);
  const auto set = run({"--validate"});
  ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  CHECK(set.code == 0);
}

// Each used to pass --validate ("valid") and then fail at start-up, or (unset) export to
// localhost:4317, which is now the agent's own OTLP receiver.
TEST_CASE("validate runs the start-up checks: an unset exporter, an export loop", "[integration]") {
  const auto unset = run({"--validate", "--config", TAILGATE_SHIPPED_CONFIG});
  CHECK(unset.code == 2);
  CHECK_THAT(unset.err,
             Contains(std::string(TAILGATE_SHIPPED_CONFIG) + ": exporter.endpoint: not set") &&
                 Contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
  tailgate::testing::TempDir dir;
  std::ofstream(dir.file("loop.yaml"))
      << "exporter: {endpoint: \"http://localhost:4317\"}\n"
      << "receivers: {otlp_grpc: {endpoint: \"127.0.0.1:4317\"}}\n";
  const auto validate = run({"--validate", "--config", dir.file("loop.yaml")});
  CHECK(validate.code == 2);
  CHECK_THAT(validate.err, Contains("loop.yaml: exporter.endpoint: localhost:4317 is this agent's "
                                    "own receivers.otlp_grpc.endpoint 127.0.0.1:4317"));
  // Start-up refuses it the same way, before binding anything.
  const auto start = run({"--config", dir.file("loop.yaml")});
  CHECK(start.code == 2);
  CHECK(start.err == validate.err);
}

TEST_CASE("a missing config file and an unknown flag exit 2", "[integration]") {
  CHECK(run({"--config", "/nonexistent.yaml"}).code == 2);
  const auto r = run({"--frobnicate"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("usage:"));
}

TEST_CASE("the version and help flags exit 0", "[integration]") {
  CHECK_THAT(run({"--version"}).out, Contains("tailgate "));
  CHECK_THAT(run({"--help"}).out, Contains("--validate"));
}

TEST_CASE("a port already taken fails start-up with exit 1 and names the endpoint",
          "[integration]") {
  tailgate::testing::TempDir dir;
  // Bind a UDP port, then ask the agent for the same one.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const auto endpoint = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  std::ofstream(dir.file("t.yaml"))
      << "receivers: {udp: {endpoint: \"" << endpoint << "\"}, ring: {enabled: false}, "
      << tailgate::testing::kDropInsOnFreePorts << "}\n"
      << "exporter: {endpoint: \"127.0.0.1:1\"}\n"
      << "admin: {enabled: false}\n";  // only the UDP port matters
  const auto r = run({"--config", dir.file("t.yaml")});
  ::close(fd);
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("event=startup_failed") && Contains(endpoint));
}

TEST_CASE(
    "receivers.ring.group sets the ring directory's group, and a missing group stops start-up",
    "[integration]") {
  tailgate::testing::TempDir dir;
  std::ofstream(dir.file("nogroup.yaml"))
      << "receivers: {udp: {enabled: false}, ring: {directory: \"" << dir.file("ring1")
      << "\", group: no-such-group-tailgate}, " << tailgate::testing::kDropInsOnFreePorts
      << "}\nadmin: {enabled: false}\nexporter: {endpoint: \"127.0.0.1:1\"}\n";
  const auto missing = run({"--config", dir.file("nogroup.yaml")});
  CHECK(missing.code == 1);
  CHECK_THAT(missing.err, Contains("receivers.ring.group: no group named no-such-group-tailgate"));

  // The group of this test's own process: one it may set.
  const group* own = ::getgrgid(::getegid());
  REQUIRE(own != nullptr);
  std::ofstream(dir.file("group.yaml"))
      << "receivers: {udp: {enabled: false}, ring: {directory: \"" << dir.file("ring2")
      << "\", group: " << own->gr_name << "}, " << tailgate::testing::kDropInsOnFreePorts
      << "}\nadmin: {enabled: false}\nexporter: {endpoint: \"127.0.0.1:1\"}\n";
  ChildProcess agent({TAILGATE_AGENT_BIN, "--config", dir.file("group.yaml")}, dir.file("out"),
                     dir.file("err"));
  tailgate::testing::wait_for_text(dir.file("err"), "event=agent_ready", 10s);
  struct stat st {};
  REQUIRE(::stat(dir.file("ring2").c_str(), &st) == 0);
  CHECK(st.st_gid == own->gr_gid);
  CHECK((st.st_mode & 07777) == 02770);
  agent.signal(SIGTERM);
  CHECK(agent.wait(20s) == 0);
}

TEST_CASE("log.format json writes one JSON object per line with fields of their own",
          "[integration]") {
  tailgate::testing::TempDir dir;
  std::ofstream(dir.file("json.yaml"))
      << "receivers: {udp: {endpoint: \"127.0.0.1:0\"}, ring: {enabled: false}, "
      << tailgate::testing::kDropInsOnFreePorts << "}\n"
      << "admin: {enabled: false}\nlog: {format: json}\n"
      << "exporter: {endpoint: \"127.0.0.1:9\"}\n";  // nothing is kept: never dialled
  ChildProcess agent({TAILGATE_AGENT_BIN, "--config", dir.file("json.yaml")}, dir.file("out"),
                     dir.file("err"));
  tailgate::testing::wait_for_text(dir.file("err"), "\"event\":\"agent_ready\"", 10s);
  agent.signal(SIGTERM);
  CHECK(agent.wait(20s) == 0);
  const auto text = tailgate::testing::read_file(dir.file("err"));
  INFO(text);
  std::istringstream lines(text);
  std::size_t n = 0;
  bool bound = false;
  for (std::string line; std::getline(lines, line); ++n) {
    const auto j = nlohmann::json::parse(line);  // every line is one JSON object
    const std::string time = j.at("time"), level = j.at("level");
    CHECK(time.back() == 'Z');  // UTC, RFC 3339
    CHECK((level == "info" || level == "warn" || level == "error" || level == "debug"));
    CHECK(j.contains("event"));
    CHECK_FALSE(j.contains("msg"));
    if (j["event"] == "receiver_bound" && j["receiver"] == "udp") {
      bound = true;
      CHECK(std::string(j["endpoint"]).starts_with("127.0.0.1:"));
    }
  }
  CHECK(n >= 3);
  CHECK(bound);
}
