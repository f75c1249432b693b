#include "shm/ring_directory.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

namespace tailgate::shm {
namespace {

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string failed(const std::string& what, int e) {
  return what + ": " + std::strerror(e);
}

DirectoryProblem inaccessible(const std::string& what, int e) {
  return {DirectoryRefusal::Inaccessible, failed(what, e)};
}

DirectoryProblem repair_failed(std::string why) {
  return {DirectoryRefusal::RepairFailed, std::move(why)};
}

DirectoryProblem not_a_directory() {
  return {DirectoryRefusal::NotADirectory, "not a directory (a symlink or a file)"};
}

/// Whether user `uid` is in group `gid` (its primary group, or listed as a member); unknown for
/// a uid without a user entry here (a container's numeric user).
std::optional<bool> user_in_group(uid_t uid, gid_t gid) {
  std::vector<char> buffer(1 << 16);
  passwd pw{};
  passwd* found_user = nullptr;
  if (::getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found_user) != 0 || !found_user) {
    return std::nullopt;
  }
  if (pw.pw_gid == gid) return true;
  const std::string name = pw.pw_name;
  group gr{};
  group* found_group = nullptr;
  if (::getgrgid_r(gid, &gr, buffer.data(), buffer.size(), &found_group) != 0 || !found_group) {
    return false;
  }
  for (char** member = gr.gr_mem; member != nullptr && *member != nullptr; ++member) {
    if (name == *member) return true;
  }
  return false;
}

/// Why a directory someone else made is unfit, or empty. `gid`: the ring group, when known.
DirectoryProblem judge(const struct stat& st, std::optional<gid_t> gid) {
  const auto who =
      " (owner uid " + std::to_string(st.st_uid) + ", group gid " + std::to_string(st.st_gid) + ")";
  if ((st.st_mode & 0007) != 0) {
    return {DirectoryRefusal::OpenToOthers,
            "mode " + octal(st.st_mode) + who +
                " lets other users in: they could read every producer's spans and delete segments"};
  }
  // Its owner may delete or rename any segment and fake the heartbeat: accepted only from us,
  // root, or a producer of the ring group that came first. A uid unknown here cannot be looked
  // up: accepted on its group and mode alone.
  const bool foreign = gid && st.st_uid != ::geteuid() && st.st_uid != 0;
  if (const auto member = foreign ? user_in_group(st.st_uid, *gid) : std::nullopt;
      member.has_value() && !*member) {
    return {DirectoryRefusal::ForeignOwner,
            "owned by a user outside the ring group" + who +
                ": it could delete or replace every producer's segment"};
  }
  if (gid && st.st_gid != *gid) {
    return {DirectoryRefusal::WrongGroup,
            "group gid " + std::to_string(st.st_gid) + ", not the ring group gid " +
                std::to_string(*gid) + who + ": that group's members would read every segment"};
  }
  if ((st.st_mode & 0070) != 0070) {
    return {DirectoryRefusal::GroupNotWritable,
            "mode " + octal(st.st_mode) + who + ": the group cannot create segments in it"};
  }
  return {};
}

/// Our own directory: the ring group and 2770, or 0770 where set-id modes are refused; every
/// change checked, and the result read back (a chmod may drop setgid without failing).
DirectoryProblem repair(const std::string& dir, struct stat st, std::optional<gid_t> gid,
                        DirectoryReport& report) {
  const bool regroup = gid && st.st_gid != *gid;
  if (regroup) {
    if (::chown(dir.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
      return repair_failed(failed("cannot give it group gid " + std::to_string(*gid), errno));
    }
    report.notes.push_back("group set to gid " + std::to_string(*gid));
  }
  if (regroup || (st.st_mode & 07777) != kDirectoryMode) {
    if (::chmod(dir.c_str(), kDirectoryMode) != 0) {
      if (errno != EPERM) {
        return repair_failed(failed("cannot chmod it " + octal(kDirectoryMode), errno));
      }
      if (::chmod(dir.c_str(), kDirectoryModeNoSetgid) != 0) {
        return repair_failed(failed("cannot chmod it " + octal(kDirectoryModeNoSetgid), errno));
      }
    }
    if (::lstat(dir.c_str(), &st) != 0) return inaccessible("cannot stat it", errno);
    const auto mode = st.st_mode & 07777;
    if (mode != kDirectoryMode && mode != kDirectoryModeNoSetgid) {
      return repair_failed("mode " + octal(mode) + " after chmod " + octal(kDirectoryMode));
    }
    report.notes.push_back("mode " + octal(mode) +
                           (mode == kDirectoryMode
                                ? std::string()
                                : " (set-id modes refused here, e.g. systemd RestrictSUIDSGID: "
                                  "producers give their segments the directory's group)"));
  }
  if (gid && st.st_gid != *gid) {
    return repair_failed("group gid " + std::to_string(st.st_gid) + " after chown");
  }
  return {};
}

DirectoryReport prepare(const std::string& dir, std::optional<gid_t> gid, bool agent) {
  DirectoryReport report;
  struct stat st {};
  bool made = false;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return {inaccessible("cannot stat it", errno), {}};
    const auto parent = std::filesystem::path(dir).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    // 0700 until its group and mode are set: nobody else gets in meanwhile.
    made = ::mkdir(dir.c_str(), 0700) == 0;
    if (!made && errno != EEXIST) return {inaccessible("cannot create it", errno), {}};
    if (made) report.notes.emplace_back("created");
    if (::lstat(dir.c_str(), &st) != 0) return {inaccessible("cannot stat it", errno), {}};
  }
  if (!S_ISDIR(st.st_mode)) return {not_a_directory(), {}};
  if (st.st_uid == ::geteuid()) {
    report.problem = repair(dir, st, gid, report);
    return report;
  }
  // The other side may have made it a moment ago (0700 until its mode is set): look again
  // briefly before refusing. Bounded: 20 looks over about 100 ms.
  for (int look = 0; look < 20; ++look) {
    report.problem = judge(st, agent ? gid : std::nullopt);
    if (report.problem.empty() || (st.st_mode & 0007) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (::lstat(dir.c_str(), &st) != 0) return {inaccessible("cannot stat it", errno), {}};
  }
  if (report.problem.empty()) {
    report.notes.push_back("owned by uid " + std::to_string(st.st_uid) + ", mode " +
                           octal(st.st_mode) + ", group gid " + std::to_string(st.st_gid));
  }
  return report;
}

bool in_group(gid_t gid) {
  if (::getegid() == gid) return true;
  std::array<gid_t, 256> groups{};
  const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
  for (int i = 0; i < n; ++i)
    if (groups[static_cast<std::size_t>(i)] == gid) return true;
  return false;
}

std::optional<gid_t> group_named(const std::string& name) {
  gid_t number = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (ec == std::errc{} && end == name.data() + name.size()) return number;
  group entry{};
  group* found = nullptr;
  std::array<char, 16384> buffer{};
  if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

}  // namespace

DirectoryReport prepare_agent_directory(const std::string& directory, gid_t gid) {
  return prepare(directory, gid, true);
}

DirectoryReport prepare_producer_directory(const std::string& directory) {
  std::optional<gid_t> gid;
  if (const char* env = std::getenv("TAILGATE_RING_GROUP"); env != nullptr && *env != '\0') {
    gid = group_named(env);
    if (!gid) {
      return {{DirectoryRefusal::UnknownGroup,
               std::string("TAILGATE_RING_GROUP: no group named ") + env},
              {}};
    }
  } else if (const auto tailgate = group_named("tailgate"); tailgate && in_group(*tailgate)) {
    gid = tailgate;
  }
  return prepare(directory, gid, false);
}

DirectoryProblem check_directory(const std::string& directory, gid_t gid) {
  struct stat st {};
  if (::lstat(directory.c_str(), &st) != 0) return inaccessible("cannot stat it", errno);
  if (!S_ISDIR(st.st_mode)) return not_a_directory();
  return judge(st, gid);
}

std::string_view to_string(DirectoryRefusal r) noexcept {
  switch (r) {
    case DirectoryRefusal::None:
      return "none";
    case DirectoryRefusal::OpenToOthers:
      return "open_to_others";
    case DirectoryRefusal::ForeignOwner:
      return "foreign_owner";
    case DirectoryRefusal::WrongGroup:
      return "wrong_group";
    case DirectoryRefusal::GroupNotWritable:
      return "group_not_writable";
    case DirectoryRefusal::NotADirectory:
      return "not_a_directory";
    case DirectoryRefusal::Inaccessible:
      return "inaccessible";
    case DirectoryRefusal::RepairFailed:
      return "repair_failed";
    case DirectoryRefusal::UnknownGroup:
      return "unknown_group";
    case DirectoryRefusal::kCount:
      break;
  }
  return "unknown";
}

Heartbeat::Heartbeat(const std::string& directory) : path_(directory + "/" + kHeartbeatName) {
  ::unlink(path_.c_str());  // an earlier run's: made anew, so it is ours and nobody else's
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd_ < 0) throw std::runtime_error(failed("ring heartbeat " + path_, errno));
  // 0640 whatever the umask: producers of the group may read which agent beats (its pid).
  const auto pid = std::to_string(::getpid()) + "\n";
  if (::fchmod(fd_, 0640) != 0 ||
      ::write(fd_, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
    const auto e = errno;
    ::close(fd_);
    ::unlink(path_.c_str());
    throw std::runtime_error(failed("ring heartbeat " + path_, e));
  }
}

Heartbeat::~Heartbeat() {
  // Removed only if it is still ours: another agent may have made the file anew since.
  struct stat ours {
  }, there{};
  if (::fstat(fd_, &ours) == 0 && ::lstat(path_.c_str(), &there) == 0 &&
      ours.st_ino == there.st_ino && ours.st_dev == there.st_dev) {
    ::unlink(path_.c_str());
  }
  ::close(fd_);
}

bool Heartbeat::beat() noexcept {
  return ::futimens(fd_, nullptr) == 0;
}

std::optional<std::chrono::nanoseconds> heartbeat_age(const std::string& directory) {
  struct stat st {};
  const auto path = directory + "/" + kHeartbeatName;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);  // the clock mtimes are in
  const auto ns = [](const timespec& t) {
    return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
  };
  const auto age = ns(now) - ns(st.st_mtim);
  return age.count() > 0 ? std::chrono::nanoseconds(age) : std::chrono::nanoseconds(0);
}

}  // namespace tailgate::shm
