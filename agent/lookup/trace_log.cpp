#include "lookup/trace_log.hpp"

#include <bit>
#include <cstring>

namespace tailgate::lookup {

const char* to_string(ExportState s) noexcept {
  switch (s) {
    case ExportState::None:
      return "none";
    case ExportState::Queued:
      return "queued";
    case ExportState::Retrying:
      return "retrying";
    case ExportState::Sent:
      return "sent";
    case ExportState::PartlySent:
      return "partly_rejected";
    case ExportState::Spooled:
      return "spooled";
    case ExportState::Failed:
      return "failed";
    case ExportState::QueueFull:
      return "dropped_export_queue_full";
  }
  return "none";
}

std::string Decided::policy_name() const {
  if (policy == kNoPolicy || policy_names == nullptr || policy >= policy_names->size()) return "";
  return (*policy_names)[policy];
}

void Decided::add_producer(const std::shared_ptr<const model::Resource>& resource) noexcept {
  const auto held = std::min<std::size_t>(producer_count, kMaxProducers);
  for (std::size_t i = 0; i < held; ++i) {
    if (producers[i] == resource) return;
  }
  // Past kMaxProducers a repeat of an unheld one is counted again: "at least" is what it says.
  if (held < kMaxProducers) producers[held] = resource;
  if (producer_count < 255) ++producer_count;
}

TraceLog::TraceLog(std::size_t capacity) : records_(capacity) {
  if (capacity == 0) return;
  // At most half full: probes stay short.
  index_.assign(std::bit_ceil(capacity * 2), kEmpty);
  mask_ = index_.size() - 1;
}

std::size_t TraceLog::home(const model::TraceId& id) const noexcept {
  std::uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, id.data(), 8);
  std::memcpy(&lo, id.data() + 8, 8);
  return static_cast<std::size_t>((hi ^ (lo * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL >>
                                  32) &
         mask_;
}

std::size_t TraceLog::probe(const model::TraceId& id) const noexcept {
  auto i = home(id);
  while (index_[i] != kEmpty && records_[index_[i]].id != id) i = (i + 1) & mask_;
  return i;
}

// Backward-shift deletion: later entries of the same probe run move up, so no tombstones.
void TraceLog::erase_index(std::size_t slot) noexcept {
  auto hole = slot;
  for (auto i = (slot + 1) & mask_; index_[i] != kEmpty; i = (i + 1) & mask_) {
    const auto want = home(records_[index_[i]].id);
    // The entry may fill the hole if its home is not in (hole, i] (cyclically).
    if (((i - want) & mask_) >= ((i - hole) & mask_)) {
      index_[hole] = index_[i];
      hole = i;
    }
  }
  index_[hole] = kEmpty;
}

void TraceLog::record(Decided&& decided) {
  if (records_.empty()) return;
  std::lock_guard lock(mutex_);
  ++recorded_;
  const auto existing = probe(decided.id);
  if (index_[existing] != kEmpty) {
    // Decided again (a span after the decision cache forgot it): the newer record wins.
    const auto pos = index_[existing];
    erase_index(existing);
    records_[pos] = Decided{};
  }
  if (held_ == records_.size()) {
    // The oldest goes (unless a repeat decision already emptied its place).
    const auto old = probe(records_[next_].id);
    if (index_[old] == next_) erase_index(old);
  } else {
    ++held_;
  }
  records_[next_] = std::move(decided);
  index_[probe(records_[next_].id)] = static_cast<std::uint32_t>(next_);
  next_ = next_ + 1 == records_.size() ? 0 : next_ + 1;
}

void TraceLog::set_export_state(std::span<const model::TraceId> ids, ExportState state) {
  if (records_.empty() || ids.empty()) return;
  std::lock_guard lock(mutex_);
  for (const auto& id : ids) {
    const auto slot = probe(id);
    if (index_[slot] == kEmpty) continue;  // already out of the window
    auto& r = records_[index_[slot]];
    // A trace split over two requests: a failure of either part is what to report.
    const bool worse_kept =
        r.export_state == ExportState::Failed || r.export_state == ExportState::QueueFull;
    if (r.kept && !worse_kept) r.export_state = state;
  }
}

std::optional<Decided> TraceLog::find(const model::TraceId& id) const {
  if (records_.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  const auto slot = probe(id);
  if (index_[slot] == kEmpty) return std::nullopt;
  return records_[index_[slot]];
}

std::vector<Decided> TraceLog::recent_kept(std::size_t n) const {
  std::vector<Decided> out;
  std::lock_guard lock(mutex_);
  // Newest first, from the one before next_ backwards; a bounded walk (the page asks for few).
  const auto size = records_.size();
  for (std::size_t k = 1; k <= held_ && out.size() < n && k <= 4096; ++k) {
    const auto& r = records_[(next_ + size - k) % size];
    if (r.kept && r.decided_ns != 0) out.push_back(r);
  }
  return out;
}

TraceLog::Window TraceLog::window() const {
  std::lock_guard lock(mutex_);
  Window w{records_.size(), held_, recorded_, 0};
  if (held_ == 0) return w;
  // The oldest held: at next_ once the ring has wrapped, else at 0. A slot emptied by a repeat
  // decision reads 0 and is skipped.
  const auto size = records_.size();
  const auto start = held_ == size ? next_ : 0;
  for (std::size_t k = 0; k < held_; ++k) {
    const auto& r = records_[(start + k) % size];
    if (r.decided_ns != 0) {
      w.oldest_decided_ns = r.decided_ns;
      break;
    }
  }
  return w;
}

std::string to_hex(const model::TraceId& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (std::size_t i = 0; i < id.size(); ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 0xF];
  }
  return out;
}

std::optional<model::TraceId> parse_trace_id(std::string_view hex) noexcept {
  if (hex.size() != 32) return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  model::TraceId id{};
  for (std::size_t i = 0; i < id.size(); ++i) {
    const int h = digit(hex[2 * i]), l = digit(hex[2 * i + 1]);
    if (h < 0 || l < 0) return std::nullopt;
    id[i] = static_cast<std::uint8_t>(h << 4 | l);
  }
  if (id == model::TraceId{}) return std::nullopt;
  return id;
}

}  // namespace tailgate::lookup
