#include "receivers/jaeger_batch_view.hpp"

#include "receivers/thrift_binary_reader.hpp"
#include "receivers/thrift_compact_reader.hpp"

namespace tailgate::receivers::jaeger {
namespace {

using thrift::FieldHeader;
using thrift::Type;

// Reads the IDL's structs with one protocol's reader, as the generated code reads them.
template <typename Reader>
class BatchReader {
 public:
  BatchReader(Reader& r, BatchView& out) : r_(r), out_(out) {}

  void args() {
    for_each_field([&](const FieldHeader& h) {
      if (h.id == 1 && h.type == Type::Struct) {
        batch();
      } else {
        skip(h);
      }
    });
  }

 private:
  // Calls on_field for each field of a struct until its stop, then leaves the struct.
  template <typename OnField>
  void for_each_field(OnField&& on_field) {
    if (!r_.enter()) return;
    std::int16_t last_id = 0;
    for (;;) {
      const auto h = r_.field_begin(last_id);
      if (!r_.ok() || h.type == Type::Stop) break;
      on_field(h);
      if (!r_.ok()) break;
    }
    r_.leave();
  }

  void skip(const FieldHeader& h) { skip(h.type, &h); }
  // Moves past a value of `type`; `field`: the header it came in (a compact bool's value is there).
  void skip(Type type, const FieldHeader* field) {
    if (!r_.enter()) return;
    switch (type) {
      case Type::Bool:
        r_.boolean(field);
        break;
      case Type::Byte:
        r_.i8();
        break;
      case Type::I16:
        r_.i16();
        break;
      case Type::I32:
        r_.i32();
        break;
      case Type::I64:
        r_.i64();
        break;
      case Type::Double:
        r_.f64();
        break;
      case Type::String:
        r_.binary();
        break;
      case Type::Struct:
        r_.leave();  // for_each_field counts the struct's own level
        for_each_field([&](const FieldHeader& h) { skip(h); });
        return;
      case Type::Map: {
        const auto m = r_.map_begin();
        for (std::uint32_t i = 0; i < m.count && r_.ok(); ++i) {
          skip(m.element, nullptr);
          skip(m.value, nullptr);
        }
        break;
      }
      case Type::Set:
      case Type::List: {
        const auto l = r_.list_begin();
        for (std::uint32_t i = 0; i < l.count && r_.ok(); ++i) skip(l.element, nullptr);
        break;
      }
      default:
        r_.fail("invalid TType");
        break;
    }
    r_.leave();
  }

  // A list of structs (whatever element type it says: the generated code reads structs), each
  // read by read_element into a new element of `pool`.
  template <typename Element, typename ReadElement>
  Range list(std::vector<Element>& pool, ReadElement&& read_element) {
    const auto l = r_.list_begin();
    Range range{.first = static_cast<std::uint32_t>(pool.size()), .count = 0};
    // An element's own lists go to other pools: the element stays where it is while read.
    for (; range.count < l.count && r_.ok(); ++range.count) read_element(pool.emplace_back());
    return range;
  }

  void require(bool present) {
    if (!present) r_.fail("Invalid data: a required field is missing");
  }

  void batch() {
    bool process = false, spans = false;
    for_each_field([&](const FieldHeader& h) {
      if (h.id == 1 && h.type == Type::Struct) {
        process = true;
        read_process();
      } else if (h.id == 2 && h.type == Type::List) {
        spans = true;
        out_.batch_spans = list(out_.spans, [this](SpanView& s) { span(s); });
      } else if (h.id == 3 && h.type == Type::I64) {
        r_.i64();  // seqNo
      } else if (h.id == 4 && h.type == Type::Struct) {
        out_.has_stats = true;
        stats();
      } else {
        skip(h);
      }
    });
    require(process && spans);
  }

  void read_process() {
    bool service_name = false;
    for_each_field([&](const FieldHeader& h) {
      if (h.id == 1 && h.type == Type::String) {
        service_name = true;
        out_.service_name = r_.binary();
      } else if (h.id == 2 && h.type == Type::List) {
        out_.process_tags = tags();
      } else {
        skip(h);
      }
    });
    require(service_name);
  }

  void stats() {
    bool seen[4] = {};
    for_each_field([&](const FieldHeader& h) {
      if (h.type != Type::I64 || h.id < 1 || h.id > 3) return skip(h);
      seen[h.id] = true;
      (h.id == 1   ? out_.full_queue_dropped
       : h.id == 2 ? out_.too_large_dropped
                   : out_.failed_to_emit) = r_.i64();
    });
    require(seen[1] && seen[2] && seen[3]);
  }

  Range tags() {
    return list(out_.tags, [this](TagView& t) { tag(t); });
  }

  void tag(TagView& t) {
    bool key = false, type = false;
    for_each_field([&](const FieldHeader& h) {
      const auto expected = h.id == 2   ? Type::I32
                            : h.id == 4 ? Type::Double
                            : h.id == 5 ? Type::Bool
                            : h.id == 6 ? Type::I64
                                        : Type::String;
      if (h.id < 1 || h.id > 7 || h.type != expected) return skip(h);
      switch (h.id) {
        case 1:
          t.key = r_.binary();
          key = true;
          break;
        case 2:
          t.type = r_.i32();
          type = true;
          break;
        case 3:
          t.str = r_.binary();
          t.has_str = true;
          break;
        case 4:
          t.f64 = r_.f64();
          break;
        case 5:
          t.boolean = r_.boolean(&h);
          break;
        case 6:
          t.i64 = r_.i64();
          break;
        default:
          t.binary = r_.binary();
          break;
      }
    });
    require(key && type);
  }

  void log(LogView& l) {
    bool timestamp = false, fields = false;
    for_each_field([&](const FieldHeader& h) {
      if (h.id == 1 && h.type == Type::I64) {
        l.timestamp = r_.i64();
        timestamp = true;
      } else if (h.id == 2 && h.type == Type::List) {
        l.fields = tags();
        fields = true;
      } else {
        skip(h);
      }
    });
    require(timestamp && fields);
  }

  void reference(RefView& ref) {
    bool seen[4] = {};
    for_each_field([&](const FieldHeader& h) {
      if (h.id < 1 || h.id > 4 || h.type != (h.id == 1 ? Type::I32 : Type::I64)) return skip(h);
      seen[h.id - 1] = true;
      if (h.id == 1) {
        ref.type = r_.i32();
      } else {
        (h.id == 2 ? ref.trace_low : h.id == 3 ? ref.trace_high : ref.span_id) = r_.i64();
      }
    });
    require(seen[0] && seen[1] && seen[2] && seen[3]);
  }

  void span(SpanView& s) {
    // Fields 1-4 and 8-9 are i64, 5 a string, 7 an i32, 6 and 10-11 lists; 1-5 and 7-9 required.
    static constexpr Type kTypes[12] = {Type::Stop, Type::I64,    Type::I64,  Type::I64,
                                        Type::I64,  Type::String, Type::List, Type::I32,
                                        Type::I64,  Type::I64,    Type::List, Type::List};
    bool seen[12] = {};
    for_each_field([&](const FieldHeader& h) {
      if (h.id < 1 || h.id > 11 || h.type != kTypes[h.id]) return skip(h);
      seen[h.id] = true;
      switch (h.id) {
        case 1:
          s.trace_low = r_.i64();
          break;
        case 2:
          s.trace_high = r_.i64();
          break;
        case 3:
          s.span_id = r_.i64();
          break;
        case 4:
          s.parent_span_id = r_.i64();
          break;
        case 5:
          s.operation_name = r_.binary();
          break;
        case 6:
          s.references = list(out_.refs, [this](RefView& ref) { reference(ref); });
          break;
        case 7:
          s.flags = r_.i32();
          break;
        case 8:
          s.start_time = r_.i64();
          break;
        case 9:
          s.duration = r_.i64();
          break;
        case 10:
          s.tags = tags();
          break;
        default:
          s.logs = list(out_.logs, [this](LogView& l) { log(l); });
          break;
      }
    });
    require(seen[1] && seen[2] && seen[3] && seen[4] && seen[5] && seen[7] && seen[8] && seen[9]);
  }

  Reader& r_;
  BatchView& out_;
};

template <typename Reader>
std::string read_with(std::span<const std::byte> datagram, BatchView& out) {
  Reader r(datagram.data(), datagram.size());
  const auto header = r.message_begin();
  if (!r.ok()) return std::string(r.error());
  if (header.name != "emitBatch") {
    // emitZipkinBatch (Zipkin's own format) is not served.
    return "unsupported call " + std::string(header.name.substr(0, 64));
  }
  if (header.type != thrift::kOneway && header.type != thrift::kCall) {
    return "not a call: message type " + std::to_string(header.type);
  }
  BatchReader<Reader>(r, out).args();
  return std::string(r.error());
}

}  // namespace

void BatchView::clear() noexcept {
  service_name = {};
  process_tags = {};
  batch_spans = {};
  has_stats = false;
  full_queue_dropped = too_large_dropped = failed_to_emit = 0;
  tags.clear();
  logs.clear();
  refs.clear();
  spans.clear();
}

std::string read_emit_batch(std::span<const std::byte> datagram, Protocol protocol,
                            BatchView& out) {
  out.clear();
  return protocol == Protocol::Compact ? read_with<thrift::CompactReader>(datagram, out)
                                       : read_with<thrift::BinaryReader>(datagram, out);
}

}  // namespace tailgate::receivers::jaeger
