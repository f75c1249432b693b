// The ring's consumer over a corrupted segment: a valid header (so attach() takes it), then lane
// controls and lane bytes from the input, as a buggy or hostile producer could leave them. Every
// lane is drained as the ring receiver drains it, its records decoded; nothing may read outside
// the mapping, loop for ever or crash.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shm/ring_layout.hpp"
#include "shm/segment.hpp"
#include "wire/decode.hpp"
#include "wire/encode.hpp"

using namespace tailgate;

namespace {

constexpr std::uint32_t kLanes = 2;
constexpr std::size_t kLaneBytes = 4096;

struct Fixture {
  std::unique_ptr<shm::Segment> producer;
  std::unique_ptr<shm::Segment> consumer;
  std::byte* map = nullptr;
  std::size_t bytes = 0;
  std::string directory;

  Fixture() {
    char dir[] = "/tmp/tailgate-fuzz-ring-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    directory = dir;
    std::vector<std::byte> resource(shm::kMaxResourceBytes);
    const wire::AttributeView service{"service.name", std::string_view("fuzz")};
    resource.resize(wire::encode_resource(resource, std::span(&service, 1)));
    producer = shm::Segment::create(
        {.directory = dir, .lanes = kLanes, .lane_bytes = kLaneBytes, .resource = resource});
    consumer = shm::Segment::attach(producer->path());
    bytes = shm::segment_bytes(kLanes, kLaneBytes);
    const int fd = ::open(producer->path().c_str(), O_RDWR | O_CLOEXEC);
    void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) std::abort();
    map = static_cast<std::byte*>(m);
  }
  ~Fixture() {
    ::unlink(producer->path().c_str());
    ::rmdir(directory.c_str());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  const std::size_t area = f.bytes - shm::kHeaderBytes;
  std::memset(f.map + shm::kHeaderBytes, 0, area);
  std::memcpy(f.map + shm::kHeaderBytes, data, std::min(size, area));
  const auto resource = wire::unknown_resource();
  for (std::size_t lane = 0; lane <= kLanes; ++lane) {
    auto reader = f.consumer->reader(lane);
    (void)reader.backlog();
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
      if (lane == kLanes && drained.stalled_at) (void)reader.abandon(*drained.stalled_at);
    }
  }
  (void)f.consumer->producer_dropped();
  (void)f.consumer->torn_records();
  return 0;
}
