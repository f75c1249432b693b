// The agent's side of a ring segment, as a buggy or hostile process in the ring group could leave
// it: the header fields, the file's size and the lanes all come from the input, and the file may
// shrink after attach. attach() must refuse what does not hold; whatever it takes is drained as
// the ring receiver drains it, its records decoded. Nothing may read outside the mapping, loop for
// ever or crash (a SIGBUS from the shrunk file must surface as Drained::faulted).
//
// Input: [0, 64) the header (magic and layout version forced valid unless flag 1), [64] flags,
// [65, 67) a size selector, then the bytes from file offset 4096 on (lane controls and records).
// The file's size: what the header claims, computed the way a naive check would (wrapping), when
// that is at most 1 MiB, else (or with flag 4) the selector times 64.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "shm/fault_guard.hpp"
#include "shm/ring_layout.hpp"
#include "shm/segment.hpp"
#include "wire/decode.hpp"

using namespace tailgate;

namespace {

constexpr std::size_t kPrefix = shm::kResourceOffset + 3;
constexpr std::size_t kMaxFile = 1u << 20;
constexpr std::uint8_t kRawMagic = 1, kShrink = 2, kSelectorSize = 4;

struct Directory {
  std::string path;
  Directory() {
    char dir[] = "/tmp/tailgate-fuzz-ring-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    path = dir;
    shm::install_fault_handler();  // as the agent does
  }
  ~Directory() {
    ::unlink((path + "/1-1.ring").c_str());
    ::rmdir(path.c_str());
  }
};

std::size_t file_size(const std::uint8_t* header, std::uint8_t flags, std::uint16_t selector) {
  std::uint32_t lanes = 0;
  std::uint64_t lane_bytes = 0;
  std::memcpy(&lanes, header + 12, sizeof lanes);
  std::memcpy(&lane_bytes, header + 16, sizeof lane_bytes);
  // The sum as unchecked arithmetic makes it (it wraps): the size an attacker gives the file.
  const std::size_t claimed = shm::lane_offset(std::size_t{lanes} + 1, lane_bytes);
  if ((flags & kSelectorSize) == 0 && claimed <= kMaxFile) return claimed;
  return std::size_t{selector} * 64;
}

void drain(shm::Segment& segment) {
  const auto resource = wire::unknown_resource();
  for (std::size_t lane = 0; lane <= segment.lane_count(); ++lane) {
    auto reader = segment.reader(lane);
    // Bounded like the receiver's pass; twice, as a second pass starts from the new head.
    for (int pass = 0; pass < 2; ++pass) {
      const auto drained = reader.drain(
          [&](wire::RecordType type, std::span<const std::byte> payload) {
            model::Span span;
            model::Resource r;
            if (type == wire::RecordType::Span &&
                wire::decode_span(payload, resource, span, wire::Items::Packed) ==
                    wire::DecodeError::None) {
              (void)wire::unpack(span);  // as the receiver, then the pipeline for a kept span
            }
            if (type == wire::RecordType::Resource) (void)wire::decode_resource(payload, r);
          },
          1024);
      if (drained.faulted) return;  // the receiver gives the segment up here
      if (lane == segment.lane_count() && drained.stalled_at)
        (void)reader.abandon(*drained.stalled_at);
    }
  }
  (void)segment.producer_dropped();
  (void)segment.torn_records();
  (void)segment.unannounced_drops();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Directory dir;
  if (size < kPrefix) return 0;
  std::uint8_t header[shm::kResourceOffset];
  std::memcpy(header, data, sizeof header);
  const std::uint8_t flags = data[shm::kResourceOffset];
  std::uint16_t selector = 0;
  std::memcpy(&selector, data + shm::kResourceOffset + 1, sizeof selector);
  if ((flags & kRawMagic) == 0) {
    std::memcpy(header, &shm::kMagic, sizeof shm::kMagic);
    std::memcpy(header + 8, &shm::kLayoutVersion, sizeof shm::kLayoutVersion);
  }
  const auto bytes = file_size(header, flags, selector);
  const auto path = dir.path + "/1-1.ring";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) std::abort();
  if (::pwrite(fd, header, std::min(sizeof header, bytes), 0) < 0) std::abort();
  const auto lanes = std::span(data + kPrefix, size - kPrefix);
  if (bytes > shm::kHeaderBytes &&
      ::pwrite(fd, lanes.data(), std::min(lanes.size(), bytes - shm::kHeaderBytes),
               shm::kHeaderBytes) < 0) {
    std::abort();
  }
  std::unique_ptr<shm::Segment> segment;
  try {
    segment = shm::Segment::attach(path);
  } catch (const std::runtime_error&) {
    ::close(fd);
    return 0;  // refused: what the agent must do with anything that does not hold
  }
  // What attach took must be what the file holds.
  std::uint64_t lane_bytes = 0;
  std::memcpy(&lane_bytes, header + 16, sizeof lane_bytes);
  if (shm::checked_segment_bytes(segment->lane_count(), lane_bytes) != bytes) std::abort();
  if ((flags & kShrink) != 0 && ::ftruncate(fd, static_cast<off_t>(selector % 8) * 4096) != 0) {
    std::abort();
  }
  ::close(fd);
  drain(*segment);
  return 0;
}
