#include "model/span_queue.hpp"

#include <iterator>

#include "model/resource_ledger.hpp"

namespace tailgate::model {

SpanQueue::SpanQueue(std::size_t max_spans, std::size_t max_bytes)
    : max_spans_(max_spans), max_bytes_(max_bytes) {}

bool SpanQueue::try_push(SpanBatch& batch) {
  if (batch.empty()) return true;
  std::size_t bytes = 0;
  if (max_bytes_ != 0) {
    // Outside the lock. A batch's spans share their request's or producer's resource: each run
    // of spans with one resource counts it once (a batch of one span under a 3 MB resource held
    // 3 MB, counted as 300 bytes).
    const Resource* last = nullptr;
    for (const auto& span : batch) {
      bytes += memory_bytes(span);
      if (span.resource != nullptr && span.resource.get() != last) {
        last = span.resource.get();
        bytes += ResourceLedger::cost(*last);
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    if (spans_ + batch.size() > max_spans_) return false;
    // An empty queue takes any one batch in bytes: one larger than the bound itself (a request
    // whose 300 scopes each carry a copy of its 64 KiB resource, 18.8 MiB against 16 MiB) would
    // else be refused for good, its sender told to retry forever (outside attack). The request's
    // own bounds (max_request_bytes, the 32 MiB "too costly" refusal) bound such a batch.
    if (max_bytes_ != 0 && bytes_ + bytes > max_bytes_ && spans_ != 0) return false;
    spans_ += batch.size();
    bytes_ += bytes;
    batches_.push_back(std::move(batch));
  }
  batch.clear();
  nonempty_.notify_one();
  return true;
}

std::size_t SpanQueue::pop_batches(std::vector<SpanBatch>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  nonempty_.wait_for(lock, timeout, [this] { return spans_ > 0 || closed_; });
  if (out.empty()) {
    out.swap(batches_);
  } else {
    out.insert(out.end(), std::make_move_iterator(batches_.begin()),
               std::make_move_iterator(batches_.end()));
    batches_.clear();
  }
  const auto taken = spans_;
  spans_ = 0;
  bytes_ = 0;
  return taken;
}

std::size_t SpanQueue::pop_all(SpanBatch& out, std::chrono::milliseconds timeout) {
  std::vector<SpanBatch> taken;
  const auto n = pop_batches(taken, timeout);
  for (auto& batch : taken) {
    if (out.empty()) {
      out = std::move(batch);
    } else {
      out.insert(out.end(), std::make_move_iterator(batch.begin()),
                 std::make_move_iterator(batch.end()));
    }
  }
  return n;
}

void SpanQueue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  nonempty_.notify_all();
}

bool SpanQueue::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

std::size_t SpanQueue::size_spans() const {
  std::lock_guard lock(mutex_);
  return spans_;
}

std::size_t SpanQueue::size_bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace tailgate::model
