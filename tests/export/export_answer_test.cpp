// A backend's partial success read field by field (export/export_answer.hpp).
#include "export/export_answer.hpp"

#include <catch2/catch.hpp>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

using namespace tailgate;
namespace collector = opentelemetry::proto::collector::trace::v1;

namespace {

// An answer whose message is written as raw bytes: protobuf would check UTF-8 on a string.
std::string answer(std::int64_t rejected, const std::string& message) {
  collector::ExportTracePartialSuccess counted;
  counted.set_rejected_spans(rejected);
  auto partial = counted.SerializeAsString();
  partial += '\x12';  // field 2, length-delimited
  partial += static_cast<char>(message.size());
  partial += message;
  return std::string("\x0a") + static_cast<char>(partial.size()) + partial;  // field 1
}

}  // namespace

TEST_CASE("a partial success is read even when its message is not UTF-8", "[export]") {
  // Outside attack: protobuf refused the whole answer over the message, and the rejected spans
  // were counted exported.
  const auto bad = answer(3, "rejected \xff\xfe spans");
  collector::ExportTraceServiceResponse strict;
  CHECK_FALSE(strict.ParseFromString(bad));
  const auto read = exporter::read_partial_success(bad);
  CHECK(read.rejected_spans == 3);
  CHECK(read.error_message == "rejected \xff\xfe spans");
}

TEST_CASE("a partial success as protobuf writes it, a negative count, an answer that is not one",
          "[export]") {
  collector::ExportTraceServiceResponse r;
  r.mutable_partial_success()->set_rejected_spans(7);
  r.mutable_partial_success()->set_error_message("quota");
  const auto read = exporter::read_partial_success(r.SerializeAsString());
  CHECK(read.rejected_spans == 7);
  CHECK(read.error_message == "quota");
  CHECK(exporter::read_partial_success(answer(-5, "x")).rejected_spans == 0);
  CHECK(exporter::read_partial_success("").rejected_spans == 0);
  CHECK(exporter::read_partial_success("\x0a\x7f").rejected_spans == 0);  // truncated
}
