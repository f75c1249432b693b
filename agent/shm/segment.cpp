#include "shm/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "shm/fault_guard.hpp"
#include "shm/ring_directory.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::shm {

// What attach() reads of the header, once (a plain copy: the producer may rewrite the original).
struct Segment::Header {
  std::uint64_t magic = 0;
  std::uint32_t layout_version = 0;
  std::uint32_t lane_count = 0;
  std::uint64_t lane_bytes = 0;
  std::uint32_t pid = 0;
  std::uint64_t start_time = 0;
  std::uint32_t resource_bytes = 0;
  uid_t file_owner = 0;
  std::array<std::byte, kMaxResourceBytes> resource{};
};

namespace {

std::runtime_error error(const std::string& path, const std::string& what) {
  return std::runtime_error("ring segment " + path + ": " + what);
}

/// Out of descriptors or memory says nothing about the file: the caller may try again later.
[[noreturn]] void throw_errno(const std::string& path, int e) {
  if (e == EMFILE || e == ENFILE || e == ENOMEM || e == EAGAIN) {
    throw TransientError("ring segment " + path + ": " + std::strerror(e));
  }
  throw error(path, std::strerror(e));
}

/// Field 22 of a /proc/<pid>/stat line: the start time. 0 if the line does not have it.
std::uint64_t start_time_field(std::string_view stat) {
  // Field 2 (the command) may hold spaces and parentheses: count fields after its last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos) return 0;
  std::size_t at = close + 1;
  for (int field = 2; field < 22; ++field) {
    at = stat.find(' ', at);
    if (at == std::string_view::npos) return 0;
    ++at;
  }
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(stat.data() + at, stat.data() + stat.size(), value);
  return ec == std::errc{} ? value : 0;
}

/// Opens a segment file for attach: a regular file (no symlink: the agent writes into what it
/// maps), at least a header long, and not open to other users.
int open_segment(const std::string& path, struct stat& st) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) throw_errno(path, errno);
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw error(path, "not a regular file");
  }
  if (static_cast<std::size_t>(st.st_size) < kHeaderBytes) {
    ::close(fd);
    throw error(path, "shorter than a segment header");
  }
  // Producers make segments 0660. Any permission for other users means anyone on the host could
  // have written spans (or lane positions) into it: not ours to trust.
  if ((st.st_mode & 0007) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw error(path, std::string("mode ") + mode +
                          " lets other users read or write it (producers make segments 0660)");
  }
  return fd;
}

}  // namespace

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  if (pid <= 0) return 0;
  // open/read rather than a stream: only errno tells "no such process" from "cannot look".
  const auto path = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH) return 0;
    return std::nullopt;  // EMFILE, ENFILE, EACCES, ENOMEM...: we do not know
  }
  char stat[1024];
  const auto n = ::read(fd, stat, sizeof stat);
  const int read_error = errno;
  ::close(fd);
  if (n < 0) return read_error == ESRCH ? std::optional<std::uint64_t>(0) : std::nullopt;
  const auto start = start_time_field(std::string_view(stat, static_cast<std::size_t>(n)));
  if (start == 0) return std::nullopt;  // a line we cannot parse says nothing about death
  return start;
}

std::optional<bool> process_runs_as(pid_t pid, uid_t uid) {
  if (pid <= 0) return std::nullopt;
  const auto path = "/proc/" + std::to_string(pid) + "/status";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char text[4096];
  const auto n = ::read(fd, text, sizeof text);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  const std::string_view status(text, static_cast<std::size_t>(n));
  auto at = status.find("\nUid:");
  if (at == std::string_view::npos) return std::nullopt;
  at += 5;
  for (int i = 0; i < 4; ++i) {  // real, effective, saved, filesystem
    at = status.find_first_not_of(" \t", at);
    if (at == std::string_view::npos) return std::nullopt;
    uid_t value = 0;
    const auto [end, ec] =
        std::from_chars(status.data() + at, status.data() + status.size(), value);
    if (ec != std::errc{}) return std::nullopt;
    if (value == uid) return true;
    at = static_cast<std::size_t>(end - status.data());
  }
  return false;
}

Segment::Segment(std::string path, std::byte* base, std::size_t bytes, const Header& header)
    : path_(std::move(path)),
      base_(base),
      bytes_(bytes),
      lane_count_(header.lane_count),
      lane_bytes_(header.lane_bytes),
      pid_(static_cast<pid_t>(header.pid)),
      start_time_(header.start_time),
      file_owner_(header.file_owner),
      resource_(header.resource.begin(), header.resource.begin() + header.resource_bytes) {}

Segment::~Segment() {
  ::munmap(base_, bytes_);
}

std::unique_ptr<Segment> Segment::create(const SegmentOptions& options) {
  const auto bytes = checked_segment_bytes(options.lanes, options.lane_bytes);
  if (bytes == 0) {
    throw error(options.directory, "lanes must be 1 to " + std::to_string(kMaxLanes) +
                                       " and lane_bytes a power of two from 4096 to 1 GiB");
  }
  if (options.resource.size() > kMaxResourceBytes) {
    throw error(options.directory, "a resource of at most 4032 bytes");
  }
  // Made as the agent makes it if this producer comes first; someone else's that other users
  // can enter is refused (ring_directory.hpp).
  if (const auto report = prepare_producer_directory(options.directory); !report.problem.empty()) {
    throw std::runtime_error("ring directory " + options.directory + ": " + report.problem.why);
  }
  struct stat directory {};
  if (::stat(options.directory.c_str(), &directory) != 0) {
    throw error(options.directory, std::strerror(errno));
  }
  const pid_t pid = ::getpid();
  const auto start = process_start_time(pid).value_or(0);
  const auto name = options.directory + "/" + std::to_string(pid) + "-" + std::to_string(start);
  const auto tmp = name + ".tmp";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
  if (fd < 0) throw error(tmp, std::strerror(errno));
  // 0660 whatever the umask: the agent (in the producer's group) writes its read position here.
  // The directory's group, which a directory without setgid (RestrictSUIDSGID) does not pass on:
  // the agent is in that group, not necessarily in this process's.
  struct stat file {};
  if (::fchmod(fd, 0660) != 0 || ::fstat(fd, &file) != 0 ||
      (file.st_gid != directory.st_gid &&
       ::fchown(fd, static_cast<uid_t>(-1), directory.st_gid) != 0) ||
      ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const auto e = error(tmp, std::string(std::strerror(errno)) +
                                  (errno == EPERM ? " (giving it the ring directory's group gid " +
                                                        std::to_string(directory.st_gid) +
                                                        ": is this user in that group?)"
                                                  : ""));
    ::close(fd);
    ::unlink(tmp.c_str());
    throw e;
  }
  // MAP_POPULATE: the pages are faulted in now, not on a trading thread's first spans.
  void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) {
    const auto e = error(tmp, std::strerror(errno));
    ::unlink(tmp.c_str());
    throw e;
  }
  auto* header = static_cast<SegmentHeader*>(map);  // the fresh file is all zeros
  header->layout_version = kLayoutVersion;
  header->lane_count = options.lanes;
  header->lane_bytes = options.lane_bytes;
  header->pid = static_cast<std::uint32_t>(pid);
  header->start_time = start;
  header->resource_bytes = static_cast<std::uint32_t>(options.resource.size());
  if (!options.resource.empty()) {  // an empty span's data() may be null: no memcpy from it
    std::memcpy(static_cast<std::byte*>(map) + kResourceOffset, options.resource.data(),
                options.resource.size());
  }
  header->magic.store(kMagic, std::memory_order_release);  // last: pairs with attach()'s acquire
  const auto path = name + ".ring";
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto e = error(path, std::strerror(errno));
    ::munmap(map, bytes);
    ::unlink(tmp.c_str());
    throw e;
  }
  Header h{.lane_count = options.lanes,
           .lane_bytes = options.lane_bytes,
           .pid = static_cast<std::uint32_t>(pid),
           .start_time = start,
           .resource_bytes = static_cast<std::uint32_t>(options.resource.size()),
           .file_owner = ::geteuid()};
  std::copy(options.resource.begin(), options.resource.end(), h.resource.begin());
  return std::unique_ptr<Segment>(new Segment(path, static_cast<std::byte*>(map), bytes, h));
}

std::unique_ptr<Segment> Segment::attach(const std::string& path) {
  struct stat st {};
  const int fd = open_segment(path, st);
  const auto bytes = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int map_error = errno;
  ::close(fd);  // the mapping keeps the file: no descriptor per segment
  if (map == MAP_FAILED) throw_errno(path, map_error);
  auto* base = static_cast<std::byte*>(map);
  Header h;
  h.file_owner = st.st_uid;
  // Guarded: the file may shrink between fstat and these reads.
  const bool read = guarded(base, bytes, [&] {
    const auto* header = reinterpret_cast<const SegmentHeader*>(base);
    h.magic = header->magic.load(std::memory_order_acquire);  // pairs with create()'s release
    h.layout_version = header->layout_version;
    h.lane_count = header->lane_count;
    h.lane_bytes = header->lane_bytes;
    h.pid = header->pid;
    h.start_time = header->start_time;
    h.resource_bytes = header->resource_bytes;
    std::memcpy(h.resource.data(), base + kResourceOffset, h.resource.size());
  });
  try {
    if (!read) throw error(path, "shrank while its header was read");
    check_header(path, h, bytes);
  } catch (...) {
    ::munmap(map, bytes);
    throw;
  }
  return std::unique_ptr<Segment>(new Segment(path, base, bytes, h));
}

void Segment::check_header(const std::string& path, const Header& h, std::size_t bytes) {
  if (h.magic != kMagic) throw error(path, "not a tailgate ring segment (bad magic)");
  if (h.layout_version != kLayoutVersion) {
    throw error(path, "layout version " + std::to_string(h.layout_version) + ", this agent reads " +
                          std::to_string(kLayoutVersion));
  }
  // Overflow-safe: a size computed from header fields in plain arithmetic can wrap to a small
  // number that a small file matches (one lane of 2^63 bytes made 4608).
  const auto expected = checked_segment_bytes(h.lane_count, h.lane_bytes);
  if (expected == 0) {
    throw error(path, std::to_string(h.lane_count) + " lanes of " + std::to_string(h.lane_bytes) +
                          " bytes: out of bounds (1 to " + std::to_string(kMaxLanes) +
                          " lanes, a power of two from 4096 to 1 GiB each)");
  }
  if (expected != bytes) {
    throw error(path, "sizes in the header (" + std::to_string(expected) +
                          " bytes) do not match the file (" + std::to_string(bytes) + " bytes)");
  }
  if (h.resource_bytes > kMaxResourceBytes) {
    throw error(path, "resource of " + std::to_string(h.resource_bytes) + " bytes (at most " +
                          std::to_string(kMaxResourceBytes) + ")");
  }
  if (h.pid == 0 || h.pid > kMaxPid) throw error(path, "pid " + std::to_string(h.pid));
}

LaneControl* Segment::control(std::size_t lane) const noexcept {
  return reinterpret_cast<LaneControl*>(base_ + lane_offset(lane, lane_bytes_));
}

LaneWriter Segment::claim_lane() noexcept {
  // Once per thread, not per span: the only locked instruction a producer thread's own lane costs.
  const auto tid = static_cast<std::uint32_t>(::gettid());
  for (std::size_t lane = 0; lane < lane_count(); ++lane) {
    std::uint32_t free = 0;
    // Acquire: pairs with release() of the lane's previous owner, whose tail we continue.
    if (control(lane)->owner.compare_exchange_strong(free, tid, std::memory_order_acquire,
                                                     std::memory_order_relaxed)) {
      return {control(lane), reinterpret_cast<std::byte*>(control(lane)) + kLaneControlBytes,
              lane_bytes_};
    }
  }
  return {};
}

SharedLaneWriter Segment::overflow_lane() noexcept {
  auto* c = control(lane_count());
  return {c, reinterpret_cast<std::byte*>(c) + kLaneControlBytes, lane_bytes_};
}

LaneReader Segment::reader(std::size_t lane) noexcept {
  return {control(lane), reinterpret_cast<std::byte*>(control(lane)) + kLaneControlBytes,
          lane_bytes_, lane == lane_count()};
}

Liveness Segment::producer_liveness() const {
  const auto start = process_start_time(pid());
  if (!start) return Liveness::Unknown;
  return *start != 0 && *start == start_time() ? Liveness::Alive : Liveness::Dead;
}

template <typename Fn>
std::uint64_t Segment::sum_lanes(bool overflow, Fn&& field) const noexcept {
  std::uint64_t total = 0;
  const auto lanes = lane_count() + (overflow ? 1u : 0u);
  if (!guarded(base_, bytes_, [&] {
        for (std::size_t i = 0; i < lanes; ++i)
          total = telemetry::saturating_add(total, field(*control(i)));  // group-writable counts
      })) {
    faulted_ = true;
    return 0;
  }
  return total;
}

std::uint64_t Segment::producer_dropped() const noexcept {
  return sum_lanes(true,
                   [](const LaneControl& c) { return c.dropped.load(std::memory_order_relaxed); });
}

double Segment::fullest_lane_fill() const noexcept {
  std::uint64_t fullest = 0;
  if (!guarded(base_, bytes_, [&] {
        for (std::size_t i = 0; i <= lane_count(); ++i) {
          const auto* c = control(i);
          const auto tail = c->tail.load(std::memory_order_relaxed);
          const auto head = c->head.load(std::memory_order_relaxed);
          fullest = std::max<std::uint64_t>(fullest, tail > head ? tail - head : 0);
        }
      })) {
    faulted_ = true;
    return 0;
  }
  return std::min(1.0, static_cast<double>(fullest) / static_cast<double>(lane_bytes_));
}

std::uint64_t Segment::torn_records() const noexcept {
  return sum_lanes(false, [](const LaneControl& c) -> std::uint64_t {
    const auto writing = c.writing.load(std::memory_order_relaxed);
    const auto tail = c.tail.load(std::memory_order_relaxed);
    return writing != 0 && writing != writing_mark(tail) ? 1 : 0;  // died before its commit
  });
}

std::uint64_t Segment::unannounced_drops() const noexcept {
  return sum_lanes(
      true,  // the overflow lane too
      [](const LaneControl& c) { return c.unreported.load(std::memory_order_relaxed); });
}

}  // namespace tailgate::shm
