#include "shm/fault_guard.hpp"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>

#include <atomic>
#include <mutex>

namespace tailgate::shm {
namespace {

struct Guard {
  sigjmp_buf jump;
  const std::byte* begin;
  const std::byte* end;
};

// Read by the handler on the faulting thread. In the agent's executable this is static TLS, which
// a signal handler may read (a dlopen'ed library's TLS might be allocated on first touch).
thread_local Guard* t_guard = nullptr;
struct sigaction g_previous {};

void on_sigbus(int signal, siginfo_t* info, void* context) {
  Guard* const guard = t_guard;
  const auto* at = static_cast<const std::byte*>(info->si_addr);
  // si_code > 0: raised by the kernel for a fault, not sent by kill().
  if (guard != nullptr && info->si_code > 0 && at >= guard->begin && at < guard->end) {
    t_guard = nullptr;
    // The kernel blocks SIGBUS while its handler runs, and the guard does not save the mask (that
    // would be a syscall per guard): unblock it here, or the next fault would kill the process.
    sigset_t bus;
    ::sigemptyset(&bus);
    ::sigaddset(&bus, SIGBUS);
    ::pthread_sigmask(SIG_UNBLOCK, &bus, nullptr);
    ::siglongjmp(guard->jump, 1);
  }
  // Not a guarded read: whoever had SIGBUS before us (a sanitizer's reporter) gets it.
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(signal, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(signal);
    return;
  }
  // The default action: restore it. A fault then repeats on return and dumps core where it
  // happened; a SIGBUS sent by kill() must be raised again (it is delivered once we return).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
  if (info->si_code <= 0) ::raise(SIGBUS);
}

}  // namespace

void install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    ::sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &g_previous);
  });
}

bool run_guarded(const void* base, std::size_t bytes, void (*fn)(void*), void* arg) noexcept {
  Guard guard;  // trivially destructible: a jump back here leaves nothing to undo
  guard.begin = static_cast<const std::byte*>(base);
  guard.end = guard.begin + bytes;
  Guard* const outer = t_guard;
  if (::sigsetjmp(guard.jump, 0) != 0) {  // 0: no mask saved; the handler unblocks SIGBUS
    t_guard = outer;
    return false;
  }
  t_guard = &guard;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the handler sees the guard in place
  fn(arg);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_guard = outer;
  return true;
}

}  // namespace tailgate::shm
