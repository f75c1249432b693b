#pragma once
// Reads of a segment that another process may truncate under the agent. Touching a page of a
// shared file mapping past the file's new end raises SIGBUS, which would kill the agent and with
// it every producer's spans (issue 22). A size check before the reads (fstat) cannot close that
// race, so the agent's reads of a mapping run inside guarded(): a SIGBUS at an address inside the
// guarded range, on the thread that guards it, returns from guarded() with false; any other SIGBUS
// gets the action that was in place before ours (the default: a core dump), as if we were not
// there. The guarded code may only load, store and copy bytes: a fault skips the rest of it, so it
// must own nothing that needs undoing (no allocation, no lock, no object with a destructor). Only
// the agent installs the handler (install_fault_handler): a producer's signal handling stays its
// own, and there a guard just runs its code.

#include <cstddef>
#include <type_traits>

namespace tailgate::shm {

/// Installs the SIGBUS handler for guarded(), once per process; later calls do nothing.
void install_fault_handler();

/// Runs fn(arg); false if it faulted (SIGBUS) inside [base, base + bytes).
bool run_guarded(const void* base, std::size_t bytes, void (*fn)(void*), void* arg) noexcept;

/// Runs fn(); false if it faulted inside [base, base + bytes). See the rules above for fn.
template <typename Fn>
bool guarded(const void* base, std::size_t bytes, Fn&& fn) noexcept {
  using F = std::remove_reference_t<Fn>;
  return run_guarded(
      base, bytes, [](void* f) { (*static_cast<F*>(f))(); },
      const_cast<void*>(static_cast<const void*>(&fn)));
}

}  // namespace tailgate::shm
