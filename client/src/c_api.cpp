// The C ABI over the C++ Tracer (tailgate/tailgate.h).
#include <cstring>
#include <exception>
#include <memory>

#include "tailgate/tailgate.h"
#include "tailgate/tailgate.hpp"
#include "wire/span_record.hpp"

struct tailgate_tracer {
  std::unique_ptr<tailgate::Tracer> tracer;
};

extern "C" {

tailgate_tracer* tailgate_tracer_new(const char* const* keys, const char* const* values,
                                     size_t count, const tailgate_options* options) {
  try {
    tailgate::TracerOptions o;
    for (size_t i = 0; i < count; ++i) {
      if (keys[i] == nullptr || values[i] == nullptr) continue;
      if (std::strcmp(keys[i], "service.name") == 0) {
        o.service_name = values[i];
      } else if (std::strcmp(keys[i], "service.version") == 0) {
        o.service_version = values[i];
      } else {
        o.resource.emplace_back(keys[i], values[i]);
      }
    }
    if (options != nullptr) {
      if (options->directory != nullptr) o.directory = options->directory;
      if (options->lanes != 0) o.lanes = options->lanes;
      if (options->lane_bytes != 0) o.lane_bytes = options->lane_bytes;
    }
    auto handle = std::make_unique<tailgate_tracer>();
    handle->tracer = std::make_unique<tailgate::Tracer>(o);
    return handle.release();  // owned by the caller until tailgate_tracer_free
  } catch (const std::exception&) {
    return nullptr;  // another tracer is alive, or out of memory
  }
}

void tailgate_tracer_free(tailgate_tracer* tracer) {
  std::unique_ptr<tailgate_tracer> owned(tracer);
}

const char* tailgate_error(const tailgate_tracer* tracer) {
  return tracer->tracer->error().c_str();
}

int tailgate_emit(tailgate_tracer* tracer, const void* record, size_t length) {
  return tracer->tracer->emit(std::span(static_cast<const std::byte*>(record), length)) ? 1 : 0;
}

size_t tailgate_emit_batch(tailgate_tracer* tracer, const void* records, size_t length) {
  const auto* at = static_cast<const std::byte*>(records);
  size_t offset = 0, written = 0;
  while (length - offset >= tailgate::wire::kRecordHeaderSize) {
    std::uint32_t size = 0;
    std::memcpy(&size, at + offset, sizeof size);
    if (size < tailgate::wire::kRecordHeaderSize || size > length - offset) break;
    written += tracer->tracer->emit(std::span(at + offset, size)) ? 1 : 0;
    offset += tailgate::wire::align_record(size);
    if (offset > length) break;
  }
  return written;
}

void tailgate_stats_get(const tailgate_tracer* tracer, tailgate_stats* out) {
  const auto s = tracer->tracer->stats();
  out->dropped = s.dropped;
  out->dropped_items = s.dropped_items;
  out->attached = s.attached ? 1 : 0;
}

int tailgate_agent_reading(const tailgate_tracer* tracer, int64_t* heartbeat_age_ns) {
  const auto s = tracer->tracer->stats();
  if (heartbeat_age_ns != nullptr) *heartbeat_age_ns = s.agent_heartbeat_age_ns;
  return s.agent_reading ? 1 : 0;
}

uint64_t tailgate_now_ns(const tailgate_tracer* tracer) {
  return tracer->tracer->now_ns();
}

}  // extern "C"
