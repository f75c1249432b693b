// The packed Jaeger decoder against the libthrift reference (tests/support/jaeger_compare.hpp), in
// both protocols: realistic batches written by Thrift's own writer, every cut and every changed
// byte of one, and the edge cases of the Thrift readers by hand (fields twice or of the wrong
// type, nesting at the depth limit, lists claiming more than the datagram, message headers, bytes
// that are not UTF-8, values beyond the item encoding).
#include "receivers/jaeger_packed.hpp"

#include <cmath>
#include <functional>
#include <limits>

#include <catch2/catch.hpp>

#include "support/jaeger_compare.hpp"
#include "support/jaeger_datagrams.hpp"

using namespace tailgate;
using namespace tailgate::testing::jaeger_datagrams;
using testing::compare_jaeger;

namespace {

const auto kProtocols = {Protocol::Compact, Protocol::Binary};

#define REQUIRE_SAME(datagram, protocol)                          \
  do {                                                            \
    const auto compared = compare_jaeger((datagram), (protocol)); \
    INFO(compared.difference);                                    \
    REQUIRE(compared.difference.empty());                         \
  } while (false)

}  // namespace

TEST_CASE("packed Jaeger spans are the reference's, field for field, on realistic batches",
          "[receivers][jaeger]") {
  for (const auto protocol : kProtocols) {
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
      const auto datagram = emit_batch(protocol, realistic_batch(seed, 40));
      const auto compared = compare_jaeger(datagram, protocol);
      INFO("seed " << seed << ": " << compared.difference);
      REQUIRE(compared.difference.empty());
      CHECK(compared.spans == 40);
      CHECK(compared.packed_spans == 40);  // none needed the decoded fallback
    }
  }
}

TEST_CASE("a packed Jaeger span carries its items packed until it is kept", "[receivers][jaeger]") {
  model::SpanBatch out;
  const auto r = receivers::jaeger::decode_emit_batch(emit_batch(Protocol::Compact, sample_batch()),
                                                      Protocol::Compact, out);
  REQUIRE(r.spans == 2);
  CHECK(out[1].attributes.empty());  // still packed: venue is in the items
  CHECK(!out[1].packed.empty());
  CHECK(out[1].status == model::StatusCode::Error);  // fields the policies read are set
  CHECK(out[1].parent_span_id != model::SpanId{});
  REQUIRE(wire::unpack(out[1]) == wire::DecodeError::None);
  CHECK(out[1].attributes.size() == 1);
  CHECK(out[1].events.size() == 1);
  CHECK(out[1].links.size() == 1);
}

// Found by an outside attack: the decoder reuses the last datagram's resource while it is equal,
// and with == on doubles a sender's w=-0.0 left under another sender's w=0.0.
TEST_CASE("a process tag of -0.0 is not another sender's 0.0", "[receivers][jaeger]") {
  receivers::jaeger::PackedDecoder decoder;
  const auto resource_with = [&decoder](double w) {
    auto batch = sample_batch();
    batch.process.tags.push_back(tag("w", w));
    model::SpanBatch out;
    REQUIRE(decoder.decode(emit_batch(Protocol::Compact, batch), Protocol::Compact, out).spans ==
            2);
    return out[0].resource;
  };
  const auto zero = resource_with(0.0);
  CHECK(resource_with(0.0) == zero);  // the same resource, shared while unchanged
  const auto negative = resource_with(-0.0);
  REQUIRE(negative != zero);
  CHECK(std::signbit(std::get<double>(negative->attributes.back().value)));
  CHECK_FALSE(*negative == *zero);
  const model::Attribute nan{"x", std::numeric_limits<double>::quiet_NaN()};
  CHECK(nan == nan);  // the same bits: the same data
}

TEST_CASE("packed Jaeger decoding agrees on every cut and every changed byte of a datagram",
          "[receivers][jaeger]") {
  for (const auto protocol : kProtocols) {
    const auto whole = emit_batch(protocol, realistic_batch(7, 3));
    for (std::size_t n = 0; n <= whole.size(); ++n) {
      INFO("cut at " << n);
      REQUIRE_SAME(std::span(whole).first(n), protocol);
    }
    auto changed = whole;
    for (std::size_t at = 0; at < whole.size(); ++at) {
      for (const int v :
           {0x00, 0x01, 0x0F, 0x7F, 0x80, 0xFF, (static_cast<int>(whole[at]) ^ 0x10)}) {
        changed[at] = static_cast<std::byte>(v);
        INFO("byte " << at << " set to " << v);
        REQUIRE_SAME(changed, protocol);
      }
      changed[at] = whole[at];
    }
  }
}

TEST_CASE("packed Jaeger decoding reads fields twice, of the wrong type and unknown as Thrift does",
          "[receivers][jaeger]") {
  const auto batch = sample_batch();
  for (const auto protocol : kProtocols) {
    SECTION("a struct sent twice is read again into the same struct; a list, replaced") {
      idl::Process second;
      second.serviceName = "renamed";  // no tags: the first's stay
      REQUIRE_SAME(hand_written(protocol,
                                [&](auto& p) {
                                  write_process(p, batch.process);
                                  write_spans(p, {batch.spans[1]});
                                  write_process(p, second);
                                  write_spans(p, batch.spans);
                                }),
                   protocol);
    }
    SECTION("a field of the wrong type is skipped, and its value stays unset") {
      const auto datagram = hand_written(protocol, [&](auto& p) {
        write_process(p, batch.process);
        p.writeFieldBegin("spans", thrift::protocol::T_LIST, 2);
        p.writeListBegin(thrift::protocol::T_STRUCT, 1);
        auto s = batch.spans[0];
        s.__isset.tags = false;
        p.writeStructBegin("Span");
        s.write(&p);  // a whole span, then more fields in a struct of its own: skipped below
        p.writeStructEnd();
        p.writeListEnd();
        p.writeFieldEnd();
        p.writeFieldBegin("seqNo", thrift::protocol::T_STRING, 3);  // i64 in the IDL
        p.writeString("seven");
        p.writeFieldEnd();
      });
      REQUIRE_SAME(datagram, protocol);
    }
    SECTION("unknown fields of every type are skipped") {
      const auto datagram = hand_written(protocol, [&](auto& p) {
        write_process(p, batch.process);
        p.writeFieldBegin("x", thrift::protocol::T_MAP, 40);
        p.writeMapBegin(thrift::protocol::T_STRING, thrift::protocol::T_BOOL, 2);
        p.writeString("a");
        p.writeBool(true);
        p.writeString("b");
        p.writeBool(false);
        p.writeMapEnd();
        p.writeFieldEnd();
        p.writeFieldBegin("y", thrift::protocol::T_SET, 41);
        p.writeSetBegin(thrift::protocol::T_DOUBLE, 2);
        p.writeDouble(1.5);
        p.writeDouble(-0.0);
        p.writeSetEnd();
        p.writeFieldEnd();
        p.writeFieldBegin("z", thrift::protocol::T_LIST, 300);
        p.writeListBegin(thrift::protocol::T_BOOL, 3);
        p.writeBool(true);
        p.writeBool(false);
        p.writeBool(true);
        p.writeListEnd();
        p.writeFieldEnd();
        p.writeFieldBegin("w", thrift::protocol::T_BOOL, 7);
        p.writeBool(true);
        p.writeFieldEnd();
        p.writeFieldBegin("v", thrift::protocol::T_I16, -3);
        p.writeI16(-300);
        p.writeFieldEnd();
        p.writeFieldBegin("u", thrift::protocol::T_BYTE, 8);
        p.writeByte(-1);
        p.writeFieldEnd();
        write_spans(p, batch.spans);
      });
      REQUIRE_SAME(datagram, protocol);
    }
    SECTION("enum values the IDL lacks") {
      const auto datagram = hand_written(protocol, [&](auto& p) {
        write_process(p, batch.process);
        write_list(p, 2, 1, [&] {
          write_span(p, [&] {
            write_list(p, 10, 1, [&] {  // a tag of type 9: keeps the text sent with it
              p.writeStructBegin("Tag");
              write_string(p, 1, "odd");
              write_i32(p, 2, 9);
              write_string(p, 3, "text");
              p.writeFieldStop();
              p.writeStructEnd();
            });
            write_list(p, 6, 1, [&] {  // a reference of type -4: a link, as child_of
              p.writeStructBegin("SpanRef");
              write_i32(p, 1, -4);
              for (const int id : {2, 3, 4}) {
                p.writeFieldBegin("i64", thrift::protocol::T_I64, static_cast<std::int16_t>(id));
                p.writeI64(id);
                p.writeFieldEnd();
              }
              p.writeFieldStop();
              p.writeStructEnd();
            });
          });
        });
      });
      const auto compared = compare_jaeger(datagram, protocol);
      INFO(compared.difference);
      REQUIRE(compared.difference.empty());
      CHECK(compared.spans == 1);
    }
  }
}

TEST_CASE("packed Jaeger decoding refuses nesting where the reference does",
          "[receivers][jaeger]") {
  // A tag (depth 4) with an unknown field holding structs nested `depth` deep.
  for (const auto protocol : kProtocols) {
    std::size_t accepted = 0;
    for (int depth = 8; depth <= 16; ++depth) {
      auto b = sample_batch();
      const auto datagram = hand_written(protocol, [&](auto& p) {
        write_process(p, b.process);
        write_list(p, 2, 1, [&] {
          write_span(p, [&] {
            write_list(p, 10, 1, [&] {
              p.writeStructBegin("Tag");
              write_string(p, 1, "k");
              write_i32(p, 2, 0);
              for (int i = 0; i < depth; ++i) {
                p.writeFieldBegin("nested", thrift::protocol::T_STRUCT, 20);
                p.writeStructBegin("Nested");
              }
              for (int i = 0; i < depth; ++i) {
                p.writeFieldStop();
                p.writeStructEnd();
                p.writeFieldEnd();
              }
              p.writeFieldStop();
              p.writeStructEnd();
            });
          });
        });
      });
      INFO("nested " << depth << " deep");
      const auto compared = compare_jaeger(datagram, protocol);
      INFO(compared.difference);
      REQUIRE(compared.difference.empty());
      accepted += compared.accepted ? 1 : 0;
    }
    CHECK(accepted > 0);  // the limit falls inside the range tried
    CHECK(accepted < 9);
  }
}

TEST_CASE("packed Jaeger decoding refuses lists that claim more than the datagram as the reference",
          "[receivers][jaeger]") {
  const auto batch = sample_batch();
  for (const auto protocol : kProtocols) {
    // Tags whose list header says doubles (8 bytes each at least): the generated code reads
    // structs whatever the header says, but what the header claims must fit what is left. Each
    // tag here takes 7 bytes in the compact protocol (and 15 or more in the binary one, which
    // then never claims too much).
    std::size_t accepted = 0;
    for (const std::uint32_t count : {1u, 4u, 16u, 64u, 1024u}) {
      const auto datagram = hand_written(protocol, [&](auto& p) {
        p.writeFieldBegin("process", thrift::protocol::T_STRUCT, 1);
        p.writeStructBegin("Process");
        p.writeFieldBegin("serviceName", thrift::protocol::T_STRING, 1);
        p.writeString("svc");
        p.writeFieldEnd();
        p.writeFieldBegin("tags", thrift::protocol::T_LIST, 2);
        p.writeListBegin(thrift::protocol::T_DOUBLE, count);
        for (std::uint32_t i = 0; i < count; ++i) tag("", std::string()).write(&p);
        p.writeListEnd();
        p.writeFieldEnd();
        p.writeFieldStop();
        p.writeStructEnd();
        p.writeFieldEnd();
        write_spans(p, batch.spans);
      });
      const auto compared = compare_jaeger(datagram, protocol);
      INFO(count << " tags: " << compared.difference);
      REQUIRE(compared.difference.empty());
      accepted += compared.accepted ? 1 : 0;
    }
    CHECK(accepted == (protocol == Protocol::Compact ? 4 : 5));
  }
}

TEST_CASE("packed Jaeger decoding agrees on list counts past any limit", "[receivers][jaeger]") {
  // emitBatch args: field 1 struct (Batch) > field 1 struct (Process) > its name, stop; then
  // field 2, a list of structs whose count is a varint: huge, negative as an i32, or wider than
  // 32 bits (libthrift keeps the low 32), then bytes that are not spans.
  const std::vector<std::uint8_t> head = {0x82, 0x81, 0x00, 0x09, 'e',  'm',  'i',
                                          't',  'B',  'a',  't',  'c',  'h',  0x1C,
                                          0x1C, 0x18, 0x01, 'p',  0x00, 0x19, 0xFC};
  const std::vector<std::vector<std::uint8_t>> counts = {
      {0x00},                          // none: an empty batch
      {0x05},                          // five, and no spans after it
      {0xFF, 0xFF, 0xFF, 0xFF, 0x07},  // 2^31 - 1
      {0xFF, 0xFF, 0xFF, 0xFF, 0x0F},  // -1 as an i32
      {0x80, 0x80, 0x80, 0x80, 0x10},  // 2^32: 0 in 32 bits
      {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}};  // over 10 bytes
  for (const auto& count : counts) {
    auto bytes = head;
    bytes.insert(bytes.end(), count.begin(), count.end());
    bytes.insert(bytes.end(), {0x00, 0x00, 0x00});  // stops: the Batch, the args, one more
    const auto compared = compare_jaeger(std::as_bytes(std::span(bytes)), Protocol::Compact);
    INFO("count bytes " << count.size() << ": " << compared.difference);
    CHECK(compared.difference.empty());
  }
}

TEST_CASE("packed Jaeger decoding reads message headers as the reference", "[receivers][jaeger]") {
  SECTION("a name whose length is a varint padded to 10 bytes, near the end (compact)") {
    // libthrift counts a varint read with 10 bytes left against the message size, so this name
    // claims more than is left; with trailing bytes it does not.
    std::vector<std::uint8_t> bytes = {0x82, 0x81, 0x00, 0x89, 0x80, 0x80, 0x80, 0x80,
                                       0x80, 0x80, 0x80, 0x80, 0x00, 'e',  'm',  'i',
                                       't',  'B',  'a',  't',  'c',  'h',  0x00};
    const auto refused = compare_jaeger(std::as_bytes(std::span(bytes)), Protocol::Compact);
    CHECK(refused.difference.empty());
    CHECK(!refused.accepted);
    bytes.resize(bytes.size() + 8, 0x00);
    const auto taken = compare_jaeger(std::as_bytes(std::span(bytes)), Protocol::Compact);
    CHECK(taken.difference.empty());
    CHECK(taken.accepted);
  }
  SECTION("the binary protocol's header without a version, and a plain call") {
    const auto binary = emit_batch(Protocol::Binary, sample_batch());
    // Strict: version | ONEWAY, name length, name, seqid. Without a version: name length, name,
    // type byte, seqid.
    std::vector<std::byte> old(binary.begin() + 4, binary.begin() + 4 + 4 + 9);
    old.push_back(std::byte{1});  // T_CALL
    old.insert(old.end(), binary.begin() + 4 + 4 + 9, binary.end());
    const auto compared = compare_jaeger(old, Protocol::Binary);
    CHECK(compared.difference.empty());
    CHECK(compared.spans == 2);
  }
}

TEST_CASE("packed Jaeger decoding keeps bytes that are not UTF-8 as the reference does",
          "[receivers][jaeger]") {
  auto batch = sample_batch();
  const std::string bad("\xFF\xC3(\xED\xA0\x80", 6);
  batch.process.serviceName = bad;
  batch.spans[0].operationName = bad;
  batch.spans[0].tags.push_back(tag(bad, bad));
  batch.spans[1].logs[0].fields.push_back(tag("event", bad));
  for (const auto protocol : kProtocols) {
    const auto compared = compare_jaeger(emit_batch(protocol, batch), protocol);
    INFO(compared.difference);
    CHECK(compared.difference.empty());
    CHECK(compared.packed_spans == 2);
  }
}

TEST_CASE("packed Jaeger spans beyond the item encoding arrive decoded, as the reference's",
          "[receivers][jaeger]") {
  auto batch = sample_batch();
  SECTION("a binary tag whose base64 is over 65,535 bytes") {
    idl::Tag big;
    big.key = "blob";
    big.vType = idl::TagType::BINARY;
    big.__set_vBinary(std::string(50'000, '\x7F'));
    batch.spans[0].tags.push_back(big);
  }
  SECTION("a log of 300 fields") {
    for (int i = 0; i < 300; ++i) {
      batch.spans[1].logs[0].fields.push_back(tag("f" + std::to_string(i), std::int64_t{i}));
    }
  }
  SECTION("a status description over 65,535 bytes") {
    batch.spans[0].tags.push_back(tag("otel.status_description", std::string(70'000, 'x')));
  }
  for (const auto protocol : kProtocols) {
    const auto compared = compare_jaeger(emit_batch(protocol, batch), protocol);
    INFO(compared.difference);
    CHECK(compared.difference.empty());
    CHECK(compared.spans == 2);
    CHECK(compared.packed_spans == 1);
  }
}
