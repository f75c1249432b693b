#include "export/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace tailgate::exporter {
namespace {

namespace fs = std::filesystem;

constexpr std::array<char, 4> kMagic = {'T', 'G', 'S', 'P'};
constexpr std::uint32_t kVersion = 1;

struct Header {
  std::array<char, 4> magic;
  std::uint32_t version;
  std::uint32_t spans;
  std::uint32_t crc;
  std::uint64_t payload_bytes;
};
static_assert(sizeof(Header) == 24);

std::uint32_t crc32(const std::string& data) {
  // CRC-32 (IEEE), table built once: integrity against torn or damaged files, not tampering.
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (const unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const auto w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Spool::Spool(std::string directory, std::size_t max_bytes)
    : directory_(std::move(directory)), max_bytes_(max_bytes) {
  std::error_code ec;
  fs::create_directories(directory_, ec);
  if (ec) throw std::runtime_error("spool directory " + directory_ + ": " + ec.message());
  ::chmod(directory_.c_str(), 0700);  // spans may carry business data: owner only
  if (::access(directory_.c_str(), W_OK | X_OK) != 0) {
    throw std::runtime_error("spool directory " + directory_ + ": not writable");
  }
  for (const auto& entry : fs::directory_iterator(directory_)) {
    const auto name = entry.path().filename().string();
    if (name.ends_with(".tmp")) {
      fs::remove(entry.path(), ec);  // a write the last run did not finish
      continue;
    }
    if (!name.ends_with(".otlp")) continue;
    const std::uint64_t sequence = std::strtoull(name.c_str(), nullptr, 10);
    if (sequence == 0) continue;
    Header header{};
    if (const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
      if (::read(fd, &header, sizeof header) != static_cast<ssize_t>(sizeof header)) header = {};
      ::close(fd);
    }
    const auto size = static_cast<std::size_t>(entry.file_size(ec));
    files_[sequence] = {size, header.magic == kMagic ? header.spans : 0};
    bytes_ += size;
    spans_ += files_[sequence].spans;
    next_sequence_ = std::max(next_sequence_, sequence + 1);
  }
  if (!files_.empty()) {
    spdlog::info("event=spool_found directory={} files={} bytes={} spans={}", directory_,
                 files_.size(), bytes_, spans_);
  }
}

std::string Spool::path_of(std::uint64_t sequence, const char* suffix) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu%s", static_cast<unsigned long long>(sequence), suffix);
  return directory_ + "/" + name;
}

bool Spool::put(const std::string& payload, std::uint32_t spans) {
  const std::size_t size = sizeof(Header) + payload.size();
  std::uint64_t sequence = 0;
  {
    std::lock_guard lock(mutex_);
    if (bytes_ + size > max_bytes_) return false;
    sequence = next_sequence_++;
    bytes_ += size;  // reserved now, so that concurrent puts cannot pass the bound together
  }
  const Header header{kMagic, kVersion, spans, crc32(payload), payload.size()};
  const auto tmp = path_of(sequence, ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write_all(fd, &header, sizeof header) &&
            write_all(fd, payload.data(), payload.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ok = (::close(fd) == 0) && ok;
  ok = ok && ::rename(tmp.c_str(), path_of(sequence, ".otlp").c_str()) == 0;
  if (ok) fsync_directory(directory_);  // the rename itself must survive a crash
  std::lock_guard lock(mutex_);
  if (!ok) {
    spdlog::error("event=spool_write_failed file={} error=\"{}\"", tmp, std::strerror(errno));
    ::unlink(tmp.c_str());
    bytes_ -= size;
    return false;
  }
  files_[sequence] = {size, spans};
  spans_ += spans;
  return true;
}

std::optional<Spool::Batch> Spool::take_oldest() {
  std::lock_guard lock(mutex_);
  for (auto it = files_.begin(); it != files_.end();) {
    const auto sequence = it->first;
    ++it;
    if (taken_.contains(sequence)) continue;
    Batch batch;
    batch.sequence = sequence;
    Header header{};
    bool ok = false;
    if (const int fd = ::open(path_of(sequence, ".otlp").c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
      if (::read(fd, &header, sizeof header) == static_cast<ssize_t>(sizeof header) &&
          header.magic == kMagic && header.version == kVersion &&
          header.payload_bytes <= max_bytes_) {
        batch.payload.resize(header.payload_bytes);
        std::size_t got = 0;
        while (got < batch.payload.size()) {
          const auto n = ::read(fd, batch.payload.data() + got, batch.payload.size() - got);
          if (n <= 0) break;
          got += static_cast<std::size_t>(n);
        }
        char extra = 0;
        ok = got == batch.payload.size() && ::read(fd, &extra, 1) == 0 &&
             crc32(batch.payload) == header.crc;
      }
      ::close(fd);
    }
    if (!ok) {
      ++corrupt_;
      spdlog::error("event=spool_file_corrupt file={} action=removed", path_of(sequence, ".otlp"));
      drop_file(sequence);
      continue;
    }
    batch.spans = header.spans;
    taken_.insert(sequence);
    return batch;
  }
  return std::nullopt;
}

void Spool::drop_file(std::uint64_t sequence) {
  const auto it = files_.find(sequence);
  if (it == files_.end()) return;
  ::unlink(path_of(sequence, ".otlp").c_str());
  bytes_ -= it->second.bytes;
  spans_ -= it->second.spans;
  files_.erase(it);
  taken_.erase(sequence);
}

void Spool::remove(std::uint64_t sequence) {
  std::lock_guard lock(mutex_);
  drop_file(sequence);
}

void Spool::release(std::uint64_t sequence) {
  std::lock_guard lock(mutex_);
  taken_.erase(sequence);
}

std::size_t Spool::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}
std::size_t Spool::files() const {
  std::lock_guard lock(mutex_);
  return files_.size();
}
std::size_t Spool::available() const {
  std::lock_guard lock(mutex_);
  return files_.size() - taken_.size();
}
std::uint64_t Spool::corrupt_files() const {
  std::lock_guard lock(mutex_);
  return corrupt_;
}
std::uint64_t Spool::spans() const {
  std::lock_guard lock(mutex_);
  return spans_;
}

}  // namespace tailgate::exporter
