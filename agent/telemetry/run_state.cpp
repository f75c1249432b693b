#include "telemetry/run_state.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include <spdlog/spdlog.h>

#include "telemetry/log_escape.hpp"

namespace tailgate::telemetry {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFirstLine = "tailgate-state 1\n";
constexpr std::uintmax_t kMaxFileBytes = 4096;  // ours is ~250 bytes: anything bigger is not ours
constexpr const char* kKeys[] = {"pid",       "started",  "written",     "clean",   "received",
                                 "recovered", "exported", "sampled_out", "dropped", "spooled"};

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string utc(std::uint64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::uint32_t checksum(std::string_view text) {
  return static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size())));
}

template <typename T>
bool parse_number(std::string_view text, T& out, int base = 10) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
}

// The fields of a whole, intact state file; nullopt for a torn, damaged or foreign one.
std::optional<std::map<std::string, std::uint64_t>> parse(std::string_view text) {
  const auto at = text.rfind("crc=");
  if (at == std::string_view::npos || !text.ends_with('\n')) return std::nullopt;
  const auto body = text.substr(0, at);
  std::uint32_t crc = 0;
  if (!parse_number(text.substr(at + 4, text.size() - at - 5), crc, 16) || crc != checksum(body) ||
      !body.starts_with(kFirstLine)) {
    return std::nullopt;
  }
  std::map<std::string, std::uint64_t> fields;
  std::istringstream lines{std::string(body.substr(kFirstLine.size()))};
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find('=');
    std::uint64_t value = 0;
    if (eq == std::string::npos || !parse_number(std::string_view(line).substr(eq + 1), value)) {
      return std::nullopt;
    }
    fields[line.substr(0, eq)] = value;
  }
  for (const char* key : kKeys) {
    if (!fields.contains(key)) return std::nullopt;
  }
  return fields;
}

bool add(std::uint64_t& total, std::uint64_t v) {
  return !__builtin_add_overflow(total, v, &total);
}

}  // namespace

std::uint64_t RunSnapshot::in_flight() const noexcept {
  // Saturating: the values come from a file, and a damaged one must not claim 2^64 lost spans.
  std::uint64_t in = 0, out = 0;
  if (!add(in, received) || !add(in, recovered)) return 0;
  for (const auto v : {exported, sampled_out, dropped, spooled}) {
    if (!add(out, v)) return 0;
  }
  return in > out ? in - out : 0;
}

RunSnapshot snapshot_of(const Counters& c) noexcept {
  // Where spans end up before where they come from, received last: a span that moves on between
  // the reads is counted in flight rather than missed, and one the spool hands to the backend
  // (or drops) between them is not subtracted twice.
  RunSnapshot s;
  s.exported = c.spans_exported.load(std::memory_order_relaxed);
  s.dropped = c.dropped_after_decode();
  s.sampled_out = c.spans_sampled_out.load(std::memory_order_relaxed);
  s.spooled = c.spool_spans.load(std::memory_order_relaxed);
  s.recovered = c.spool_spans_recovered.load(std::memory_order_relaxed);
  s.received = c.received();
  return s;
}

RunState::RunState(std::string directory)
    : directory_(std::move(directory)),
      path_(directory_.empty() ? "" : directory_ + "/tailgate.state"),
      pid_(static_cast<long>(::getpid())),
      started_unix_(now_unix()) {}

RunState::Previous RunState::open(Counters& counters) {
  if (directory_.empty()) {
    spdlog::warn(
        "event=crash_accounting_off reason=\"no usable state directory\" "
        "effect=\"spans lost to a crash (kill -9, OOM kill) "
        "are not counted\"");
    return Previous::None;
  }
  std::error_code ec;
  fs::create_directories(directory_, ec);
  if (ec) throw std::runtime_error("state directory " + directory_ + ": " + ec.message());
  auto previous = Previous::None;
  if (fs::exists(path_, ec)) {
    std::string text;
    if (fs::file_size(path_, ec) <= kMaxFileBytes && !ec) {
      std::ifstream in(path_, std::ios::binary);
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const auto fields = parse(text);
    if (!fields) {
      previous = Previous::Torn;
      counters.state_files_torn.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn(
          "event=state_file_torn file={} action=ignored effect=\"whether the last run stopped "
          "cleanly, and what it lost, is unknown\"",
          path_);
    } else if (fields->at("clean") == 1) {
      previous = Previous::Clean;
    } else {
      previous = Previous::Unclean;
      const RunSnapshot s{fields->at("received"), fields->at("recovered"),
                          fields->at("exported"), fields->at("sampled_out"),
                          fields->at("dropped"),  fields->at("spooled")};
      const auto lost = s.in_flight();
      counters.unclean_stops.fetch_add(1, std::memory_order_relaxed);
      counters.spans_lost_in_crash.fetch_add(lost, std::memory_order_relaxed);
      spdlog::error(
          "event=unclean_stop_detected lost_spans={} since={} previous_pid={} previous_start={} "
          "received={} exported={} sampled_out={} dropped={} spooled={} note=\"spans in memory "
          "at the last snapshot; ring segments and the spool keep theirs\"",
          lost, utc(fields->at("written")), fields->at("pid"), utc(fields->at("started")),
          s.received + s.recovered, s.exported, s.sampled_out, s.dropped, s.spooled);
    }
  }
  save(counters, false);  // this run has begun: until its clean end, a stop is a crash
  if (write_failed_) throw std::runtime_error("state file " + path_ + ": cannot be written");
  return previous;
}

std::string RunState::render(const RunSnapshot& s, bool clean) const {
  auto body = fmt::format(
      "{}pid={}\nstarted={}\nwritten={}\nclean={}\nreceived={}\nrecovered={}\nexported={}\n"
      "sampled_out={}\ndropped={}\nspooled={}\n",
      kFirstLine, pid_, started_unix_, now_unix(), clean ? 1 : 0, s.received, s.recovered,
      s.exported, s.sampled_out, s.dropped, s.spooled);
  return body + fmt::format("crc={:08x}\n", checksum(body));
}

void RunState::save(const Counters& counters, bool clean) {
  if (directory_.empty()) return;
  const auto text = render(snapshot_of(counters), clean);
  const auto tmp = path_ + ".new";
  bool ok = false;
  if (const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); fd >= 0) {
    ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (clean) ok = ok && ::fsync(fd) == 0;  // the clean mark should survive a power cut too
    ok = (::close(fd) == 0) && ok;
  }
  ok = ok && ::rename(tmp.c_str(), path_.c_str()) == 0;
  if (!ok && !write_failed_) {
    spdlog::error("event=state_write_failed file={} error={}", path_,
                  telemetry::quoted(std::strerror(errno)));
  }
  write_failed_ = !ok;
}

}  // namespace tailgate::telemetry
