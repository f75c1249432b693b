#pragma once
// A real child process for integration tests: fork + exec with stdout and stderr sent to files,
// signals, and a bounded wait. The destructor kills a child that is still running.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tailgate::testing {

class ChildProcess {
 public:
  /// `environment`: extra NAME=value entries for the child, on top of ours.
  ChildProcess(std::vector<std::string> argv, const std::string& stdout_path,
               const std::string& stderr_path, const std::vector<std::string>& environment = {}) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // A test that dies without its destructors (an abort, a sanitizer's halt) takes its
      // children with it: no redis-server or agent left behind holding ports.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(err, 2);
      for (const auto& entry : environment) ::putenv(const_cast<char*>(entry.c_str()));
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void signal(int sig) const { ::kill(pid_, sig); }
  [[nodiscard]] bool running() const { return pid_ > 0 && !status_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Waits up to `limit`; the exit code, or nullopt if it is still running (or died by a signal:
  /// then 128 + signal, as a shell reports it).
  std::optional<int> wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!status_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Polls `path` until `pattern` appears in it or `limit` passes; returns the file's text then.
inline std::string wait_for_text(const std::string& path, const std::string& pattern,
                                 std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    auto text = read_file(path);
    if (text.find(pattern) != std::string::npos || std::chrono::steady_clock::now() >= deadline) {
      return text;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// A fresh directory under the system's temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                       std::string("/tailgate-test-XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { [[maybe_unused]] int rc = std::system(("rm -rf '" + path_ + "'").c_str()); }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace tailgate::testing
