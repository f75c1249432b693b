#include "export/export_answer.hpp"

#include <algorithm>

#include <google/protobuf/unknown_field_set.h>

namespace tailgate::exporter {

PartialSuccess read_partial_success(std::string_view answer) {
  // An UnknownFieldSet reads any well-formed message without its schema: nothing is checked but
  // the wire format, and a field's last occurrence wins, as protobuf's own parse does.
  google::protobuf::UnknownFieldSet response;
  PartialSuccess out;
  if (!response.ParseFromArray(answer.data(), static_cast<int>(answer.size()))) return out;
  for (int i = 0; i < response.field_count(); ++i) {
    const auto& f = response.field(i);
    if (f.number() != 1 || f.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    google::protobuf::UnknownFieldSet partial;
    if (!partial.ParseFromString(f.length_delimited())) continue;
    for (int j = 0; j < partial.field_count(); ++j) {
      const auto& p = partial.field(j);
      if (p.number() == 1 && p.type() == google::protobuf::UnknownField::TYPE_VARINT) {
        out.rejected_spans = static_cast<std::uint64_t>(
            std::max<std::int64_t>(0, static_cast<std::int64_t>(p.varint())));
      } else if (p.number() == 2 &&
                 p.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
        out.error_message = p.length_delimited();
      }
    }
  }
  return out;
}

}  // namespace tailgate::exporter
