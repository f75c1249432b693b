#include "export/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "telemetry/log_escape.hpp"

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

bool read_exact(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const auto r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(const std::string& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~ReadOnlyFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

// <20 digits>[-<spans>].otlp; nullopt for any other name (not ours: left alone).
struct FileName {
  std::uint64_t sequence = 0;
  std::optional<std::uint32_t> spans;
};
std::optional<FileName> parse_name(std::string_view name) {
  if (!name.ends_with(".otlp")) return std::nullopt;
  name.remove_suffix(5);
  const auto dash = name.find('-');
  const auto number = [](std::string_view text, auto& out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
  };
  FileName out;
  if (!number(name.substr(0, dash), out.sequence) || out.sequence == 0) return std::nullopt;
  if (dash != std::string_view::npos) {
    std::uint32_t spans = 0;
    if (!number(name.substr(dash + 1), spans)) return std::nullopt;
    out.spans = spans;
  }
  return out;
}

std::string name_of(std::uint64_t sequence, std::uint32_t spans) {
  char name[48];
  std::snprintf(name, sizeof name, "%020llu-%u.otlp", static_cast<unsigned long long>(sequence),
                spans);
  return name;
}

// Null when the header is ours and agrees with the file's real size and with the span count its
// name states; else why not. Nothing may be allocated from a header field before this passes.
const char* inspect(const ReadOnlyFile& file, std::optional<std::uint32_t> named_spans,
                    Header& header, std::uint64_t& size) {
  struct stat st {};
  if (file.fd() < 0 || ::fstat(file.fd(), &st) != 0) return "unreadable";
  size = static_cast<std::uint64_t>(st.st_size);
  if (size < sizeof(Header)) return "shorter_than_header";
  if (!read_exact(file.fd(), &header, sizeof header)) return "unreadable";
  if (header.magic != kMagic) return "bad_magic";
  if (header.version != kVersion) return "unknown_version";
  if (header.payload_bytes != size - sizeof(Header)) return "length_mismatch";
  if (named_spans && header.spans != *named_spans) return "span_count_mismatch";
  return nullptr;
}

// Reads and verifies a whole file; null when it is intact, else why not.
const char* read_batch(const std::string& path, std::uint32_t spans, std::size_t max_bytes,
                       std::string& payload) {
  const ReadOnlyFile file(path);
  Header header{};
  std::uint64_t size = 0;
  if (const char* problem = inspect(file, spans, header, size)) return problem;
  if (size > max_bytes) return "larger_than_spool_max_bytes";
  payload.resize(header.payload_bytes);  // the file's real size, less the header
  if (!read_exact(file.fd(), payload.data(), payload.size())) return "short_read";
  if (crc32(payload) != header.crc) return "checksum_mismatch";
  return nullptr;
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
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory_)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::lock_guard lock(mutex_);
  for (const auto& name : names) {
    if (name.ends_with(".tmp")) {
      fs::remove(directory_ + "/" + name, ec);  // a write the last run did not finish
      continue;
    }
    index_file(name);
  }
  if (!files_.empty() || corrupt_ > 0) {
    spdlog::info(
        "event=spool_found directory={} files={} bytes={} spans={} corrupt_files={} "
        "corrupt_spans={}",
        directory_, files_.size(), bytes_, spans_, corrupt_, corrupt_spans_);
  }
}

void Spool::index_file(const std::string& name) {
  const auto parsed = parse_name(name);
  if (!parsed) return;  // not a spool file
  next_sequence_ = std::max(next_sequence_, parsed->sequence + 1);
  const ReadOnlyFile file(directory_ + "/" + name);
  Header header{};
  std::uint64_t size = 0;
  const char* problem = inspect(file, parsed->spans, header, size);
  // The name states the count; an old-style name leaves only the header, if it is ours.
  const bool header_ours = header.magic == kMagic && header.version == kVersion;
  const auto spans =
      parsed->spans ? parsed->spans : (header_ours ? std::optional(header.spans) : std::nullopt);
  recovered_spans_ += spans.value_or(0);
  if (problem == nullptr && size > max_bytes_) problem = "larger_than_spool_max_bytes";
  if (problem == nullptr && files_.contains(parsed->sequence)) problem = "duplicate_sequence";
  if (problem != nullptr) {
    count_corrupt(name, size, spans, problem);
    ::unlink((directory_ + "/" + name).c_str());
    return;
  }
  files_[parsed->sequence] = {name, static_cast<std::size_t>(size), header.spans};
  bytes_ += size;
  spans_ += header.spans;
}

void Spool::count_corrupt(const std::string& name, std::size_t bytes,
                          std::optional<std::uint32_t> spans, const char* reason) {
  ++corrupt_;
  corrupt_bytes_ += bytes;
  corrupt_spans_ += spans.value_or(0);
  spdlog::error("event=spool_file_corrupt file={}/{} reason={} bytes={} spans={} action=removed",
                directory_, name, reason, bytes, spans ? std::to_string(*spans) : "unknown");
}

bool Spool::put(const std::string& payload, std::uint32_t spans) {
  return put(payload, spans, reserve());
}

std::uint64_t Spool::reserve() {
  std::lock_guard lock(mutex_);
  return next_sequence_++;
}

std::uint64_t Spool::oldest_available() const {
  std::lock_guard lock(mutex_);
  for (const auto& [sequence, info] : files_) {
    if (!taken_.contains(sequence)) return sequence;
  }
  return 0;
}

bool Spool::put(const std::string& payload, std::uint32_t spans, std::uint64_t sequence) {
  const std::size_t size = sizeof(Header) + payload.size();
  {
    std::lock_guard lock(mutex_);
    if (bytes_ + size > max_bytes_ || files_.contains(sequence)) return false;
    bytes_ += size;  // reserved now, so that concurrent puts cannot pass the bound together
  }
  const Header header{kMagic, kVersion, spans, crc32(payload), payload.size()};
  const auto name = name_of(sequence, spans);
  const auto tmp = directory_ + "/" + name.substr(0, 20) + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write_all(fd, &header, sizeof header) &&
            write_all(fd, payload.data(), payload.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ok = (::close(fd) == 0) && ok;
  ok = ok && ::rename(tmp.c_str(), (directory_ + "/" + name).c_str()) == 0;
  if (ok) fsync_directory(directory_);  // the rename itself must survive a crash
  std::lock_guard lock(mutex_);
  if (!ok) {
    spdlog::error("event=spool_write_failed file={} error={}", tmp,
                  telemetry::quoted(std::strerror(errno)));
    ::unlink(tmp.c_str());
    bytes_ -= size;
    return false;
  }
  files_[sequence] = {name, size, spans};
  spans_ += spans;
  return true;
}

std::optional<Spool::Batch> Spool::take_oldest() {
  std::lock_guard lock(mutex_);
  for (auto it = files_.begin(); it != files_.end();) {
    const auto sequence = it->first;
    const auto info = it->second;
    ++it;
    if (taken_.contains(sequence)) continue;
    Batch batch;
    batch.sequence = sequence;
    batch.spans = info.spans;
    if (const char* problem =
            read_batch(directory_ + "/" + info.name, info.spans, max_bytes_, batch.payload)) {
      count_corrupt(info.name, info.bytes, info.spans, problem);
      drop_file(sequence);
      continue;
    }
    taken_.insert(sequence);
    return batch;
  }
  return std::nullopt;
}

void Spool::discard_corrupt(std::uint64_t sequence, const char* reason) {
  std::lock_guard lock(mutex_);
  const auto it = files_.find(sequence);
  if (it == files_.end()) return;
  count_corrupt(it->second.name, it->second.bytes, it->second.spans, reason);
  drop_file(sequence);
}

void Spool::drop_file(std::uint64_t sequence) {
  const auto it = files_.find(sequence);
  if (it == files_.end()) return;
  ::unlink((directory_ + "/" + it->second.name).c_str());
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
std::uint64_t Spool::corrupt_bytes() const {
  std::lock_guard lock(mutex_);
  return corrupt_bytes_;
}
std::uint64_t Spool::corrupt_spans() const {
  std::lock_guard lock(mutex_);
  return corrupt_spans_;
}
std::uint64_t Spool::recovered_spans() const {
  std::lock_guard lock(mutex_);
  return recovered_spans_;
}
std::uint64_t Spool::spans() const {
  std::lock_guard lock(mutex_);
  return spans_;
}

}  // namespace tailgate::exporter
