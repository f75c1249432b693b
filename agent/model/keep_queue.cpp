#include "model/keep_queue.hpp"

#include <iterator>

namespace tailgate::model {

KeepQueue::KeepQueue(std::size_t capacity) : capacity_(capacity) {}

bool KeepQueue::try_push(Keep&& keep) {
  {
    std::lock_guard lock(mutex_);
    if (keeps_.size() >= capacity_) return false;
    keeps_.push_back(std::move(keep));
  }
  nonempty_.notify_one();
  return true;
}

std::size_t KeepQueue::pop_all(std::vector<Keep>& out) {
  return wait_pop_all(out, std::chrono::milliseconds(0));
}

std::size_t KeepQueue::wait_pop_all(std::vector<Keep>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (timeout.count() > 0) {
    nonempty_.wait_for(lock, timeout, [this] { return !keeps_.empty() || closed_; });
  }
  const auto n = keeps_.size();
  out.insert(out.end(), std::make_move_iterator(keeps_.begin()),
             std::make_move_iterator(keeps_.end()));
  keeps_.clear();
  return n;
}

void KeepQueue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  nonempty_.notify_all();
}

std::size_t KeepQueue::size() const {
  std::lock_guard lock(mutex_);
  return keeps_.size();
}

}  // namespace tailgate::model
