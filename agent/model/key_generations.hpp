#pragma once
// Generations of the table buffered spans intern their attribute keys in (model::KeyTable). A
// table is never cleared, since its ids stay valid while any span refers to them, so keys sent
// once (junk from outside, a burst of one-off keys) that filled it left every later span's keys
// inline until restart (RSS per buffered span 170 -> 251 B). Instead, once the table has turned
// away kMissesToRenew keys for want of room, traces started from then on intern in a fresh table.
// Each trace (model::PackedSpans) holds the table its records' ids refer to: an old table lives
// while any buffered or held trace refers to it, and is freed with the last. At most kMaxLive
// tables live at once, so junk cannot make many: past that, keys stay inline as before.
// Owned by the pipeline thread; not thread-safe (a trace may let go of its table anywhere).

#include <cstddef>
#include <memory>
#include <vector>

#include "model/key_table.hpp"

namespace tailgate::model {

class KeyGenerations final {
 public:
  static constexpr std::size_t kMaxLive = 3;
  /// A full table's misses before it is replaced: a few thousand keys (a full table's worth)
  /// wanted in, so that spans that use few distinct keys are not the ones that pay for junk.
  static constexpr std::size_t kMissesToRenew = KeyTable::kMaxKeys;

  KeyGenerations() : current_(std::make_shared<KeyTable>()) {}

  /// The table a trace started now interns in: a fresh one if the current one is due and fewer
  /// than kMaxLive are live. Once per trace.
  [[nodiscard]] const std::shared_ptr<KeyTable>& for_new_trace() {
    if (current_->misses() >= kMissesToRenew) renew();
    return current_;
  }
  /// The live table `keys` (a trace's) is, to intern that trace's later spans in as well; null
  /// if it is none of these. Per span: mostly the current one.
  [[nodiscard]] KeyTable* find(const KeyTable* keys) noexcept {
    return keys == current_.get() ? current_.get() : find_retired(keys);
  }
  [[nodiscard]] KeyTable& current() noexcept { return *current_; }

  /// Bytes of the older tables that traces still refer to: the traces' cost, counted with them
  /// (buffered_bytes). The current table is a bounded fixed cost, as the trace table's index.
  [[nodiscard]] std::size_t retired_bytes() const noexcept;
  /// Tables live, the current one included.
  [[nodiscard]] std::size_t live() const noexcept;
  /// Tables replaced so far.
  [[nodiscard]] std::size_t renewals() const noexcept { return renewals_; }

 private:
  struct Retired {
    KeyTable* table;                ///< its identity; used only while `alive` holds
    std::weak_ptr<KeyTable> alive;  ///< expired: every trace that referred to it is gone
  };
  void renew();
  [[nodiscard]] KeyTable* find_retired(const KeyTable* keys) noexcept;

  std::shared_ptr<KeyTable> current_;
  std::vector<Retired> retired_;  ///< at most kMaxLive - 1 live, expired ones dropped on renew()
  std::size_t renewals_ = 0;
};

}  // namespace tailgate::model
