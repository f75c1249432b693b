#include "shm/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tailgate::shm {
namespace {

std::runtime_error error(const std::string& path, const std::string& what) {
  return std::runtime_error("ring segment " + path + ": " + what);
}

}  // namespace

std::uint64_t process_start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  // Field 2 (the command) may hold spaces and parentheses: count fields after its last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return std::stoull(field);
  }
  return 0;
}

Segment::Segment(std::string path, int fd, std::byte* base, std::size_t bytes)
    : path_(std::move(path)), fd_(fd), base_(base), bytes_(bytes) {}

Segment::~Segment() {
  ::munmap(base_, bytes_);
  ::close(fd_);
}

std::unique_ptr<Segment> Segment::create(const SegmentOptions& options) {
  if (!std::has_single_bit(options.lane_bytes) || options.lane_bytes < 4096) {
    throw error(options.directory, "lane_bytes must be a power of two of at least 4096");
  }
  if (options.lanes == 0 || options.resource.size() > kMaxResourceBytes) {
    throw error(options.directory, "at least one lane, and a resource of at most 4032 bytes");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.directory, ec);
  const pid_t pid = ::getpid();
  const auto start = process_start_time(pid);
  const auto name = options.directory + "/" + std::to_string(pid) + "-" + std::to_string(start);
  const auto tmp = name + ".tmp";
  const auto bytes = segment_bytes(options.lanes, options.lane_bytes);
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
  if (fd < 0) throw error(tmp, std::strerror(errno));
  // 0660 whatever the umask: the agent (in the producer's group) writes its read position here.
  if (::fchmod(fd, 0660) != 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const auto e = error(tmp, std::strerror(errno));
    ::close(fd);
    ::unlink(tmp.c_str());
    throw e;
  }
  // MAP_POPULATE: the pages are faulted in now, not on a trading thread's first spans.
  void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) {
    const auto e = error(tmp, std::strerror(errno));
    ::close(fd);
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
    ::close(fd);
    ::unlink(tmp.c_str());
    throw e;
  }
  return std::unique_ptr<Segment>(new Segment(path, fd, static_cast<std::byte*>(map), bytes));
}

std::unique_ptr<Segment> Segment::attach(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw error(path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < kHeaderBytes) {
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
  const auto bytes = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    ::close(fd);
    throw error(path, std::strerror(errno));
  }
  auto segment =
      std::unique_ptr<Segment>(new Segment(path, fd, static_cast<std::byte*>(map), bytes));
  const auto& h = segment->header();
  if (h.magic.load(std::memory_order_acquire) != kMagic) {  // pairs with create()'s release
    throw error(path, "not a tailgate ring segment (bad magic)");
  }
  if (h.layout_version != kLayoutVersion) {
    throw error(path, "layout version " + std::to_string(h.layout_version) + ", this agent reads " +
                          std::to_string(kLayoutVersion));
  }
  if (h.lane_count == 0 || !std::has_single_bit(h.lane_bytes) ||
      h.resource_bytes > kMaxResourceBytes || segment_bytes(h.lane_count, h.lane_bytes) != bytes) {
    throw error(path,
                "sizes in the header do not match the file (" + std::to_string(bytes) + " bytes)");
  }
  return segment;
}

LaneControl* Segment::control(std::size_t lane) const noexcept {
  return reinterpret_cast<LaneControl*>(base_ + lane_offset(lane, header().lane_bytes));
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
              header().lane_bytes};
    }
  }
  return {};
}

SharedLaneWriter Segment::overflow_lane() noexcept {
  auto* c = control(lane_count());
  return {c, reinterpret_cast<std::byte*>(c) + kLaneControlBytes, header().lane_bytes};
}

LaneReader Segment::reader(std::size_t lane) noexcept {
  return {control(lane), reinterpret_cast<std::byte*>(control(lane)) + kLaneControlBytes,
          header().lane_bytes, lane == lane_count()};
}

std::span<const std::byte> Segment::resource() const noexcept {
  return {base_ + kResourceOffset, header().resource_bytes};
}

bool Segment::producer_alive() const {
  const auto start = process_start_time(pid());
  return start != 0 && start == start_time();
}

namespace {
// Counts any process of the ring group may write: summed without wrapping.
std::uint64_t saturating(std::uint64_t a, std::uint64_t b) noexcept {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
}  // namespace

std::uint64_t Segment::producer_dropped() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= lane_count(); ++i)
    total = saturating(total, control(i)->dropped.load(std::memory_order_relaxed));
  return total;
}

std::uint64_t Segment::torn_records() const noexcept {
  std::uint64_t torn = 0;
  for (std::size_t i = 0; i < lane_count(); ++i) {
    const auto writing = control(i)->writing.load(std::memory_order_relaxed);
    const auto tail = control(i)->tail.load(std::memory_order_relaxed);
    torn += writing != 0 && writing != writing_mark(tail) ? 1 : 0;  // died before its commit
  }
  return torn;
}

std::uint64_t Segment::unannounced_drops() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i <= lane_count(); ++i) {  // the overflow lane too
    n = saturating(n, control(i)->unreported.load(std::memory_order_relaxed));
  }
  return n;
}

}  // namespace tailgate::shm
