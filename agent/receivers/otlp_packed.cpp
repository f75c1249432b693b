#include "receivers/otlp_packed.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "receivers/decode_budget.hpp"
#include "receivers/otlp_packed_items.hpp"
#include "receivers/protowire.hpp"
#include "wire/encode.hpp"

namespace tailgate::receivers::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
namespace resource = opentelemetry::proto::resource::v1;
using packed::check;
using packed::fits16;
using packed::for_each_field;
using packed::ItemBuffer;
using packed::KeyValueView;
using packed::read_key_value;
using packed::skip;
using packed::valid;
using packed::Value;
using packed::write_attributes;
using protowire::Field;
using protowire::Message;
using protowire::Reader;

// What a span's fields say once read: views into the request.
struct SpanFields {
  std::string_view trace_id, span_id, parent_span_id, trace_state, name, status_message;
  std::uint64_t start = 0, end = 0;
  std::uint32_t flags = 0, dropped_attributes = 0, dropped_events = 0;
  int kind = 0, status_code = 0;
};

// Decodes one request, span by span, into `out` (spans it cannot pack go through map_span).
class Decoder {
 public:
  Decoder(model::SpanBatch& out, IngestResult& result, std::size_t request_bytes)
      : budget_(DecodeBudget::for_protobuf(request_bytes)), out_(out), result_(result) {}

  /// Why request() refused a request it could read, if that was the reason.
  [[nodiscard]] const std::string& refusal() const noexcept { return refusal_; }

  // False when the request is refused: one protowire::validate() refuses (every field is checked
  // as it refuses them, in this one pass), or one refusal() says why.
  bool request(std::string_view bytes) {
    return for_each_field(bytes, Message::Request, protowire::kMaxDepth,
                          [this](Reader& r, std::uint32_t, const Field&) {
                            std::string_view body;
                            return r.bytes(body) && resource_spans(body, protowire::kMaxDepth - 1);
                          });
  }

 private:
  // `depth`, here and below: the levels of nesting left below the message read, as validate()
  // counts them.
  // The resource comes first, wherever it is in the message (and merged if sent in parts).
  bool resource_spans(std::string_view bytes, int depth) {
    std::string resource_bytes;
    const auto resource = [&](Reader& r, std::uint32_t number, const Field& field) {
      std::string_view body;
      if (number == 2) return skip(r, number, field);  // read below
      if (number != 1) return check(r, number, field, depth);
      if (!r.bytes(body) || !valid(body, Message::Resource, depth - 1)) return false;
      resource_bytes.append(body);  // parts of one message are merged: their bytes appended
      return true;
    };
    resource::Resource parsed;
    if (!for_each_field(bytes, Message::ResourceSpans, depth, resource) ||
        !within_budget(resource_bytes, Message::Resource) ||
        !parsed.ParseFromString(resource_bytes)) {
      return false;
    }
    const auto attributes = attributes_of(parsed.attributes());
    return for_each_field(bytes, Message::ResourceSpans, depth,
                          [&](Reader& r, std::uint32_t number, const Field& field) {
                            std::string_view body;
                            if (number != 2) return skip(r, number, field);
                            return r.bytes(body) && within_copies(resource_bytes.size()) &&
                                   scope_spans(body, attributes, depth - 1);
                          });
  }

  // The resource is copied for each scope's spans: bounded per request (decode_budget.hpp).
  bool within_copies(std::size_t resource_size) {
    if (budget_.spend_resource_copy(resource_size)) return true;
    refusal_ = DecodeBudget::kRefusal;
    return false;
  }

  // A message parsed and mapped item by item (a resource, a span kept decoded), counted before:
  // the messages in it (itself is made as for any request: an empty resource costs nothing).
  bool within_budget(std::string_view bytes, Message m) {
    if (budget_.spend_decoded(protowire::count_messages(bytes, m) - 1, bytes.size())) return true;
    refusal_ = DecodeBudget::kItemsRefusal;
    return false;
  }

  bool scope_spans(std::string_view bytes, const std::vector<model::Attribute>& attributes,
                   int depth) {
    model::InstrumentationScope scope;
    bool spans = false;
    const auto read_scope = [&](Reader& r, std::uint32_t number, const Field& field) {
      std::string_view body;
      if (number == 2) {  // read below
        spans = true;
        return skip(r, number, field);
      }
      if (number != 1) return check(r, number, field, depth);
      return r.bytes(body) && scope_of(body, depth - 1, scope);
    };
    if (!for_each_field(bytes, Message::ScopeSpans, depth, read_scope)) return false;
    if (!spans) return true;
    const auto shared = intern(model::Resource{attributes, std::move(scope)});
    return for_each_field(bytes, Message::ScopeSpans, depth,
                          [&](Reader& r, std::uint32_t number, const Field& field) {
                            std::string_view body;
                            if (number != 2) return skip(r, number, field);
                            return r.bytes(body) && span(body, shared, depth - 1);
                          });
  }

  // Scalars of a message sent in parts: the last one sent wins, as protobuf merges them.
  static bool scope_of(std::string_view bytes, int depth, model::InstrumentationScope& scope) {
    return for_each_field(bytes, Message::Scope, depth,
                          [&](Reader& r, std::uint32_t number, const Field& field) {
                            std::string_view body;
                            if (number > 2) return check(r, number, field, depth);
                            if (!r.bytes(body) || !protowire::valid_utf8(body)) return false;
                            (number == 1 ? scope.name : scope.version).assign(body);
                            return true;
                          });
  }

  std::shared_ptr<const model::Resource> intern(model::Resource&& resource) {
    for (const auto& known : resources_) {
      if (*known == resource) return known;
    }
    auto made = std::make_shared<const model::Resource>(std::move(resource));
    if (resources_.size() < kMaxInterned) resources_.push_back(made);
    return made;
  }

  bool span(std::string_view bytes, const std::shared_ptr<const model::Resource>& resource,
            int depth) {
    items_.clear();
    SpanFields f;
    const auto packed = read_span(bytes, depth, f);
    if (!packed) return false;
    // Made in place (the batch was reserved for the request's spans), taken back if refused.
    auto& span = out_.emplace_back();
    if (*packed == Packing::Unpackable) {
      // Beyond the item encoding (or invalid: read_span stops checking a span it cannot pack):
      // checked whole, then mapped as from_otlp maps it, and kept decoded.
      trace::Span parsed;
      if (!valid(bytes, Message::Span, depth) || !within_budget(bytes, Message::Span) ||
          !parsed.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        out_.pop_back();
        return false;
      }
      if (const auto refused = map_span(parsed, span)) {
        out_.pop_back();
        note_refusal(*refused, result_);
        return true;
      }
    } else {
      if (const auto refused = map_ids(f.trace_id, f.span_id, f.parent_span_id, span)) {
        out_.pop_back();
        note_refusal(*refused, result_);
        return true;
      }
      span.name.assign(f.name);
      span.start_unix_ns = f.start;
      span.end_unix_ns = f.end;
      span.dropped_attributes = f.dropped_attributes;
      span.dropped_events = f.dropped_events;
      map_codes(f.flags, f.kind, f.status_code, span);
      span.packed = items_.packed();
    }
    span.resource = resource;
    ++result_.spans;
    return true;
  }

  enum class Packing : std::uint8_t { Packed, Unpackable };

  // Reads a span's fields and writes its items; nullopt if it is malformed. Checks what it reads
  // until it finds the span unpackable (then the span is checked whole).
  std::optional<Packing> read_span(std::string_view bytes, int depth, SpanFields& f) {
    bool fits = true;
    const auto step = [&](Reader& r, std::uint32_t number, const Field&) -> bool {
      std::uint64_t n = 0;
      std::uint32_t n32 = 0;
      std::string_view body;
      switch (number) {
        case 6:
        case 10:
        case 12:
        case 14:
          if (!r.varint(n)) return false;
          // Enums and uint32 keep the varint's low 32 bits, as protobuf does.
          if (number == 6) f.kind = static_cast<int>(static_cast<std::uint32_t>(n));
          if (number == 10) f.dropped_attributes = static_cast<std::uint32_t>(n);
          if (number == 12) f.dropped_events = static_cast<std::uint32_t>(n);
          return true;
        case 7:
          return r.fixed64(f.start);
        case 8:
          return r.fixed64(f.end);
        case 16:
          if (!r.fixed32(n32)) return false;
          f.flags = n32;
          return true;
        default:
          break;
      }
      if (!r.bytes(body)) return false;
      switch (number) {
        case 1:
          f.trace_id = body;
          break;
        case 2:
          f.span_id = body;
          break;
        case 3:
          f.trace_state = body;
          return protowire::valid_utf8(body);
        case 4:
          f.parent_span_id = body;
          break;
        case 5:
          f.name = body;
          return protowire::valid_utf8(body);
        case 9:
          fits = fits && attribute(body, depth - 1);
          break;
        case 11:
          fits = fits && event(body, depth - 1);
          break;
        case 13:
          fits = fits && link(body, depth - 1);
          break;
        case 15:
          return status(body, depth - 1, f);
        default:
          break;
      }
      return true;
    };
    if (!for_each_field(bytes, Message::Span, depth, step)) return std::nullopt;
    if (!f.status_message.empty()) {
      fits = fits && fits16(f.status_message) && items_.add([&f](wire::ByteWriter& w) {
        w.u8(static_cast<std::uint8_t>(wire::ItemTag::StatusMessage));
        w.str16(f.status_message);
      });
    }
    if (!f.trace_state.empty()) {
      fits = fits && fits16(f.trace_state) && items_.add([&f](wire::ByteWriter& w) {
        w.u8(static_cast<std::uint8_t>(wire::ItemTag::TraceState));
        w.str16(f.trace_state);
      });
    }
    return fits ? Packing::Packed : Packing::Unpackable;
  }

  static bool status(std::string_view bytes, int depth, SpanFields& f) {
    return for_each_field(
        bytes, Message::Status, depth, [&f](Reader& r, std::uint32_t number, const Field&) {
          std::uint64_t code = 0;
          if (number == 2) {
            return r.bytes(f.status_message) && protowire::valid_utf8(f.status_message);
          }
          if (!r.varint(code)) return false;
          f.status_code = static_cast<int>(static_cast<std::uint32_t>(code));
          return true;
        });
  }

  bool attribute(std::string_view bytes, int depth) {
    std::string_view key;
    Value value;
    if (!read_key_value(bytes, depth, key, value)) return false;
    return items_.add([&](wire::ByteWriter& w) {
      w.u8(static_cast<std::uint8_t>(wire::ItemTag::Attribute));
      w.str16(key);
      value.write(w);
    });
  }

  // The attributes of an event or a link (field `number` of `m`), into attributes_; false past
  // the encoding's count, read no further (the span is then checked and counted whole).
  bool nested_attributes(std::string_view bytes, Message m, std::uint32_t attributes_field,
                         int depth) {
    attributes_.clear();
    return for_each_field(
        bytes, m, depth, [&](Reader& r, std::uint32_t number, const Field& field) {
          std::string_view body;
          if (number != attributes_field) return skip(r, number, field);
          if (attributes_.size() == wire::kMaxEventAttributes) return false;
          auto& kv = attributes_.emplace_back();
          return r.bytes(body) && read_key_value(body, depth - 1, kv.key, kv.value);
        });
  }

  bool event(std::string_view bytes, int depth) {
    std::uint64_t time = 0;
    std::string_view name;
    const auto read = [&](Reader& r, std::uint32_t number, const Field& field) {
      if (number == 1) return r.fixed64(time);
      if (number == 2) return r.bytes(name) && protowire::valid_utf8(name);
      return skip(r, number, field);  // the attributes, read below; a scalar
    };
    if (!for_each_field(bytes, Message::Event, depth, read) || !fits16(name) ||
        !nested_attributes(bytes, Message::Event, 3, depth))
      return false;
    return items_.add([&](wire::ByteWriter& w) {
      w.u8(static_cast<std::uint8_t>(wire::ItemTag::Event));
      w.u64(time);
      w.str16(name);
      write_attributes(w, attributes_);
    });
  }

  bool link(std::string_view bytes, int depth) {
    std::string_view trace_id, span_id, trace_state;
    const auto read = [&](Reader& r, std::uint32_t number, const Field& field) {
      std::string_view body;
      if (number > 3) return skip(r, number, field);  // the attributes, read below; scalars
      if (!r.bytes(body)) return false;
      (number == 1 ? trace_id : number == 2 ? span_id : trace_state) = body;
      return number != 3 || protowire::valid_utf8(body);
    };
    if (!for_each_field(bytes, Message::Link, depth, read)) return false;
    model::Link ids;
    if (!id_of(trace_id, ids.trace_id) || !id_of(span_id, ids.span_id)) {
      return valid(bytes, Message::Link, depth);  // left out, as from_otlp does, once checked
    }
    if (!fits16(trace_state) || !nested_attributes(bytes, Message::Link, 4, depth)) return false;
    return items_.add([&](wire::ByteWriter& w) {
      w.u8(static_cast<std::uint8_t>(wire::ItemTag::Link));
      w.bytes(ids.trace_id.data(), ids.trace_id.size());
      w.bytes(ids.span_id.data(), ids.span_id.size());
      w.str16(trace_state);
      write_attributes(w, attributes_);
    });
  }

  static constexpr std::size_t kMaxInterned = 16;
  DecodeBudget budget_;
  std::string refusal_;
  model::SpanBatch& out_;
  IngestResult& result_;
  ItemBuffer items_;
  std::vector<KeyValueView> attributes_;
  std::vector<std::shared_ptr<const model::Resource>> resources_;
};

}  // namespace

std::string from_otlp_bytes(std::string_view bytes, model::SpanBatch& out, IngestResult& result) {
  const auto before = out.size();
  out.reserve(before +
              protowire::count_spans(bytes));  // else the batch moves its spans each time it grows
  Decoder decoder(out, result, bytes.size());
  if (decoder.request(bytes)) return {};
  // Refused whole. The decoder checked as validate() does, not in its order: validate() says
  // which problem a request has first, as it did before anything was decoded.
  out.resize(before);
  result = {};
  std::size_t spans = 0;
  if (const auto problem = protowire::validate(bytes, Message::Request, spans);
      problem != protowire::Problem::None) {
    return std::string(protowire::to_string(problem));
  }
  return decoder.refusal().empty() ? "not an OTLP ExportTraceServiceRequest" : decoder.refusal();
}

BytesAnswer accept_bytes(std::string_view bytes, model::SpanQueue& out,
                         telemetry::Counters& counters, telemetry::Receiver receiver) {
  model::SpanBatch batch;
  IngestResult result;
  if (auto why = from_otlp_bytes(bytes, batch, result); !why.empty()) {
    return {.malformed = std::move(why), .response = std::nullopt};
  }
  return {.malformed = {}, .response = respond(batch, result, out, counters, receiver)};
}

}  // namespace tailgate::receivers::otlp
