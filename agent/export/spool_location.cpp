#include "export/spool_location.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "telemetry/log_escape.hpp"

namespace tailgate::exporter {
namespace {

namespace fs = std::filesystem;

struct Candidate {
  std::string path;
  std::string source;
};

// Defaults in the order the header states; unset variables give none.
std::vector<Candidate> default_candidates(const Getenv& getenv) {
  std::vector<Candidate> out;
  const auto env = [&](const char* name) -> std::string {
    const char* v = getenv(name);
    return v != nullptr ? v : "";
  };
  if (auto dir = env("STATE_DIRECTORY"); !dir.empty()) {
    out.push_back({dir.substr(0, dir.find(':')), "STATE_DIRECTORY"});  // systemd: a:b for several
  }
  struct stat st {};
  if (::stat("/var/lib/tailgate", &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid()) {
    out.push_back({"/var/lib/tailgate", "/var/lib/tailgate"});
  }
  if (auto dir = env("XDG_STATE_HOME"); !dir.empty()) {
    out.push_back({dir + "/tailgate", "XDG_STATE_HOME"});
  } else if (auto home = env("HOME"); !home.empty()) {
    out.push_back({home + "/.local/state/tailgate", "HOME"});
  }
  return out;
}

// Creates (0700: spans may carry business data) and checks a directory; empty when usable.
std::string prepare(const std::string& path) {
  std::error_code ec;
  const bool existed = fs::is_directory(path, ec);
  if (!existed) {
    fs::create_directories(path, ec);
    if (ec) return ec.message();
    ::chmod(path.c_str(), 0700);
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) return std::strerror(errno);
  return "";
}

// Prepares and locks a directory the config names: any problem stops the start.
DirectoryLock claim_configured(const std::string& path, const char* key) {
  DirectoryLock lock;
  std::string error = prepare(path);
  if (error.empty()) lock.acquire(path, error);
  if (!error.empty()) throw std::runtime_error(fmt::format("{} {}: {}", key, path, error));
  return lock;
}

}  // namespace

bool DirectoryLock::acquire(const std::string& directory, std::string& error) {
  const auto path = directory + "/tailgate.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    const auto n = ::pread(fd, pid, sizeof pid - 1, 0);
    error = fmt::format("in use by another running agent (pid {})",
                        n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "unknown");
    ::close(fd);
    return false;
  }
  const auto text = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) < 0) {
    // The pid is for the message a second agent prints; the lock holds without it.
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  return true;
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);
}
DirectoryLock::DirectoryLock(DirectoryLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

DurableLocations resolve_locations(const config::Config& config, const Getenv& getenv) {
  DurableLocations out;
  const auto& spool = config.exporter.spool_directory;
  const bool spool_off = spool == kSpoolOff;
  const bool spool_named = !spool.empty() && !spool_off;
  if (!config.state.directory.empty()) {
    out.state = config.state.directory;
    out.source = "state.directory";
  } else if (spool_named) {
    out.state = spool;
    out.source = "exporter.spool_directory";
  }
  if (!out.state.empty()) {
    out.locks.push_back(claim_configured(out.state, out.source.c_str()));
  } else {
    for (const auto& c : default_candidates(getenv)) {
      DirectoryLock lock;
      std::string error = prepare(c.path);
      if (error.empty() && lock.acquire(c.path, error)) {
        out.state = c.path;
        out.source = c.source;
        out.locks.push_back(std::move(lock));
        break;
      }
      ++out.fallbacks;
      spdlog::warn("event=state_location_unusable directory={} source={} error={} action={}",
                   c.path, c.source, telemetry::quoted(error), "next_candidate");
    }
  }
  if (spool_named) {
    out.spool = spool;
    if (spool != out.state)
      out.locks.push_back(claim_configured(spool, "exporter.spool_directory"));
  } else if (!spool_off && !out.state.empty()) {
    out.spool = out.state + "/spool";
  }
  if (!out.spool.empty()) {
    spdlog::info("event=spool_directory directory={} state_directory={} source={}", out.spool,
                 out.state, out.source);
  } else {
    spdlog::warn(
        "event=spool_off reason={} state_directory={} effect=\"batches the backend does not take "
        "are retried from memory for exporter.max_retry_time, then dropped; a stop or crash while "
        "it is down loses them\"",
        spool_off ? "configured" : "no_usable_directory", out.state.empty() ? "none" : out.state);
  }
  return out;
}

}  // namespace tailgate::exporter
