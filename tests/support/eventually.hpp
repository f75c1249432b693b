#pragma once
// Polls a condition until it holds or a deadline passes: tests wait for things, never sleep a
// fixed time and hope.

#include <chrono>
#include <thread>

namespace tailgate::testing {

template <typename Predicate>
bool eventually(Predicate&& done, std::chrono::milliseconds limit = std::chrono::seconds(10),
                std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace tailgate::testing
