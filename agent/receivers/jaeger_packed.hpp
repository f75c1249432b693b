#pragma once
// Jaeger emitBatch datagrams straight into spans, without Apache Thrift's objects: the datagram
// is read as views into it (jaeger_batch_view.hpp), and each span's items (attributes, events
// from logs, links from references, status message, trace state) are written in the record
// format's item encoding (model::PackedItems), as the ring's spans arrive, and decoded only when
// the span is kept. The result is decode_emit_batch_thrift's (the libthrift reference), field for
// field once unpacked: the same datagrams refused, the same spans refused for their ids, the same
// client stats. A span the item encoding cannot hold (a string over 65,535 bytes, a log of over
// 255 fields, over 65,535 items) is mapped by the same rules into decoded fields instead.
// Resources are shared by the spans of a datagram, and by the next datagrams while they are equal.
// Owned by one receiver thread (its buffers are kept from one datagram to the next).

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "receivers/jaeger_batch_view.hpp"
#include "receivers/jaeger_thrift.hpp"
#include "wire/encode.hpp"
#include "wire/span_record.hpp"

namespace tailgate::receivers::jaeger {

/// One span's items, written in the record format's item encoding into a buffer kept between
/// spans. Each writer returns false, writing nothing, for what the encoding cannot hold.
class ItemWriter final {
 public:
  void clear() noexcept {
    used_ = 0;
    count_ = 0;
  }
  bool attribute(const TagView& tag);
  bool link(const model::TraceId& trace_id, const model::SpanId& span_id,
            std::string_view ref_type);
  bool event(std::uint64_t time_unix_ns, std::string_view name,
             std::span<const TagView* const> attributes);
  bool status_message(std::string_view text);
  bool trace_state(std::string_view text);
  [[nodiscard]] model::PackedItems packed() const;

 private:
  // Writes one item of exactly `size` bytes with `write(ByteWriter&)`.
  template <typename Write>
  bool add(std::size_t size, Write&& write);
  bool text_item(wire::ItemTag tag, std::string_view text);
  void key_value(wire::ByteWriter& w, const TagView& tag);

  std::vector<std::byte> bytes_;
  std::size_t used_ = 0;
  std::size_t count_ = 0;
  std::string base64_;  ///< a binary tag's text while it is written
};

class PackedDecoder final {
 public:
  /// decode_emit_batch with this decoder's buffers.
  DecodeResult decode(std::span<const std::byte> datagram, Protocol protocol,
                      model::SpanBatch& out);

 private:
  void map_span(const SpanView& in, model::Span& span);
  std::shared_ptr<const model::Resource> resource();
  [[nodiscard]] std::optional<ClientStats> client_stats() const;

  BatchView view_;
  ItemWriter items_;
  std::vector<const TagView*> event_attributes_;
  std::shared_ptr<const model::Resource> resource_;  ///< the last one made: reused while equal
  bool resource_current_ = false;                    ///< resource_ is this datagram's
};

}  // namespace tailgate::receivers::jaeger
