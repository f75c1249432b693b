// tailgate-restricted-exec: runs a program as systemd would run it under tailgate.service, where
// systemd is not PID 1 (a container, a CI sandbox): another user and group, a umask, and
// RestrictSUIDSGID=yes as systemd does it, with a seccomp filter that fails with EPERM every
// chmod, mkdir, mknod and open(O_CREAT) whose mode carries setuid or setgid.
//
// usage: tailgate-restricted-exec [--uid N] [--gid N] [--groups N,N,...] [--umask OCTAL]
//                                 [--no-setid-modes] -- PROGRAM [ARGS...]
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

#ifndef SYS_fchmodat2
constexpr long kFchmodat2 = 452;  // Linux 6.6; older headers do not name it
#else
constexpr long kFchmodat2 = SYS_fchmodat2;
#endif

/// The mode argument's index for each syscall that takes one, as systemd's filter checks them.
const std::vector<std::pair<long, unsigned>> kModeArgument = {
    {SYS_chmod, 1}, {SYS_fchmod, 1},  {SYS_fchmodat, 2}, {kFchmodat2, 2},
    {SYS_mkdir, 1}, {SYS_mkdirat, 2}, {SYS_mknod, 1},    {SYS_mknodat, 2},
    {SYS_open, 2},  {SYS_openat, 3},  {SYS_creat, 1},
};

sock_filter statement(std::uint16_t code, std::uint32_t k) {
  return BPF_STMT(code, k);
}

sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

/// A mode with S_ISUID or S_ISGID in argument `arg` (low 32 bits) fails with EPERM.
bool refuse_setid_modes() {
  std::vector<sock_filter> f;
  f.push_back(statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  f.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  f.push_back(statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  // One comparison per syscall, then ALLOW, then one check block (4 statements) per argument
  // index 1, 2, 3.
  const auto n = kModeArgument.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto arg = kModeArgument[i].second;
    const auto to_block = (n - i - 1) + 1 + (arg - 1) * 4;  // past the rest and the ALLOW
    f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(kModeArgument[i].first),
                     static_cast<std::uint8_t>(to_block), 0));
  }
  f.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  for (unsigned arg = 1; arg <= 3; ++arg) {
    f.push_back(statement(BPF_LD | BPF_W | BPF_ABS,
                          static_cast<std::uint32_t>(offsetof(seccomp_data, args) + 8 * arg)));
    f.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, S_ISUID | S_ISGID, 0, 1));
    f.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
    f.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  const sock_fprog program{static_cast<unsigned short>(f.size()), f.data()};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

std::vector<gid_t> parse_groups(const std::string& text) {
  std::vector<gid_t> groups;
  for (std::size_t at = 0; at < text.size();) {
    const auto comma = text.find(',', at);
    groups.push_back(static_cast<gid_t>(std::stoul(text.substr(at, comma - at))));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return groups;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "tailgate-restricted-exec: %s: %s\n", what, std::strerror(errno));
  std::exit(126);
}

}  // namespace

int main(int argc, char** argv) {
  long uid = -1, gid = -1;
  std::vector<gid_t> groups;
  bool no_setid = false;
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    if (flag == "--uid")
      uid = std::strtol(value, nullptr, 10), ++i;
    else if (flag == "--gid")
      gid = std::strtol(value, nullptr, 10), ++i;
    else if (flag == "--groups")
      groups = parse_groups(value), ++i;
    else if (flag == "--umask")
      ::umask(static_cast<mode_t>(std::strtoul(value, nullptr, 8))), ++i;
    else if (flag == "--no-setid-modes")
      no_setid = true;
    else
      return std::fprintf(stderr, "tailgate-restricted-exec: unknown %s\n", argv[i]), 2;
  }
  if (i + 1 >= argc) return std::fprintf(stderr, "tailgate-restricted-exec: no program\n"), 2;
  // Groups before the uid: setgroups needs the privilege the uid change gives up.
  if ((uid >= 0 || gid >= 0) && ::setgroups(groups.size(), groups.data()) != 0) fail("setgroups");
  if (gid >= 0 && ::setgid(static_cast<gid_t>(gid)) != 0) fail("setgid");
  if (uid >= 0 && ::setuid(static_cast<uid_t>(uid)) != 0) fail("setuid");
  if (no_setid && !refuse_setid_modes()) fail("seccomp");
  ::execv(argv[i + 1], argv + i + 1);
  fail(argv[i + 1]);
}
