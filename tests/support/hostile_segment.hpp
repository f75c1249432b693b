#pragma once
// Writes a ring segment file the way a hostile or broken process in the ring group could: any
// header fields, any file size (sparse), mode 0660, appearing by rename as a producer's does.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "shm/ring_layout.hpp"
#include "shm/segment.hpp"

namespace tailgate::testing {

struct HostileHeader {
  std::uint64_t magic = shm::kMagic;
  std::uint32_t layout_version = shm::kLayoutVersion;
  std::uint32_t lane_count = 1;
  std::uint64_t lane_bytes = 4096;
  std::uint32_t pid = static_cast<std::uint32_t>(::getpid());
  std::uint64_t start_time = shm::process_start_time(::getpid()).value_or(0);
  std::uint32_t resource_bytes = 0;
};

/// The file <directory>/<pid>-<start_time>.ring (or `name`), `file_bytes` long; returns its path.
inline std::string write_hostile_segment(const std::string& directory, const HostileHeader& h,
                                         std::size_t file_bytes, std::string name = "") {
  if (name.empty()) name = std::to_string(h.pid) + "-" + std::to_string(h.start_time) + ".ring";
  std::filesystem::create_directories(directory);
  const auto tmp = directory + "/" + name + ".tmp";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
  if (fd < 0 || ::fchmod(fd, 0660) != 0 || ::ftruncate(fd, static_cast<off_t>(file_bytes)) != 0) {
    throw std::runtime_error("cannot write " + tmp);
  }
  unsigned char header[shm::kResourceOffset] = {};
  std::memcpy(header + 0, &h.magic, 8);
  std::memcpy(header + 8, &h.layout_version, 4);
  std::memcpy(header + 12, &h.lane_count, 4);
  std::memcpy(header + 16, &h.lane_bytes, 8);
  std::memcpy(header + 24, &h.pid, 4);
  std::memcpy(header + 32, &h.start_time, 8);
  std::memcpy(header + 44, &h.resource_bytes, 4);
  const auto n = std::min(sizeof header, file_bytes);
  const bool ok = ::pwrite(fd, header, n, 0) == static_cast<ssize_t>(n);
  ::close(fd);
  const auto path = directory + "/" + name;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot write " + path);
  return path;
}

}  // namespace tailgate::testing
