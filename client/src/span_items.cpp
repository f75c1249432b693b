// A span's items beyond the inline fast path (tailgate.hpp's put()): attributes that do not fit
// where the record is (it grows, or they are left out and counted), arrays, events, status and
// tracestate, all through the wire encoder. Out of line: rarer than attributes, and they may
// allocate.
#include <cxxabi.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <typeinfo>

#include "tailgate/tailgate.hpp"
#include "thread_state.hpp"

namespace tailgate {

void Span::grow(std::size_t need) noexcept {
  const std::size_t want = std::size_t{state_.used} + need + wire::kDroppedItemSize;
  if (record_.size() >= wire::kMaxRecordSize || want <= record_.size()) return;
  const std::size_t size = std::min(std::max(record_.size() * 2, want), wire::kMaxRecordSize);
  try {
    auto bigger = std::make_unique_for_overwrite<std::byte[]>(size);
    std::memcpy(bigger.get(), record_.data(), state_.used);
    spill_ = std::move(bigger);  // frees an earlier spill, copied from just now
    record_ = std::span(spill_.get(), size);
    refresh_limit();
  } catch (const std::bad_alloc&) {
    // No memory: the record stays where it is and what does not fit is left out, counted.
  }
}

void Span::put_slow(std::string_view key, std::string_view value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + 3 + value.size(),
               [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}
void Span::put_slow(std::string_view key, std::int64_t value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + 1 + 8, [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}
void Span::put_slow(std::string_view key, double value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + 1 + 8, [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}
void Span::put_slow(std::string_view key, bool value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + 1 + 1, [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}
void Span::put_slow(std::string_view key, const wire::ArrayView& value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + wire::encoded_size(value),
               [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}

namespace {

// Bytes an attribute takes on the wire.
std::size_t encoded_size(const Attribute& a) noexcept {
  return 2 + a.key.size() + wire::encoded_size(a.value);
}
}  // namespace

// Runs `write` on an encoder resumed over the span's record after making room for `need` bytes,
// then keeps where it stands.
template <typename Write>
void Span::with_encoder(std::size_t need, Write write) noexcept {
  if (state_.used + need + wire::kDroppedItemSize > record_.size()) [[unlikely]]
    grow(need);
  wire::SpanEncoder e(record_, state_);
  write(e);
  state_ = e.state();
}

Span& Span::event(std::string_view name, std::initializer_list<Attribute> attributes) noexcept {
  if (tracer_ == nullptr) return *this;
  std::array<wire::AttributeView, wire::kMaxEventAttributes> views;
  std::size_t n = 0;
  for (const auto& a : attributes) {
    if (n == views.size()) break;
    views[n++] = {a.key, a.value};
  }
  const auto when = client::t_state.clock.to_ns(client::ticks());
  std::size_t need = 1 + 8 + 2 + name.size() + 1;
  for (std::size_t i = 0; i < n; ++i) need += encoded_size({views[i].key, views[i].value});
  with_encoder(need,
               [&](wire::SpanEncoder& e) { e.event(when, name, std::span(views.data(), n)); });
  return *this;
}

Span& Span::error(std::string_view message) noexcept {
  if (tracer_ == nullptr) return *this;
  status_ = 2;  // OTLP STATUS_CODE_ERROR
  if (!message.empty()) {
    with_encoder(3 + message.size(), [&](wire::SpanEncoder& e) { e.status_message(message); });
  }
  return *this;
}

// As OpenTelemetry's RecordException: the event only. Setting ERROR here made every handled
// exception's trace an error trace, kept at 100% by the error policy.
Span& Span::exception(std::string_view type, std::string_view message) noexcept {
  return event("exception", {{"exception.type", type}, {"exception.message", message}});
}

Span& Span::exception(const std::exception& e) noexcept {
  // "St12out_of_range" -> "std::out_of_range". Allocates: an exception is not the hot path.
  int status = -1;
  const std::unique_ptr<char, decltype(&std::free)> demangled(
      abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status), &std::free);
  return exception(status == 0 && demangled ? std::string_view(demangled.get())
                                            : std::string_view(typeid(e).name()),
                   e.what());
}

Span& Span::ok() noexcept {
  if (tracer_ != nullptr) status_ = 1;  // OTLP STATUS_CODE_OK
  return *this;
}

Span& Span::trace_state(std::string_view state) noexcept {
  if (tracer_ == nullptr) return *this;
  with_encoder(3 + state.size(), [&](wire::SpanEncoder& e) { e.trace_state(state); });
  return *this;
}

}  // namespace tailgate
