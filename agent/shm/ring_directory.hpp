#pragma once
// The ring directory (/dev/shm/tailgate by default): whichever side comes first makes it, the
// agent or a producer, always the same way: group = the ring group, mode 2770 (setgid: segments
// inherit the group), nothing for other users. Where set-id modes are refused (systemd's
// RestrictSUIDSGID=yes), it is made 0770 and each producer gives its segment the directory's group
// itself (Segment::create), so the agent reads it either way.
//
// An existing directory is trusted only if other users have no access to it and its group is the
// ring group: the group decides who may read every segment, and only root or a member of a group
// can give a directory that group. A directory of the caller's own is repaired instead; anyone
// else's that fails is refused (a squatter's 2777 would read every producer's spans and could
// delete segments). Every chown and chmod is checked.
//
// The agent leaves a heartbeat there: agent.heartbeat, whose mtime it refreshes every second while
// its ring thread turns. A producer that finds it missing or stale knows that no agent reads it.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tailgate::shm {

inline constexpr mode_t kDirectoryMode = 02770;
/// Where set-id modes are refused: the group still reads and writes, producers set the group.
inline constexpr mode_t kDirectoryModeNoSetgid = 0770;
inline constexpr const char* kHeartbeatName = "agent.heartbeat";
inline constexpr auto kHeartbeatPeriod = std::chrono::seconds(1);
/// A heartbeat older than this: no agent reads the directory (five missed beats).
inline constexpr auto kHeartbeatStale = std::chrono::seconds(5);

/// Why a directory is refused, in a closed set: the reason label of the agent's
/// tailgate_ring_directory_refused gauge.
enum class DirectoryRefusal : std::uint8_t {
  None,
  OpenToOthers,      ///< other users may enter it
  ForeignOwner,      ///< owned by a user outside the ring group
  WrongGroup,        ///< its group is not the ring group
  GroupNotWritable,  ///< the ring group cannot create segments in it
  NotADirectory,     ///< a file or a symlink
  Inaccessible,      ///< cannot be looked at or made
  RepairFailed,      ///< ours, but its group or mode could not be set
  UnknownGroup,      ///< TAILGATE_RING_GROUP names no group (producers only)
  kCount
};
[[nodiscard]] std::string_view to_string(DirectoryRefusal r) noexcept;

struct DirectoryProblem {
  DirectoryRefusal refusal = DirectoryRefusal::None;
  std::string why;  ///< for the log and /ready
  [[nodiscard]] bool empty() const noexcept { return refusal == DirectoryRefusal::None; }
};

struct DirectoryReport {
  DirectoryProblem problem;        ///< empty: fit for segments; else why it is refused
  std::vector<std::string> notes;  ///< what was created or repaired, for the log
};

/// The agent's side: creates `directory` with group `gid`, or checks an existing one and repairs
/// it when the agent owns it.
[[nodiscard]] DirectoryReport prepare_agent_directory(const std::string& directory, gid_t gid);
/// A producer's side: as the agent's, with the group TAILGATE_RING_GROUP names (a name or a
/// number), else the group "tailgate" if this process is in it; without either it keeps the
/// group the directory gets. Of someone else's directory it refuses only one others can enter:
/// the agent judges the group.
[[nodiscard]] DirectoryReport prepare_producer_directory(const std::string& directory);
/// Why an existing directory is not fit for segments with ring group `gid` (empty: it is).
[[nodiscard]] DirectoryProblem check_directory(const std::string& directory, gid_t gid);

/// The agent's heartbeat file: made at construction, refreshed by beat(), removed at destruction.
class Heartbeat {
 public:
  /// Throws std::runtime_error naming the file and the cause.
  explicit Heartbeat(const std::string& directory);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;
  /// Sets the file's mtime to now; false (errno set) if that failed.
  bool beat() noexcept;

 private:
  std::string path_;
  int fd_ = -1;
};

/// How long ago the agent last beat in `directory` (0 if the mtime is ahead of our clock);
/// nullopt if there is no heartbeat file (no agent has run since the directory was made).
[[nodiscard]] std::optional<std::chrono::nanoseconds> heartbeat_age(const std::string& directory);

}  // namespace tailgate::shm
