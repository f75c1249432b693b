#pragma once
// Where the agent keeps what must outlive it: the export spool and the crash-accounting state
// file (telemetry/run_state.hpp). Resolved once at start-up, from the config and the environment:
//
//   state directory: state.directory; else exporter.spool_directory when that is set (the state
//     file has lived beside the spool); else the first of these that can be used:
//     $STATE_DIRECTORY (systemd's StateDirectory=), /var/lib/tailgate when it belongs to this
//     user (the .deb's and the container's account), $XDG_STATE_HOME/tailgate,
//     $HOME/.local/state/tailgate (a plain run).
//   spool: exporter.spool_directory; empty: <state directory>/spool; "off": no spool.
//
// A default that cannot be used (not creatable, not writable, or held by another running agent)
// is logged, counted, and passed over for the next; with none left the agent runs without spool
// and crash accounting, and says so. A directory named in the config is not second-guessed: if it
// cannot be used the agent refuses to start (the caller's Spool and RunState throw).
// Two agents never share a directory: the chosen one is locked (flock on tailgate.lock) for the
// life of the returned object.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace tailgate::exporter {

class DirectoryLock {
 public:
  DirectoryLock() = default;
  /// Locks `directory`/tailgate.lock; false, with `error` set, if it cannot or another holds it.
  bool acquire(const std::string& directory, std::string& error);
  ~DirectoryLock();
  DirectoryLock(DirectoryLock&& other) noexcept;
  DirectoryLock& operator=(DirectoryLock&& other) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

struct DurableLocations {
  std::string state;   ///< empty: crash accounting off
  std::string spool;   ///< empty: no spool
  std::string source;  ///< what chose the state directory (config key or environment variable)
  std::uint64_t fallbacks = 0;  ///< default locations passed over because they could not be used
  std::vector<DirectoryLock> locks;  ///< held while the agent runs
};

using Getenv = std::function<const char*(const char*)>;

/// The spool_directory value that turns the spool off.
inline constexpr const char* kSpoolOff = "off";

/// Resolves, creates (mode 0700) and locks; logs where (event=durable_locations) and every
/// fallback (event=state_location_unusable).
[[nodiscard]] DurableLocations resolve_locations(const config::Config& config,
                                                 const Getenv& getenv);

}  // namespace tailgate::exporter
