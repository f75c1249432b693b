// Writes the seed corpora of the fuzz targets with the real encoders: valid inputs the fuzzers
// start from and mutate. Usage: fuzz_make_seeds <fuzz/corpus directory>. The output is committed.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "model/span.hpp"
#include "shm/ring_layout.hpp"
#include "shm/segment.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
namespace fs = std::filesystem;

namespace {

model::Span sample_span(std::uint64_t n) {
  model::Span s;
  for (std::size_t i = 0; i < s.trace_id.size(); ++i)
    s.trace_id[i] = static_cast<std::uint8_t>(n + i);
  s.span_id = {1, 2, 3, 4, 5, 6, 7, static_cast<std::uint8_t>(n)};
  if (n % 2 == 1) s.parent_span_id = {9, 9, 9, 9, 9, 9, 9, 9};
  s.parent_is_remote = n % 3 == 1;
  s.start_unix_ns = 1'700'000'000'000'000'000ULL + n;
  s.end_unix_ns = s.start_unix_ns + 250'000 * (n + 1);
  s.kind = static_cast<model::SpanKind>(n % 6);
  s.status = static_cast<model::StatusCode>(n % 3);
  s.trace_flags = 1;
  s.name = n == 0 ? "genesis.order.execute_market" : "signal_bot.risk.check";
  if (s.status == model::StatusCode::Error) s.status_message = "rejected: ÉCHEC";
  if (n % 2 == 0) s.trace_state = "ot=th:fd70a4,congo=t61rcWkgMzE";
  s.attributes = {{"order.symbol", std::string("BTCUSDT")},
                  {"order.quantity", std::int64_t{7}},
                  {"order.price", 43250.5},
                  {"risk.passed", n % 2 == 0}};
  s.events.push_back(
      {s.start_unix_ns + 10,
       "exception",
       {{"exception.type", std::string("ValueError")}, {"exception.escaped", true}}});
  return s;
}

std::vector<std::byte> record(const model::Span& s) {
  std::vector<std::byte> out(wire::kMaxRecordSize);
  out.resize(wire::encode_span(s, out));
  return out;
}

std::vector<std::byte> resource_record() {
  std::vector<std::byte> out(shm::kMaxResourceBytes);
  const std::vector<wire::AttributeView> attrs = {
      {"service.name", std::string_view("genesis-orders")},
      {"host.name", std::string_view("trading-1")},
      {"process.pid", std::int64_t{4242}}};
  out.resize(wire::encode_resource(out, attrs));
  return out;
}

void write(const fs::path& file, std::span<const std::byte> bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

void append_aligned(std::vector<std::byte>& out, std::span<const std::byte> rec) {
  out.insert(out.end(), rec.begin(), rec.end());
  out.resize(wire::align_record(out.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds <corpus directory>\n";
    return 2;
  }
  const fs::path corpus = argv[1];
  const auto resource = resource_record();

  // Record payloads (what follows the 8-byte record header).
  for (std::uint64_t n = 0; n < 4; ++n) {
    const auto r = record(sample_span(n));
    write(corpus / "fuzz_wire_record" / ("span-" + std::to_string(n)),
          std::span(r).subspan(wire::kRecordHeaderSize));
  }
  write(corpus / "fuzz_wire_record" / "resource",
        std::span(resource).subspan(wire::kRecordHeaderSize));

  // Datagrams: a resource record, spans, a loss record.
  std::vector<std::byte> datagram;
  append_aligned(datagram, resource);
  for (std::uint64_t n = 0; n < 3; ++n) append_aligned(datagram, record(sample_span(n)));
  std::vector<std::byte> loss(64);
  loss.resize(wire::encode_loss(loss, 17));
  append_aligned(datagram, loss);
  write(corpus / "fuzz_wire_datagram" / "resource-spans-loss", datagram);
  write(corpus / "fuzz_wire_datagram" / "one-span", record(sample_span(1)));

  // A ring segment's lanes after real writes: two own lanes (one wrapped) and the overflow lane.
  char dir[] = "/tmp/tailgate-seeds-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return 1;
  {
    auto segment = shm::Segment::create(
        {.directory = dir, .lanes = 2, .lane_bytes = 4096, .resource = resource});
    auto lane0 = segment->claim_lane();
    auto overflow = segment->overflow_lane();
    for (std::uint64_t n = 0; n < 6; ++n) {
      (void)lane0.try_write(record(sample_span(n)));
      (void)overflow.try_write(record(sample_span(n + 1)));
    }
    auto reader = segment->reader(0);  // consume some so that later writes wrap
    (void)reader.drain([](wire::RecordType, std::span<const std::byte>) {}, 4);
    for (std::uint64_t n = 0; n < 8; ++n) (void)lane0.try_write(record(sample_span(n)));
    const auto bytes = shm::segment_bytes(2, 4096);
    const int fd = ::open(segment->path().c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<std::byte> file(bytes);
    if (::pread(fd, file.data(), bytes, 0) != static_cast<ssize_t>(bytes)) return 1;
    ::close(fd);
    write(corpus / "fuzz_ring_segment" / "two-lanes-and-overflow",
          std::span(file).subspan(shm::kHeaderBytes));
    ::unlink(segment->path().c_str());
  }
  fs::remove_all(dir);
  std::cout << "seeds written under " << corpus << "\n";
  return 0;
}
