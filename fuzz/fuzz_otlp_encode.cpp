// The exporter's hand-written OTLP encoder over arbitrary spans: any names, values (negative,
// NaN, empty, long), events, links, statuses, flags and resources, shared or not. Its bytes must
// be exactly what protobuf's generated classes write for the same spans, and a size computed
// wrong would write past the buffer (AddressSanitizer).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "export/otlp_mapping.hpp"
#include "support/otlp_reference.hpp"

using namespace tailgate;

namespace {

// An array of one type, of up to 8 elements.
model::ArrayValue array(FuzzedDataProvider& in) {
  const auto n = in.ConsumeIntegralInRange<std::size_t>(0, 8);
  const auto each = [n](auto make) {
    std::vector<decltype(make())> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(make());
    return model::ArrayValue(std::move(out));
  };
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return each([&in] { return in.ConsumeRandomLengthString(40); });
    case 1:
      return each([&in] { return in.ConsumeIntegral<std::int64_t>(); });
    case 2:
      return each([&in] { return in.ConsumeFloatingPoint<double>(); });
    default:
      return each([&in] { return in.ConsumeBool(); });
  }
}

std::vector<model::Attribute> attributes(FuzzedDataProvider& in) {
  std::vector<model::Attribute> out(in.ConsumeIntegralInRange<std::size_t>(0, 4));
  for (auto& a : out) {
    a.key = in.ConsumeRandomLengthString(40);
    switch (in.ConsumeIntegralInRange(0, 4)) {
      case 0:
        a.value = in.ConsumeRandomLengthString(300);
        break;
      case 1:
        a.value = in.ConsumeIntegral<std::int64_t>();
        break;
      case 2:
        a.value = in.ConsumeFloatingPoint<double>();
        break;
      case 3:
        a.value = in.ConsumeBool();
        break;
      default:
        a.value = array(in);
    }
  }
  return out;
}

template <std::size_t N>
void fill(FuzzedDataProvider& in, std::array<std::uint8_t, N>& id) {
  for (auto& b : id) b = in.ConsumeIntegral<std::uint8_t>();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::shared_ptr<const model::Resource>> resources = {nullptr};
  for (int i = in.ConsumeIntegralInRange(0, 3); i > 0; --i) {
    resources.push_back(std::make_shared<const model::Resource>(model::Resource{
        attributes(in), {in.ConsumeRandomLengthString(20), in.ConsumeRandomLengthString(10)}}));
  }
  std::vector<model::Span> spans(in.ConsumeIntegralInRange<std::size_t>(0, 8));
  for (auto& s : spans) {
    fill(in, s.trace_id);
    fill(in, s.span_id);
    if (in.ConsumeBool()) fill(in, s.parent_span_id);
    s.start_unix_ns = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint64_t>();
    s.end_unix_ns = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint64_t>();
    s.kind = static_cast<model::SpanKind>(in.ConsumeIntegralInRange(0, 5));
    s.status = static_cast<model::StatusCode>(in.ConsumeIntegralInRange(0, 2));
    s.trace_flags = in.ConsumeIntegral<std::uint8_t>();
    s.parent_is_remote = in.ConsumeBool();
    s.name = in.ConsumeRandomLengthString(200);
    s.status_message = in.ConsumeRandomLengthString(50);
    s.trace_state = in.ConsumeRandomLengthString(50);
    s.attributes = attributes(in);
    for (int i = in.ConsumeIntegralInRange(0, 2); i > 0; --i) {
      s.events.push_back({in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint64_t>(),
                          in.ConsumeRandomLengthString(30), attributes(in)});
    }
    for (int i = in.ConsumeIntegralInRange(0, 2); i > 0; --i) {
      model::Link link;
      fill(in, link.trace_id);
      fill(in, link.span_id);
      link.trace_state = in.ConsumeRandomLengthString(30);
      link.attributes = attributes(in);
      s.links.push_back(std::move(link));
    }
    s.dropped_attributes = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint32_t>();
    s.dropped_events = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint32_t>();
    s.resource = resources[in.ConsumeIntegralInRange<std::size_t>(0, resources.size() - 1)];
  }
  if (exporter::encode_request(spans) != testing::reference_request(spans)) std::abort();
  return 0;
}
