// tailgate._native: attribute values, events, ids and the span's buffer (see native.hpp).

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <ctime>
#include <memory>
#include <new>
#include <optional>

#include "native.hpp"

namespace tailgate::pynative {

std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Ids: wyrand, seeded per thread from getrandom, reseeded in a forked child (which would
// otherwise repeat its parent's ids).
namespace {
thread_local std::uint64_t t_id_state = 0;
}  // namespace

std::uint64_t next_id() noexcept {
  if (t_id_state == 0) [[unlikely]] {
    if (::getrandom(&t_id_state, sizeof t_id_state, 0) != sizeof t_id_state) {
      t_id_state = now_ns() ^ static_cast<std::uint64_t>(::getpid()) << 32;
    }
    t_id_state |= 1;
  }
  t_id_state += 0xa0761d6478bd642fULL;
  __extension__ using u128 = unsigned __int128;
  const u128 m = static_cast<u128>(t_id_state) * (t_id_state ^ 0xe7037ed1a0b428dbULL);
  return static_cast<std::uint64_t>(m >> 64) ^ static_cast<std::uint64_t>(m);
}

void reset_ids() noexcept {
  t_id_state = 0;
}

void Span::reserve(std::size_t extra) noexcept {
  // The encoder keeps room for a Dropped item at the end: so does this.
  const std::size_t need = state.used + extra + wire::kDroppedItemSize;
  if (need <= capacity || capacity >= wire::kMaxRecordSize) return;
  std::size_t grown = std::size_t{capacity} * 2;
  while (grown < need) grown *= 2;
  grown = std::min(grown, wire::kMaxRecordSize);
  auto* bigger = static_cast<std::byte*>(PyMem_Malloc(grown));
  if (bigger == nullptr) return;
  std::memcpy(bigger, buffer(), state.used);
  PyMem_Free(heap);
  heap = bigger;
  capacity = static_cast<std::uint32_t>(grown);
}

/// An attribute value as the wire carries it: str, float, bool (before int: it is one), int, each
/// with its subclasses (IntEnum...), then str() of anything else; ints beyond 64 bits become text.
bool to_value(PyObject* value, Text& text, wire::ValueView& out) noexcept {
  if (PyUnicode_Check(value)) {
    if (!text.set(value)) return false;
    out = text.view;
  } else if (PyFloat_Check(value)) {
    out = PyFloat_AS_DOUBLE(value);
  } else if (PyBool_Check(value)) {
    out = value == Py_True;
  } else if (PyLong_Check(value)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow != 0) {
      if (!text.set_str_of(value)) return false;
      out = text.view;
    } else {
      if (v == -1 && PyErr_Occurred() != nullptr) return false;
      out = static_cast<std::int64_t>(v);
    }
  } else if (PyList_Check(value) || PyTuple_Check(value)) {
    wire::ArrayView array;
    if (text.set_array(value, array)) {
      out = array;
      return true;
    }
    // Mixed types (or None, or what has no wire type): kept as text, as any such value is.
    if (PyErr_Occurred() != nullptr || !text.set_array_text(value)) return false;
    out = text.view;
  } else {
    if (!text.set_str_of(value)) return false;
    out = text.view;
  }
  return true;
}

bool add_attribute(Span* span, PyObject* key, PyObject* value) noexcept {
  if (!PyUnicode_Check(key)) {
    PyErr_Format(PyExc_TypeError, "tailgate: attribute keys are str, not %s",
                 Py_TYPE(key)->tp_name);
    return false;
  }
  Text key_text, value_text;
  wire::ValueView v;
  if (!key_text.set(key) || !to_value(value, value_text, v)) return false;
  span->append(3 + key_text.view.size() + wire::encoded_size(v),
               [&](wire::SpanEncoder& e) { e.attribute(key_text.view, v); });
  return true;
}

bool add_attributes(Span* span, PyObject* mapping) noexcept {
  if (PyDict_Check(mapping)) {
    Py_ssize_t pos = 0;
    PyObject *key = nullptr, *value = nullptr;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
      if (!add_attribute(span, key, value)) return false;
    }
    return true;
  }
  PyObject* items = PyMapping_Items(mapping);
  if (items == nullptr) return false;
  bool ok = true;
  for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(items); ++i) {
    PyObject* pair = PyList_GET_ITEM(items, i);
    ok = PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2 &&
         add_attribute(span, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
  }
  Py_DECREF(items);
  return ok;
}

namespace {

/// An event's attribute views and the UTF-8 they point into: in place for a few, on the heap for
/// more (an event with many attributes is rare; zeroing room for 255 on every call was not).
class EventAttributes {
 public:
  explicit EventAttributes(std::size_t count) {
    if (count > kInPlace) {
      heap_text_ = std::make_unique<Text[]>(2 * count);
      heap_views_ = std::make_unique<wire::AttributeView[]>(count);
    }
  }
  EventAttributes(const EventAttributes&) = delete;
  EventAttributes& operator=(const EventAttributes&) = delete;
  Text& key(std::size_t i) noexcept { return text()[2 * i]; }
  Text& value(std::size_t i) noexcept { return text()[2 * i + 1]; }
  wire::AttributeView& view(std::size_t i) noexcept { return views()[i]; }
  std::span<const wire::AttributeView> first(std::size_t n) noexcept { return {views(), n}; }

 private:
  static constexpr std::size_t kInPlace = 8;
  Text* text() noexcept { return heap_text_ ? heap_text_.get() : in_place_text_.data(); }
  wire::AttributeView* views() noexcept {
    return heap_views_ ? heap_views_.get() : in_place_views_.data();
  }
  std::array<Text, 2 * kInPlace> in_place_text_;
  std::array<wire::AttributeView, kInPlace> in_place_views_;
  std::unique_ptr<Text[]> heap_text_;
  std::unique_ptr<wire::AttributeView[]> heap_views_;
};

/// Reads up to `count` attributes of `source` (a dict, or null) into `items`: `n` of them, taking
/// `bytes` on the wire. False with an exception.
bool collect(PyObject* source, std::size_t count, EventAttributes& items, std::size_t& n,
             std::size_t& bytes) noexcept {
  Py_ssize_t pos = 0;
  PyObject *key = nullptr, *value = nullptr;
  while (n < count && PyDict_Next(source, &pos, &key, &value)) {
    if (!PyUnicode_Check(key)) {
      PyErr_SetString(PyExc_TypeError, "tailgate: attribute keys are str");
      return false;
    }
    if (!items.key(n).set(key) || !to_value(value, items.value(n), items.view(n).value)) {
      return false;
    }
    items.view(n).key = items.key(n).view;
    bytes += 2 + items.key(n).view.size() + wire::encoded_size(items.view(n).value);
    ++n;
  }
  return true;
}

/// Reads an optional event time (unix ns, an int); false with an exception.
bool event_time(PyObject* timestamp, std::uint64_t& out) noexcept {
  if (timestamp == nullptr || timestamp == Py_None) {
    out = now_ns();
    return true;
  }
  out = PyLong_AsUnsignedLongLong(timestamp);
  return !(out == static_cast<std::uint64_t>(-1) && PyErr_Occurred() != nullptr);
}

}  // namespace

/// add_event(name, attributes=None, timestamp=None, **more): up to 255 attributes, the rest left
/// out; `timestamp` (unix ns) is the event's time, not an attribute.
PyObject* span_add_event(PyObject* self, PyObject* args, PyObject* kwargs) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  PyObject* name = nullptr;
  PyObject* attributes = Py_None;
  PyObject* timestamp = nullptr;
  if (!PyArg_ParseTuple(args, "U|OO:add_event", &name, &attributes, &timestamp)) return nullptr;
  std::uint64_t when = 0;
  if (kwargs != nullptr && timestamp == nullptr) {
    // Read before it leaves the call's own keyword dict (made for this call: safe to change).
    PyObject* keyword = PyDict_GetItemString(kwargs, "timestamp");
    if (keyword != nullptr) {
      if (!event_time(keyword, when) || PyDict_DelItemString(kwargs, "timestamp") < 0) {
        return nullptr;
      }
    }
  }
  if (when == 0 && !event_time(timestamp, when)) return nullptr;
  if (span->ended) return Py_NewRef(self);
  // As dict(attributes, **more): one dict as it is when there is just one.
  const bool has_more = kwargs != nullptr && PyDict_GET_SIZE(kwargs) > 0;
  PyObject* merged = nullptr;
  PyObject* source = has_more ? kwargs : nullptr;
  if (attributes != Py_None) {
    if (PyDict_Check(attributes) && !has_more) {
      source = attributes;
    } else {
      merged = PyDict_New();
      if (merged == nullptr || PyDict_Update(merged, attributes) < 0 ||
          (has_more && PyDict_Update(merged, kwargs) < 0)) {
        Py_XDECREF(merged);
        return nullptr;
      }
      source = merged;
    }
  }
  const std::size_t count =
      source != nullptr
          ? std::min(static_cast<std::size_t>(PyDict_GET_SIZE(source)), wire::kMaxEventAttributes)
          : 0;
  std::optional<EventAttributes> items;
  try {
    items.emplace(count);
  } catch (const std::bad_alloc&) {
    Py_XDECREF(merged);
    return PyErr_NoMemory();
  }
  std::size_t n = 0, bytes = 0;
  bool ok = collect(source, count, *items, n, bytes);
  Text name_text;
  ok = ok && name_text.set(name);
  if (ok) {
    span->append(1 + 8 + 2 + name_text.view.size() + 1 + bytes,
                 [&](wire::SpanEncoder& e) { e.event(when, name_text.view, items->first(n)); });
  }
  Py_XDECREF(merged);
  return ok ? Py_NewRef(self) : nullptr;
}

PyObject* span_append_link(PyObject* self, PyObject* args) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  const char *trace_id = nullptr, *span_id = nullptr;
  Py_ssize_t trace_length = 0, span_length = 0;
  PyObject* state = nullptr;
  PyObject* attributes = Py_None;
  if (!PyArg_ParseTuple(args, "y#y#U|O:_append_link", &trace_id, &trace_length, &span_id,
                        &span_length, &state, &attributes)) {
    return nullptr;
  }
  if (trace_length != 16 || span_length != 8) {
    PyErr_SetString(PyExc_ValueError, "_append_link: ids of 16 and 8 bytes");
    return nullptr;
  }
  if (span->ended) Py_RETURN_NONE;
  PyObject* source = nullptr;  // a dict of the attributes, or null for none
  if (attributes != Py_None) {
    source = PyDict_New();
    if (source == nullptr || PyDict_Update(source, attributes) < 0) {
      Py_XDECREF(source);
      return nullptr;
    }
  }
  const std::size_t count =
      source != nullptr
          ? std::min(static_cast<std::size_t>(PyDict_GET_SIZE(source)), wire::kMaxEventAttributes)
          : 0;
  std::optional<EventAttributes> items;
  try {
    items.emplace(count);
  } catch (const std::bad_alloc&) {
    Py_XDECREF(source);
    return PyErr_NoMemory();
  }
  std::size_t n = 0, bytes = 0;
  const bool ok = collect(source, count, *items, n, bytes);
  Text state_text;
  if (ok && state_text.set(state)) {
    span->append(1 + 24 + 2 + state_text.view.size() + 1 + bytes, [&](wire::SpanEncoder& e) {
      e.link(reinterpret_cast<const std::uint8_t*>(trace_id),
             reinterpret_cast<const std::uint8_t*>(span_id), state_text.view, items->first(n));
    });
  }
  Py_XDECREF(source);
  if (!ok || PyErr_Occurred() != nullptr) return nullptr;
  Py_RETURN_NONE;
}

}  // namespace tailgate::pynative
