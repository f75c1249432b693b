// OTLP/JSON in: the text parsed, its hex ids made base64 for protobuf's JSON mapping, and the
// request refused whole if decoding it would cost too much (decode_budget.hpp).
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "receivers/base64.hpp"
#include "receivers/decode_budget.hpp"
#include "receivers/otlp_decode.hpp"
#include "scrub/json_nesting.hpp"

namespace tailgate::receivers::otlp {
namespace {

// OTLP/JSON writes ids as hex; protobuf's JSON mapping expects bytes as base64.
bool hex_to_base64(nlohmann::json& field) {
  if (!field.is_string()) return field.is_null();
  const auto& hex = field.get_ref<const std::string&>();
  if (hex.size() % 2 != 0) return false;
  std::string bytes(hex.size() / 2, '\0');
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<char>(hi << 4 | lo);
  }
  field = base64(bytes);
  return true;
}

bool convert_ids(nlohmann::json& object, std::initializer_list<const char*> keys) {
  if (!object.is_object()) return true;  // the protobuf parser says what is wrong with it
  for (const char* key : keys) {
    if (auto it = object.find(key); it != object.end() && !hex_to_base64(*it)) return false;
  }
  return true;
}

nlohmann::json* find_array(nlohmann::json& object, const char* camel, const char* snake) {
  if (!object.is_object()) return nullptr;
  for (const char* name : {camel, snake}) {
    if (auto it = object.find(name); it != object.end() && it->is_array()) return &*it;
  }
  return nullptr;
}

// OTLP/JSON is about a dozen levels deep; attribute values (arrays, maps) may add some.
constexpr int kMaxJsonNesting = 64;

// The objects and arrays in JSON `text`, counted by their opening brackets outside strings:
// each becomes a document node, a protobuf message and a model item (not parsed: a parse
// callback that stops keeping values past a count makes nlohmann's parser quadratic).
std::size_t json_containers(std::string_view text) noexcept {
  std::size_t count = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++count;
    }
  }
  return count;
}

}  // namespace

std::string parse_json(std::string_view text, pb::ExportTraceServiceRequest& request) {
  if (scrub::json_nesting(text, kMaxJsonNesting) > kMaxJsonNesting) {
    return "nested deeper than " + std::to_string(kMaxJsonNesting) + " levels";
  }
  // Counted before anything is made (`{}` is 3 bytes of text, ~300 bytes decoded).
  auto budget = DecodeBudget::for_json(text.size());
  if (!budget.spend_json_containers(json_containers(text))) {
    return std::string(DecodeBudget::kJsonRefusal);
  }
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return "not JSON";
  if (auto* resource_spans = find_array(json, "resourceSpans", "resource_spans")) {
    for (auto& rs : *resource_spans) {
      auto* scope_spans = find_array(rs, "scopeSpans", "scope_spans");
      if (scope_spans == nullptr) continue;
      for (auto& ss : *scope_spans) {
        auto* spans = find_array(ss, "spans", "spans");
        if (spans == nullptr) continue;
        for (auto& span : *spans) {
          if (!convert_ids(span, {"traceId", "trace_id", "spanId", "span_id", "parentSpanId",
                                  "parent_span_id"})) {
            return "an id is not hex";
          }
          if (auto* links = find_array(span, "links", "links")) {
            for (auto& link : *links) {
              if (!convert_ids(link, {"traceId", "trace_id", "spanId", "span_id"})) {
                return "a link id is not hex";
              }
            }
          }
        }
      }
    }
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // as OTLP asks of receivers: newer senders add fields
  auto protobuf_json = json.dump();
  json = nullptr;  // not held while the protobuf message is made
  const auto status = google::protobuf::util::JsonStringToMessage(protobuf_json, &request, options);
  if (!status.ok()) return std::string(status.message());
  // from_otlp copies each resource once per scope with spans, as the packed decoder does.
  for (const auto& rs : request.resource_spans()) {
    const auto resource_bytes = rs.resource().ByteSizeLong();
    for (const auto& ss : rs.scope_spans()) {
      if (!ss.spans().empty() && !budget.spend_resource_copy(resource_bytes))
        return std::string(DecodeBudget::kRefusal);
    }
  }
  return {};
}

}  // namespace tailgate::receivers::otlp
