#include "telemetry/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace tailgate::telemetry {
namespace {

#if defined(__clang__)
constexpr const char* kCompiler = "clang " __clang_version__;
#else
constexpr const char* kCompiler = "gcc " __VERSION__;
#endif

struct ProcStat {
  double cpu_seconds = 0;
  double start_ticks = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

// /proc/self/stat (proc(5)): the command name, in parentheses, may hold spaces and ')', so the
// fields are counted from the last ')'. After it come field 3 (state) onwards.
std::optional<ProcStat> read_stat() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 1));
  std::vector<std::string> f;
  for (std::string v; fields >> v;) f.push_back(v);
  if (f.size() < 22) return std::nullopt;
  // Field n (1-based, as proc(5) numbers them) is f[n - 3].
  const auto field = [&](std::size_t n) { return std::stod(f[n - 3]); };
  const auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  return ProcStat{(field(14) + field(15)) / ticks, field(22) / ticks, field(23), field(24) * page};
}

// The boot time (seconds since the epoch): process start times in /proc are relative to it.
std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("btime ")) return std::stod(line.substr(6));
  }
  return std::nullopt;
}

std::optional<double> open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  if (ec) return std::nullopt;
  return n;
}

}  // namespace

std::string_view build_version() noexcept {
  return TAILGATE_VERSION;
}

void process_metrics(Exposition& w) {
  try {
    if (const auto s = read_stat()) {
      w.family("process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
      w.sample("process_cpu_seconds_total", "", s->cpu_seconds);
      w.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", s->resident_bytes);
      w.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", s->virtual_bytes);
      if (const auto boot = boot_time()) {
        w.gauge("process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.", *boot + s->start_ticks);
      }
    }
  } catch (const std::exception&) {
    // An unreadable /proc (a hardened sandbox) costs these families, never the scrape.
  }
  if (const auto fds = open_fds()) {
    w.gauge("process_open_fds", "Number of open file descriptors.", *fds);
  }
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    w.gauge("process_max_fds", "Maximum number of open file descriptors.",
            static_cast<double>(limit.rlim_cur));
  }
  w.family("tailgate_build_info", "gauge",
           "Always 1; the labels say which build of the agent is running.");
  w.sample("tailgate_build_info",
           fmt::format("version=\"{}\",build_type=\"{}\",compiler=\"{}\"",
                       escape_label_value(TAILGATE_VERSION),
                       escape_label_value(TAILGATE_BUILD_TYPE), escape_label_value(kCompiler)),
           1);
}

}  // namespace tailgate::telemetry
