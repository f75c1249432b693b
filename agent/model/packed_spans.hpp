#pragma once
// A trace's spans as the trace table and the hold buffer them (wire::pack writes them,
// wire::take_spans decodes them when kept): one growing block per trace, the trace id once, and
// per span a record of its fixed fields, name, trace state and items in the record format's item
// encoding, attribute keys interned (KeyTable). About 150 bytes for a trading span that cost 410
// as a model::Span (264 bytes of mostly empty decoded fields, and a heap block of items).
// Readers before a decision (policies, the fast path, peers, the trace log) see spans through a
// SpanView, which reads a buffered record and a model::Span alike; a span that the item encoding
// cannot hold (a string over 65,535 bytes, an event of over 255 attributes) is kept aside whole.
// A value owned by one thread at a time; moves, never copies.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "model/key_table.hpp"
#include "model/resource_ledger.hpp"
#include "model/span.hpp"

namespace tailgate::model {

class PackedSpans;

/// A buffered span's record, 4-byte aligned in its trace's block (host order):
///    0 span_id 8 B              8 parent_span_id 8 B     16 start_unix_ns u64   24 end_unix_ns u64
///   32 metrics_series u32      36 items_size u32 (aside: the index of the span kept aside)
///   40 name_len u16            42 trace_state_len u16    44 item_count u16      46 resource u16
///   48 kind u8   49 status u8  50 trace_flags u8          51 flags u8 (kRemote, kDropped, kAside)
///   52 [dropped_attributes u32, dropped_events u32: with kDropped], name, items, trace state.
/// Items are the record format's, except that an attribute whose key is interned is
/// kInternedAttribute, its key id u16, then the value, and that the trace state is never an item:
/// taken out of the items on entry (ring, UDP and OTLP protobuf spans carry it as one), it is here
/// for the sampler, which reads its `ot=rv:` randomness for every trace it decides.
namespace packed {
inline constexpr std::size_t kSpanId = 0, kParent = 8, kStart = 16, kEnd = 24, kSeries = 32,
                             kItemsSize = 36, kNameLen = 40, kTraceStateLen = 42, kItemCount = 44,
                             kResource = 46, kKind = 48, kStatus = 49, kTraceFlags = 50,
                             kFlags = 51, kHeadSize = 52, kDroppedSize = 8;
inline constexpr std::uint8_t kRemote = 1, kDropped = 2, kAside = 4;
inline constexpr std::uint8_t kInternedAttribute = 0x81;  ///< never on the wire (tags are < 0x80)
inline constexpr std::size_t kAlign = 4;

template <typename T>
[[nodiscard]] inline T load(const std::byte* record, std::size_t offset) noexcept {
  T v;
  std::memcpy(&v, record + offset, sizeof v);
  return v;
}
template <typename T>
inline void store(std::byte* record, std::size_t offset, T v) noexcept {
  std::memcpy(record + offset, &v, sizeof v);
}
/// Where a record's name starts (after the dropped counts, if any).
[[nodiscard]] inline std::size_t name_at(const std::byte* record) noexcept {
  return kHeadSize + ((load<std::uint8_t>(record, kFlags) & kDropped) != 0 ? kDroppedSize : 0);
}
[[nodiscard]] inline std::size_t record_size(const std::byte* record) noexcept {
  if ((load<std::uint8_t>(record, kFlags) & kAside) != 0) return kHeadSize;
  const auto n = name_at(record) + load<std::uint16_t>(record, kNameLen) +
                 load<std::uint16_t>(record, kTraceStateLen) +
                 load<std::uint32_t>(record, kItemsSize);
  return (n + kAlign - 1) & ~(kAlign - 1);
}
}  // namespace packed

/// One span, buffered (a record of a PackedSpans) or decoded (a model::Span), read alike.
/// Valid while what it views is unchanged.
class SpanView {
 public:
  SpanView(const Span& span) noexcept : span_(&span) {}  // NOLINT: a span is its own view
  SpanView(const PackedSpans& trace, const std::byte* record) noexcept;

  [[nodiscard]] const TraceId& trace_id() const noexcept;
  [[nodiscard]] SpanId span_id() const noexcept {
    return span_ != nullptr ? span_->span_id : packed::load<SpanId>(record_, packed::kSpanId);
  }
  [[nodiscard]] SpanId parent_span_id() const noexcept {
    return span_ != nullptr ? span_->parent_span_id
                            : packed::load<SpanId>(record_, packed::kParent);
  }
  [[nodiscard]] std::uint64_t start_unix_ns() const noexcept {
    return span_ != nullptr ? span_->start_unix_ns
                            : packed::load<std::uint64_t>(record_, packed::kStart);
  }
  [[nodiscard]] std::uint64_t end_unix_ns() const noexcept {
    return span_ != nullptr ? span_->end_unix_ns
                            : packed::load<std::uint64_t>(record_, packed::kEnd);
  }
  [[nodiscard]] SpanKind kind() const noexcept {
    return span_ != nullptr
               ? span_->kind
               : static_cast<SpanKind>(packed::load<std::uint8_t>(record_, packed::kKind));
  }
  [[nodiscard]] StatusCode status() const noexcept {
    return span_ != nullptr
               ? span_->status
               : static_cast<StatusCode>(packed::load<std::uint8_t>(record_, packed::kStatus));
  }
  [[nodiscard]] bool parent_is_remote() const noexcept {
    return span_ != nullptr
               ? span_->parent_is_remote
               : (packed::load<std::uint8_t>(record_, packed::kFlags) & packed::kRemote) != 0;
  }
  [[nodiscard]] bool is_root() const noexcept { return parent_span_id() == SpanId{}; }
  [[nodiscard]] bool is_local_root() const noexcept { return is_root() || parent_is_remote(); }
  [[nodiscard]] std::uint64_t duration_ns() const noexcept {
    const auto start = start_unix_ns(), end = end_unix_ns();
    return end > start ? end - start : 0;
  }
  [[nodiscard]] std::string_view name() const noexcept {
    if (span_ != nullptr) return span_->name;
    return {reinterpret_cast<const char*>(record_ + packed::name_at(record_)),
            packed::load<std::uint16_t>(record_, packed::kNameLen)};
  }
  [[nodiscard]] std::string_view trace_state() const noexcept {
    if (span_ != nullptr) return span_->trace_state;
    return {reinterpret_cast<const char*>(record_ + packed::name_at(record_) +
                                          packed::load<std::uint16_t>(record_, packed::kNameLen) +
                                          packed::load<std::uint32_t>(record_, packed::kItemsSize)),
            packed::load<std::uint16_t>(record_, packed::kTraceStateLen)};
  }
  [[nodiscard]] const std::shared_ptr<const Resource>& resource() const noexcept;

  /// The span itself when it is not buffered packed (a model::Span, or one kept aside).
  [[nodiscard]] const Span* decoded() const noexcept { return span_; }
  /// Buffered packed: its trace, the record (packed:: layout), its items and their keys' table.
  [[nodiscard]] const PackedSpans* trace() const noexcept { return trace_; }
  [[nodiscard]] const std::byte* record() const noexcept { return record_; }
  [[nodiscard]] std::span<const std::byte> items() const noexcept {
    const auto at =
        packed::name_at(record_) + packed::load<std::uint16_t>(record_, packed::kNameLen);
    return {record_ + at, packed::load<std::uint32_t>(record_, packed::kItemsSize)};
  }
  [[nodiscard]] std::uint16_t item_count() const noexcept {
    return packed::load<std::uint16_t>(record_, packed::kItemCount);
  }
  [[nodiscard]] const KeyTable* keys() const noexcept;

 private:
  const Span* span_ = nullptr;
  const PackedSpans* trace_ = nullptr;
  const std::byte* record_ = nullptr;
};

/// Spans of one trace in order, decoded (a std::span of model::Span) or buffered (records of a
/// PackedSpans), as SpanViews.
class SpanList {
 public:
  class iterator {
   public:
    using value_type = SpanView;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const SpanList* list, std::size_t index, const std::byte* record) noexcept
        : list_(list), index_(index), record_(record) {}
    [[nodiscard]] SpanView operator*() const noexcept;
    iterator& operator++() noexcept {
      if (list_->trace_ != nullptr) record_ += packed::record_size(record_);
      ++index_;
      return *this;
    }
    iterator operator++(int) noexcept {
      auto before = *this;
      ++*this;
      return before;
    }
    bool operator==(const iterator& other) const noexcept { return index_ == other.index_; }

   private:
    const SpanList* list_ = nullptr;
    std::size_t index_ = 0;
    const std::byte* record_ = nullptr;
  };

  SpanList() = default;
  SpanList(std::span<const Span> spans) noexcept  // NOLINT: decoded spans are a list as they are
      : spans_(spans.data()), count_(spans.size()) {}
  SpanList(const std::vector<Span>& spans) noexcept  // NOLINT: as above
      : SpanList(std::span<const Span>(spans)) {}
  SpanList(const PackedSpans& trace, const std::byte* first, std::size_t count) noexcept
      : trace_(&trace), first_(first), count_(count) {}
  /// One span alone.
  explicit SpanList(const SpanView& span) noexcept
      : spans_(span.decoded()), trace_(span.trace()), first_(span.record()), count_(1) {}

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] iterator begin() const noexcept { return {this, 0, first_}; }
  [[nodiscard]] iterator end() const noexcept { return {this, count_, nullptr}; }
  [[nodiscard]] SpanView front() const noexcept { return *begin(); }

 private:
  const Span* spans_ = nullptr;
  const PackedSpans* trace_ = nullptr;
  const std::byte* first_ = nullptr;
  std::size_t count_ = 0;
};

class PackedSpans final {
 public:
  PackedSpans() = default;
  PackedSpans(PackedSpans&& other) noexcept { *this = std::move(other); }
  /// Takes `other`'s spans and its ledger (the resources stay named where they were).
  PackedSpans& operator=(PackedSpans&& other) noexcept;
  PackedSpans(const PackedSpans&) = delete;
  PackedSpans& operator=(const PackedSpans&) = delete;
  ~PackedSpans() { bind(nullptr); }

  [[nodiscard]] const TraceId& trace_id() const noexcept { return id_; }
  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] SpanList list() const noexcept { return {*this, block_.get(), count_}; }
  /// The span added last (not empty()).
  [[nodiscard]] SpanView back() const noexcept { return {*this, block_.get() + last_}; }
  /// Bytes the spans hold: the block (with its allocation's overhead), this object, spans kept
  /// aside. Not their resources: the ledger the trace is bound to counts those, once for all of
  /// its store's traces.
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return bytes_; }
  /// Names the trace's resources in `ledger` (null: in none) instead of where they were: the
  /// store that keeps the trace (trace table, hold) counts them. A ledger must outlive the
  /// traces bound to it.
  void bind(ResourceLedger* ledger) noexcept;
  [[nodiscard]] const ResourceLedger* ledger() const noexcept { return ledger_; }

  [[nodiscard]] const std::shared_ptr<const Resource>& resource(
      std::uint16_t index) const noexcept {
    return index == 0 ? resource_ : extras_->resources[index - 1];
  }
  [[nodiscard]] const Span& aside(std::uint32_t index) const noexcept {
    return extras_->aside[index];
  }
  [[nodiscard]] Span&& take_aside(std::uint32_t index) noexcept {
    return std::move(extras_->aside[index]);
  }
  [[nodiscard]] const KeyTable* keys() const noexcept { return keys_.get(); }

  // Writing (wire::pack): a record is begun with room for its largest size, then ended with the
  // size it took.
  /// Starts the trace: its id and the table its records' keys are in (held while the trace is:
  /// model::KeyGenerations frees an old table with its last trace).
  void start(const TraceId& id, std::shared_ptr<const KeyTable> keys) noexcept {
    id_ = id;
    keys_ = std::move(keys);
    if (bytes_ == 0) bytes_ = sizeof(PackedSpans);
  }
  [[nodiscard]] std::byte* begin_record(std::size_t max_size);
  void end_record(std::size_t size) noexcept;
  /// Room for a record begun now without growing the block.
  [[nodiscard]] std::size_t room() const noexcept { return capacity_ - used_; }
  /// Appends a record written elsewhere (when room() was short of its largest size), growing the
  /// block to hold it and `reserve` bytes more.
  void append_record(const std::byte* record, std::size_t size, std::size_t reserve);
  /// The index records name `resource` by (a new one named in the ledger); nullopt past 65,535.
  [[nodiscard]] std::optional<std::uint16_t> resource_index(
      const std::shared_ptr<const Resource>& resource);
  /// Keeps a span whole, as it is, with a record that names it.
  void add_aside(Span&& span);

 private:
  struct FreeBlock {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  struct Extras {
    std::vector<std::shared_ptr<const Resource>> resources;  ///< after the first
    std::vector<Span> aside;
  };
  /// Grows the block to at least `need` bytes (by half again once past 1 KiB).
  void grow(std::size_t need);
  Extras& extras();
  /// Calls `f` with each distinct resource the trace names.
  template <typename F>
  void each_resource(F&& f) const {
    if (resource_ != nullptr) f(resource_.get());
    if (extras_) {
      for (const auto& r : extras_->resources) {
        if (r != nullptr) f(r.get());
      }
    }
  }

  TraceId id_{};
  std::uint32_t used_ = 0;
  std::uint32_t capacity_ = 0;
  std::unique_ptr<std::byte, FreeBlock> block_;
  std::uint32_t count_ = 0;
  std::uint32_t last_ = 0;                    ///< offset of the last record
  std::shared_ptr<const Resource> resource_;  ///< the first: most traces have one producer
  std::unique_ptr<Extras> extras_;
  std::shared_ptr<const KeyTable> keys_;
  ResourceLedger* ledger_ = nullptr;
  std::size_t bytes_ = 0;
};

inline SpanView::SpanView(const PackedSpans& trace, const std::byte* record) noexcept {
  if ((packed::load<std::uint8_t>(record, packed::kFlags) & packed::kAside) != 0) {
    span_ = &trace.aside(packed::load<std::uint32_t>(record, packed::kItemsSize));
  } else {
    trace_ = &trace;
    record_ = record;
  }
}

inline const TraceId& SpanView::trace_id() const noexcept {
  return span_ != nullptr ? span_->trace_id : trace_->trace_id();
}

inline const std::shared_ptr<const Resource>& SpanView::resource() const noexcept {
  return span_ != nullptr
             ? span_->resource
             : trace_->resource(packed::load<std::uint16_t>(record_, packed::kResource));
}

inline const KeyTable* SpanView::keys() const noexcept {
  return trace_ != nullptr ? trace_->keys() : nullptr;
}

inline SpanView SpanList::iterator::operator*() const noexcept {
  if (list_->trace_ != nullptr) return {*list_->trace_, record_};
  return {list_->spans_[index_]};
}

/// Heap bytes of a resource's attributes and scope, for its share in a trace's bytes.
[[nodiscard]] std::size_t memory_bytes(const Resource& resource) noexcept;

}  // namespace tailgate::model
