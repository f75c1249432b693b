// tailgate-load: sends trading-workflow traces to the agent, bounded in count and time, paced to a
// rate, and prints what it sent as one JSON line. Through the shared-memory ring by default (as a
// trading process does, with libtailgate), or to the UDP receiver with --target.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli_checks.hpp"
#include "tailgate/tailgate.hpp"
#include "wire/encode.hpp"
#include "wire/span_record.hpp"
#include "workflow.hpp"

namespace {

constexpr const char* kDescription =
    "tailgate-load: sends trading-workflow traces to the agent, bounded in count and time, "
    "paced to a rate, and prints what it sent as one JSON line. Through the shared-memory ring "
    "(as a trading process does, with libtailgate) unless --target or --fleet-targets say UDP. "
    "--spans-per-trace: benchmark traces of N spans with --attributes each instead of the "
    "trading workflow; --remote-parent: their roots are called from another process (as in a "
    "fleet of agents sharing keep decisions); --fleet-targets: each trace split over three "
    "processes, one agent's UDP receiver each (services strategy, gateway, risk; docs/fleet.md).";

constexpr const char* kFooter = R"(
Exit codes:
  0                 sent (what could not be sent is counted in the JSON line)
  1                 no ring segment or socket could be made
  2                 bad command line
)";

// A run must end, and its deadline must fit steady_clock's nanoseconds (about 292 years).
constexpr double kMaxRate = 1e9;
constexpr double kMinSeconds = 0.001, kMaxSeconds = 31'536'000;  // a year
constexpr std::uint64_t kMaxSpansPerTrace = 100'000;
// A benchmark span is encoded in an 8 KiB buffer; 128 is also the agent's default
// limits.max_attributes_per_span.
constexpr std::uint64_t kMaxAttributes = 128;

struct Args {
  std::string target, fleet_targets, ring_directory = "/dev/shm/tailgate",
                                     service = "tailgate-load";
  std::uint64_t traces = 1000, seed = std::random_device{}();
  double rate = 1000, max_seconds = 60;
  std::size_t datagram_bytes = 16384;
  tailgate::tools::WorkflowOptions workflow;
};

// An exit code when the program stops here (--help: 0; a bad command line: 2).
std::optional<int> parse(int argc, char** argv, Args& a) {
  CLI::App app(kDescription, "tailgate-load");
  app.footer(kFooter);
  // A flag given twice: the last one wins, as it did before CLI11 (scripts append overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  using tailgate::tools::count_in;
  using tailgate::tools::number_in;
  using tailgate::tools::PortZero;
  app.add_option("--target", a.target, "HOST:PORT: UDP datagrams to the agent's receiver")
      ->check(tailgate::tools::endpoints(PortZero::Refused));
  app.add_option("--fleet-targets", a.fleet_targets,
                 "HOST:PORT,HOST:PORT,HOST:PORT: one agent per process of a trace (wins)")
      ->check(tailgate::tools::endpoints(PortZero::Refused, true));
  app.add_option("--ring-directory", a.ring_directory,
                 "the agent's ring directory (when neither of the above)")
      ->capture_default_str();
  app.add_option("--traces", a.traces, "traces to send")
      ->capture_default_str()
      ->check(count_in(1, UINT64_MAX));
  app.add_option("--rate", a.rate, "traces per second (0: as fast as possible)")
      ->capture_default_str()
      ->check(number_in(0, kMaxRate));
  app.add_option("--max-seconds", a.max_seconds, "stop after this long")
      ->capture_default_str()
      ->check(number_in(kMinSeconds, kMaxSeconds));
  const auto fraction = number_in(0.0, 1.0);
  app.add_option("--error-fraction", a.workflow.error_fraction, "traces with an error")
      ->capture_default_str()
      ->check(fraction);
  app.add_option("--slow-fraction", a.workflow.slow_fraction, "slow traces")
      ->capture_default_str()
      ->check(fraction);
  app.add_option("--critical-fraction", a.workflow.critical_fraction, "critical (order) traces")
      ->capture_default_str()
      ->check(fraction);
  app.add_option("--seed", a.seed, "random seed (default: random)")->check(count_in(0, UINT64_MAX));
  app.add_option("--service", a.service, "service.name")->capture_default_str();
  app.add_option("--datagram-bytes", a.datagram_bytes, "UDP datagram size")
      ->capture_default_str()
      ->check(count_in(1024, tailgate::wire::kMaxRecordSize));
  app.add_option("--spans-per-trace", a.workflow.spans_per_trace,
                 "benchmark traces of N spans instead of the workflow (0: the workflow)")
      ->check(count_in(0, kMaxSpansPerTrace));
  app.add_option("--attributes", a.workflow.attributes, "attributes per benchmark span")
      ->capture_default_str()
      ->check(count_in(0, kMaxAttributes));
  app.add_flag("--remote-parent", a.workflow.remote_parent,
               "benchmark roots are called from another process");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

// Packs records into datagrams: a resource record first, then spans until the next one won't fit.
class DatagramSender {
 public:
  DatagramSender(int fd, const sockaddr_in& to, std::size_t max_bytes, std::string_view service)
      : fd_(fd), to_(to), buffer_(max_bytes) {
    const std::array<tailgate::wire::AttributeView, 3> resource{{
        {"service.name", service},
        {"service.version", std::string_view("0.1.0")},
        {"host.name", std::string_view("loadgen")},
    }};
    resource_size_ =
        tailgate::wire::align_record(tailgate::wire::encode_resource(buffer_, resource));
    used_ = resource_size_;
  }
  void add(std::span<const std::byte> record) {
    if (used_ + record.size() > buffer_.size()) flush();
    std::memcpy(buffer_.data() + used_, record.data(), record.size());
    used_ += tailgate::wire::align_record(record.size());
    ++spans_in_datagram_;
  }
  void flush() {
    if (spans_in_datagram_ == 0) return;
    const auto n = ::sendto(fd_, buffer_.data(), std::min(used_, buffer_.size()), 0,
                            reinterpret_cast<const sockaddr*>(&to_), sizeof to_);
    if (n < 0) {
      ++send_errors;
      spans_failed += spans_in_datagram_;
    }
    ++datagrams;
    used_ = resource_size_;
    spans_in_datagram_ = 0;
  }
  std::uint64_t datagrams = 0, send_errors = 0, spans_failed = 0;

 private:
  int fd_;
  sockaddr_in to_;
  std::vector<std::byte> buffer_;
  std::size_t resource_size_ = 0, used_ = 0, spans_in_datagram_ = 0;
};

// host:port; the host may be a name (a compose service) or an IPv4 literal.
bool resolve(const std::string& target, sockaddr_in& to) {
  const auto colon = target.rfind(':');
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (colon == std::string::npos ||
      ::getaddrinfo(target.substr(0, colon).c_str(), target.substr(colon + 1).c_str(), &hints,
                    &found) != 0) {
    return false;
  }
  std::memcpy(&to, found->ai_addr, sizeof to);
  ::freeaddrinfo(found);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (const auto exit_code = parse(argc, argv, args)) return *exit_code;
  auto& [target, fleet_targets, ring_directory, service, traces, seed, rate, max_seconds,
         datagram_bytes, workflow] = args;
  workflow.seed = seed;

  // Where the spans go: a UDP socket (--target), or this process's ring segment.
  std::unique_ptr<DatagramSender> udp;
  std::unique_ptr<tailgate::Tracer> ring;
  std::uint64_t ring_accepted = 0;
  int fd = -1;
  // --fleet-targets: one sender per process of the trace (part), each to its own agent.
  std::vector<std::unique_ptr<DatagramSender>> fleet;
  if (!fleet_targets.empty()) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::perror("tailgate-load: socket"), 1;
    constexpr std::array<std::string_view, 3> kParts = {"strategy", "gateway", "risk"};
    static_assert(kParts.size() == tailgate::tools::WorkflowGenerator::kFleetParts);
    std::string_view rest = fleet_targets;
    for (const auto part : kParts) {
      const auto comma = rest.find(',');
      sockaddr_in to{};
      if (rest.empty() || !resolve(std::string(rest.substr(0, comma)), to)) {
        return std::fprintf(stderr, "tailgate-load: --fleet-targets needs 3 HOST:PORT\n"), 2;
      }
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      fleet.push_back(std::make_unique<DatagramSender>(fd, to, datagram_bytes, part));
    }
  } else if (!target.empty()) {
    sockaddr_in to{};
    if (!resolve(target, to)) {
      return std::fprintf(stderr, "tailgate-load: cannot resolve --target %s\n", target.c_str()), 2;
    }
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::perror("tailgate-load: socket"), 1;
    udp = std::make_unique<DatagramSender>(fd, to, datagram_bytes, service);
  } else {
    ring = std::make_unique<tailgate::Tracer>(tailgate::TracerOptions{
        .service_name = service, .service_version = "0.1.0", .directory = ring_directory});
    if (!ring->error().empty()) {
      return std::fprintf(stderr, "tailgate-load: %s\n", ring->error().c_str()), 1;
    }
  }
  const auto emit = [&](std::span<const std::byte> record) {
    if (udp) {
      udp->add(record);
    } else {
      ring_accepted += ring->emit(record) ? 1 : 0;
    }
  };
  tailgate::tools::WorkflowGenerator generator(workflow);
  std::uint64_t sent_traces = 0, spans = 0, errors = 0, slow = 0, slow_only = 0, critical = 0;
  const auto begin = std::chrono::steady_clock::now();
  const auto stop_at = begin + std::chrono::duration<double>(max_seconds);
  for (; sent_traces < traces; ++sent_traces) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= stop_at) break;
    if (rate > 0) {
      const auto due =
          begin + std::chrono::duration<double>(static_cast<double>(sent_traces) / rate);
      if (due > now) {
        if (udp) udp->flush();  // don't hold spans back while we wait
        for (auto& f : fleet) f->flush();
        std::this_thread::sleep_until(due);
      }
    }
    const auto unix_ns =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    const auto t = fleet.empty()
                       ? generator.next_trace(unix_ns, emit)
                       : generator.fleet_trace(unix_ns, [&](std::size_t part, auto record) {
                           fleet[part]->add(record);
                         });
    spans += t.spans;
    errors += t.error;
    slow += t.slow;
    slow_only += t.slow && !t.error;
    critical += t.critical;
  }
  std::uint64_t not_sent = 0, datagrams = 0, send_errors = 0;
  if (!fleet.empty()) {
    for (auto& f : fleet) {
      f->flush();
      not_sent += f->spans_failed;
      datagrams += f->datagrams;
      send_errors += f->send_errors;
    }
    ::close(fd);
  } else if (udp) {
    udp->flush();
    ::close(fd);
    not_sent = udp->spans_failed;
    datagrams = udp->datagrams;
    send_errors = udp->send_errors;
  } else {
    not_sent = spans - ring_accepted;  // lanes full: dropped and counted by the producer
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  const auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "{\"transport\":\"%s\",\"traces_sent\":%llu,\"spans_sent\":%llu,\"error_traces\":%llu,"
      "\"slow_traces\":%llu,\"slow_only_traces\":%llu,\"critical_traces\":%llu,"
      "\"datagrams\":%llu,\"send_errors\":%llu,\"spans_not_sent\":%llu,\"seconds\":%.3f}\n",
      !fleet.empty() ? "fleet"
      : udp          ? "udp"
                     : "ring",
      u(sent_traces), u(spans - not_sent), u(errors), u(slow), u(slow_only), u(critical),
      u(datagrams), u(send_errors), u(not_sent), seconds);
  return 0;
}
