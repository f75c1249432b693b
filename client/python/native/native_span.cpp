// tailgate._native: the Python client's span written against CPython's C API, so that a span
// costs the interpreter a few calls instead of a few hundred bytecodes. The record is encoded as
// the span goes (the same wire encoder the C++ client inlines) into a buffer inside the span
// object, and handed to libtailgate.so at the end through the function pointer the Python module
// passes in (ctypes found it; this module links nothing of the library's). The pure-Python Span in
// tailgate/__init__.py does the same where this module cannot be loaded; tests run both.
//
// Under the GIL throughout (no state is shared without it), except the per-thread id generator.

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <optional>
#include <string_view>

#include "wire/encode.hpp"

namespace {

namespace wire = tailgate::wire;

// --- things the Python module hands over once (setup) ------------------------------------------

PyObject* g_current = nullptr;           ///< the ContextVar holding the current span
PyObject* g_context_class = nullptr;     ///< tailgate.SpanContext
PyTypeObject* g_span_class = nullptr;    ///< the Python subclass spans are made as
PyObject* g_record_exception = nullptr;  ///< "record_exception", interned

std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Ids: wyrand, seeded per thread from getrandom, reseeded in a forked child (which would
// otherwise repeat its parent's ids).
thread_local std::uint64_t t_id_state = 0;

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

// --- Emitter: the tracer's handle and the function that writes a record ------------------------

using EmitFunction = int (*)(void* tracer, const void* record, std::size_t length);

struct Emitter {
  PyObject ob_base;  // CPython's object header (PyObject_HEAD)
  void* tracer;      ///< libtailgate's tailgate_tracer*, null once closed
  EmitFunction emit;
  std::uint64_t dropped;        ///< spans not handed over: not encoded, or the tracer closed
  std::uint64_t dropped_items;  ///< attributes and events left out of spans too large
};

// --- Span -------------------------------------------------------------------------------------

constexpr std::size_t kInlineBytes = 320;  // a typical span's record; the object stays < 512 B
constexpr std::size_t kFixedEnd = wire::kRecordHeaderSize + wire::kSpanFixedSize;

struct Span {
  PyObject ob_base;  // CPython's object header (PyObject_HEAD)
  Emitter* emitter;
  PyObject* name;
  PyObject* context;      ///< SpanContext, made when first asked for
  PyObject* token;        ///< from entering the span as the current one
  PyObject* trace_state;  ///< str, or null for none
  std::byte* heap;        ///< the record once it outgrows `inline_bytes`
  std::uint32_t capacity;
  wire::EncoderState state;
  std::uint8_t status;
  bool ended;
  std::array<std::uint8_t, 16> trace_id;
  std::array<std::uint8_t, 8> span_id;
  std::uint8_t trace_flags;
  alignas(8) std::byte inline_bytes[kInlineBytes];

  std::byte* buffer() noexcept { return heap != nullptr ? heap : inline_bytes; }
  std::span<std::byte> record() noexcept { return {buffer(), capacity}; }

  /// Makes room for `extra` more bytes, then runs `write` on an encoder resumed where the record
  /// stands and keeps where it ends (an item that still does not fit is left out and counted).
  template <typename Write>
  void append(std::size_t extra, Write write) noexcept {
    reserve(extra);
    wire::SpanEncoder e(record(), state);
    write(e);
    state = e.state();
  }

  /// Room for `extra` more bytes, up to the largest record. When it cannot grow, the encoder
  /// leaves the item out and counts it.
  void reserve(std::size_t extra) noexcept {
    const std::size_t need = state.used + extra;
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
};

PyTypeObject* g_span_type = nullptr;  ///< _native.Span (heap types, made at import)
PyTypeObject* g_emitter_type = nullptr;

/// UTF-8 of a str; unpaired surrogates replaced (as str.encode(errors="replace")), the bytes kept
/// alive by `hold`. Cut at the wire format's string limit.
struct Text {
  PyObject* hold = nullptr;
  std::string_view view;
  Text() = default;
  Text(const Text&) = delete;
  Text& operator=(const Text&) = delete;
  ~Text() { Py_XDECREF(hold); }

  bool set(PyObject* str) noexcept {
    Py_ssize_t n = 0;
    const char* data = PyUnicode_AsUTF8AndSize(str, &n);
    if (data == nullptr) {
      PyErr_Clear();
      hold = PyUnicode_AsEncodedString(str, "utf-8", "replace");
      if (hold == nullptr) return false;
      data = PyBytes_AS_STRING(hold);
      n = PyBytes_GET_SIZE(hold);
    }
    view = std::string_view(data, std::min(static_cast<std::size_t>(n), wire::kMaxStringLength));
    return true;
  }
  /// str(value) for what has no wire type of its own.
  bool set_str_of(PyObject* value) noexcept {
    PyObject* s = PyObject_Str(value);
    if (s == nullptr) return false;
    const bool ok = set(s);
    // `view` may point into `s` (its cached UTF-8): keep it alive with the bytes.
    if (hold == nullptr) {
      hold = s;
    } else {
      Py_DECREF(s);
    }
    return ok;
  }
};

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
  } else {
    if (!text.set_str_of(value)) return false;
    out = text.view;
  }
  return true;
}

std::size_t encoded_size(const wire::ValueView& v) noexcept {
  const auto* s = std::get_if<std::string_view>(&v);
  return 3 + (s != nullptr ? s->size() : 8);
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
  span->append(3 + key_text.view.size() + encoded_size(v),
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

/// The parent's ids from a SpanContext (or anything with its attributes).
struct Parent {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t trace_flags = 1;
  bool remote = false;
  PyObject* trace_state = nullptr;  ///< new reference, or null
};

bool copy_id(PyObject* context, const char* field, std::uint8_t* out, std::size_t size) noexcept {
  PyObject* id = PyObject_GetAttrString(context, field);
  if (id == nullptr) return false;
  const bool ok = PyBytes_Check(id) && static_cast<std::size_t>(PyBytes_GET_SIZE(id)) == size;
  if (ok) {
    std::memcpy(out, PyBytes_AS_STRING(id), size);
  } else {
    PyErr_Format(PyExc_ValueError, "tailgate: a parent's %s must be %zu bytes", field, size);
  }
  Py_DECREF(id);
  return ok;
}

/// Reads `parent` (a span of this module, or a SpanContext) into `out`; false with an exception.
bool read_parent(PyObject* parent, Parent& out) noexcept {
  if (PyObject_TypeCheck(parent, g_span_type)) {
    const auto* p = reinterpret_cast<const Span*>(parent);
    out.trace_id = p->trace_id;
    out.span_id = p->span_id;
    out.trace_flags = p->trace_flags;
    out.trace_state = p->trace_state;
    Py_XINCREF(out.trace_state);
    return true;
  }
  if (!copy_id(parent, "trace_id", out.trace_id.data(), 16) ||
      !copy_id(parent, "span_id", out.span_id.data(), 8)) {
    return false;
  }
  PyObject* flags = PyObject_GetAttrString(parent, "trace_flags");
  if (flags == nullptr) return false;
  out.trace_flags = static_cast<std::uint8_t>(PyLong_AsUnsignedLongMask(flags));
  Py_DECREF(flags);
  if (PyErr_Occurred() != nullptr) return false;
  PyObject* remote = PyObject_GetAttrString(parent, "is_remote");
  if (remote == nullptr) return false;
  out.remote = PyObject_IsTrue(remote) == 1;
  Py_DECREF(remote);
  PyObject* state = PyObject_GetAttrString(parent, "trace_state");
  if (state == nullptr) return false;
  if (PyUnicode_Check(state) && PyUnicode_GET_LENGTH(state) > 0) {
    out.trace_state = state;
  } else {
    Py_DECREF(state);
  }
  return true;
}

/// The parent of a span started without one: the current span's context, if there is one.
bool current_parent(Parent& out, bool& found) noexcept {
  PyObject* current = nullptr;
  if (PyContextVar_Get(g_current, Py_None, &current) < 0) return false;
  found = false;
  bool ok = true;
  if (PyObject_TypeCheck(current, g_span_type)) {
    found = true;
    ok = read_parent(current, out);
  } else if (current != Py_None) {  // a span of another kind (tracing switched off)
    PyObject* context = PyObject_GetAttrString(current, "context");
    ok = context != nullptr;
    if (ok && context != Py_None) {
      found = true;
      ok = read_parent(context, out);
    }
    Py_XDECREF(context);
  }
  Py_DECREF(current);
  return ok;
}

/// A started span of `emitter`: attributes from `mapping` (a mapping or None) and the keyword
/// arguments in `kwnames` (values at `kwvalues`) other than those named in `skip`.
PyObject* make_span(PyObject* emitter, PyObject* name, PyObject* parent_arg, long kind,
                    PyObject* mapping, PyObject* kwnames, PyObject* const* kwvalues,
                    std::uint32_t skip) noexcept {
  if (g_span_class == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "tailgate._native: setup() was not called");
    return nullptr;
  }
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "tailgate: a span's name is a str, not %s",
                 Py_TYPE(name)->tp_name);
    return nullptr;
  }
  Parent parent;
  bool has_parent = parent_arg != Py_None;
  if (has_parent ? !read_parent(parent_arg, parent) : !current_parent(parent, has_parent)) {
    Py_XDECREF(parent.trace_state);
    return nullptr;
  }
  auto* span = reinterpret_cast<Span*>(g_span_class->tp_alloc(g_span_class, 0));
  if (span == nullptr) {
    Py_XDECREF(parent.trace_state);
    return nullptr;
  }
  // tp_alloc zeroed the object.
  span->capacity = kInlineBytes;
  span->emitter = reinterpret_cast<Emitter*>(Py_NewRef(emitter));
  span->name = Py_NewRef(name);
  span->trace_state = parent.trace_state;  // owned now
  if (has_parent) {
    span->trace_id = parent.trace_id;
    span->trace_flags = parent.trace_flags;
  } else {
    const std::uint64_t hi = next_id(), lo = next_id();
    std::memcpy(span->trace_id.data(), &hi, 8);
    std::memcpy(span->trace_id.data() + 8, &lo, 8);
    span->trace_flags = 1;
  }
  std::uint64_t id = 0;
  while (id == 0) id = next_id();
  std::memcpy(span->span_id.data(), &id, 8);

  Text name_text;
  if (!name_text.set(name)) {
    Py_DECREF(span);
    return nullptr;
  }
  span->reserve(kFixedEnd + name_text.view.size());
  const wire::SpanHeader header{
      .trace_id = span->trace_id.data(),
      .span_id = span->span_id.data(),
      .parent_span_id = has_parent ? parent.span_id.data() : nullptr,
      .start_unix_ns = now_ns(),
      .end_unix_ns = 0,
      .kind = static_cast<std::uint8_t>(kind),
      .status = 0,
      .trace_flags = span->trace_flags,
      .span_flags = parent.remote ? wire::kParentIsRemote : std::uint8_t{0}};
  {
    wire::SpanEncoder e(span->record(), header, name_text.view, /*skip_items=*/true);
    span->state = e.state();
  }
  if (mapping != nullptr && mapping != Py_None && !add_attributes(span, mapping)) {
    Py_DECREF(span);
    return nullptr;
  }
  const Py_ssize_t keywords = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < keywords; ++i) {
    if ((skip >> i & 1) == 0 && !add_attribute(span, PyTuple_GET_ITEM(kwnames, i), kwvalues[i])) {
      Py_DECREF(span);
      return nullptr;
    }
  }
  if (span->trace_state != nullptr) {  // after the attributes, as the pure-Python span puts it
    Text state;
    if (!state.set(span->trace_state)) {
      Py_DECREF(span);
      return nullptr;
    }
    span->append(3 + state.view.size(), [&](wire::SpanEncoder& e) { e.trace_state(state.view); });
  }
  return reinterpret_cast<PyObject*>(span);
}

/// Emitter.start(name, parent, kind, attributes): what the decorators call.
PyObject* start_span(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept {
  if (nargs != 4) {
    PyErr_SetString(PyExc_TypeError, "start(name, parent, kind, attributes)");
    return nullptr;
  }
  const long kind = PyLong_AsLong(args[2]);
  if (kind == -1 && PyErr_Occurred() != nullptr) return nullptr;
  return make_span(self, args[0], args[1], kind, args[3], nullptr, nullptr, 0);
}

/// Emitter.span(name, parent=None, kind=INTERNAL, **attributes): Tracer.span itself, without a
/// Python frame in between.
PyObject* span_call(PyObject* self, PyObject* const* args, std::size_t nargsf,
                    PyObject* kwnames) noexcept {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs > 3) {
    PyErr_SetString(PyExc_TypeError, "span(name, parent=None, kind=SpanKind.INTERNAL, **attrs)");
    return nullptr;
  }
  PyObject* name = nargs > 0 ? args[0] : nullptr;
  PyObject* parent = nargs > 1 ? args[1] : Py_None;
  PyObject* kind_arg = nargs > 2 ? args[2] : nullptr;
  std::uint32_t skip = 0;  // keyword arguments that are span()'s own, not attributes
  bool own_past_mask = false;
  const Py_ssize_t keywords = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < keywords; ++i) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, i);
    PyObject** own = PyUnicode_CompareWithASCIIString(key, "parent") == 0 ? &parent
                     : PyUnicode_CompareWithASCIIString(key, "kind") == 0 ? &kind_arg
                     : PyUnicode_CompareWithASCIIString(key, "name") == 0 ? &name
                                                                          : nullptr;
    if (own == nullptr) continue;
    if ((own == &name && nargs > 0) || (own == &parent && nargs > 1) ||
        (own == &kind_arg && nargs > 2)) {
      PyErr_Format(PyExc_TypeError, "span() got multiple values for argument '%U'", key);
      return nullptr;
    }
    *own = args[nargs + i];
    if (i < 32) {
      skip |= 1u << i;
    } else {
      own_past_mask = true;
    }
  }
  if (name == nullptr) {
    PyErr_SetString(PyExc_TypeError, "span() missing its name");
    return nullptr;
  }
  long kind = 1;  // SpanKind.INTERNAL
  if (kind_arg != nullptr) {
    kind = PyLong_AsLong(kind_arg);
    if (kind == -1 && PyErr_Occurred() != nullptr) return nullptr;
  }
  if (own_past_mask) {  // rare: span()'s own arguments after 32 attributes
    PyObject* attributes = PyDict_New();
    if (attributes == nullptr) return nullptr;
    for (Py_ssize_t i = 0; i < keywords; ++i) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, i);
      if (PyUnicode_CompareWithASCIIString(key, "parent") == 0 ||
          PyUnicode_CompareWithASCIIString(key, "kind") == 0 ||
          PyUnicode_CompareWithASCIIString(key, "name") == 0) {
        continue;
      }
      if (PyDict_SetItem(attributes, key, args[nargs + i]) < 0) {
        Py_DECREF(attributes);
        return nullptr;
      }
    }
    PyObject* span = make_span(self, name, parent, kind, attributes, nullptr, nullptr, 0);
    Py_DECREF(attributes);
    return span;
  }
  return make_span(self, name, parent, kind, nullptr, kwnames, args + nargs, skip);
}

void span_dealloc(PyObject* self) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  Py_XDECREF(span->emitter);
  Py_XDECREF(span->name);
  Py_XDECREF(span->context);
  Py_XDECREF(span->token);
  Py_XDECREF(span->trace_state);
  PyMem_Free(span->heap);
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);  // instances of heap types hold their type
}

/// Ends the span: its record, finished, or 0 if it ended already or could not be encoded.
std::size_t finish(Span* span) noexcept {
  if (span->ended) return 0;
  span->ended = true;
  std::uint64_t start = 0;
  std::memcpy(&start,
              span->buffer() + wire::kRecordHeaderSize + offsetof(wire::SpanFixed, start_unix_ns),
              sizeof start);
  wire::SpanEncoder e(span->record(), span->state);
  e.set_end(std::max(now_ns(), start));
  e.set_status(span->status);
  const std::size_t length = e.finish();
  span->emitter->dropped_items += span->state.dropped_items;
  if (length == 0) ++span->emitter->dropped;
  return length;
}

bool end_span(Span* span) noexcept {
  if (span->ended) return false;
  const std::size_t length = finish(span);
  if (length == 0) return false;
  Emitter* emitter = span->emitter;
  if (emitter->tracer == nullptr) {
    ++emitter->dropped;
    return false;
  }
  return emitter->emit(emitter->tracer, span->buffer(), length) == 1;
}

PyObject* span_end(PyObject* self, PyObject* /*unused*/) noexcept {
  return PyBool_FromLong(end_span(reinterpret_cast<Span*>(self)) ? 1 : 0);
}

/// The finished record as bytes, or None if it had ended already (Tracer.end_all).
PyObject* span_finish(PyObject* self, PyObject* /*unused*/) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  const std::size_t length = finish(span);
  if (length == 0) Py_RETURN_NONE;
  return PyBytes_FromStringAndSize(reinterpret_cast<const char*>(span->buffer()),
                                   static_cast<Py_ssize_t>(length));
}

PyObject* span_set_attribute(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "set_attribute(key, value)");
    return nullptr;
  }
  auto* span = reinterpret_cast<Span*>(self);
  if (!span->ended && !add_attribute(span, args[0], args[1])) return nullptr;
  return Py_NewRef(self);
}

PyObject* span_set_attributes(PyObject* self, PyObject* attributes) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  if (!span->ended && !add_attributes(span, attributes)) return nullptr;
  return Py_NewRef(self);
}

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

/// add_event(name, attributes=None, **more): up to 255 attributes, the rest left out.
PyObject* span_add_event(PyObject* self, PyObject* args, PyObject* kwargs) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  PyObject* name = nullptr;
  PyObject* attributes = Py_None;
  if (!PyArg_ParseTuple(args, "U|O:add_event", &name, &attributes)) return nullptr;
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
  Py_ssize_t pos = 0;
  PyObject *key = nullptr, *value = nullptr;
  bool ok = true;
  while (ok && n < count && PyDict_Next(source, &pos, &key, &value)) {
    if (!PyUnicode_Check(key)) {
      PyErr_SetString(PyExc_TypeError, "tailgate: attribute keys are str");
      ok = false;
    } else if (items->key(n).set(key) && to_value(value, items->value(n), items->view(n).value)) {
      items->view(n).key = items->key(n).view;
      bytes += 2 + items->key(n).view.size() + encoded_size(items->view(n).value);
      ++n;
    } else {
      ok = false;
    }
  }
  Text name_text;
  ok = ok && name_text.set(name);
  if (ok) {
    span->append(1 + 8 + 2 + name_text.view.size() + 1 + bytes,
                 [&](wire::SpanEncoder& e) { e.event(now_ns(), name_text.view, items->first(n)); });
  }
  Py_XDECREF(merged);
  return ok ? Py_NewRef(self) : nullptr;
}

PyObject* span_set_status_error(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  if (nargs > 1 || (nargs == 1 && !PyUnicode_Check(args[0]))) {
    PyErr_SetString(PyExc_TypeError, "set_status_error(message: str = '')");
    return nullptr;
  }
  if (span->ended) return Py_NewRef(self);
  span->status = 2;  // OTLP STATUS_CODE_ERROR
  if (nargs == 1 && PyUnicode_GET_LENGTH(args[0]) > 0) {
    Text message;
    if (!message.set(args[0])) return nullptr;
    span->append(3 + message.view.size(),
                 [&](wire::SpanEncoder& e) { e.status_message(message.view); });
  }
  return Py_NewRef(self);
}

PyObject* span_set_status_ok(PyObject* self, PyObject* /*unused*/) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  if (!span->ended) span->status = 1;  // OTLP STATUS_CODE_OK
  return Py_NewRef(self);
}

PyObject* span_enter(PyObject* self, PyObject* /*unused*/) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  PyObject* token = PyContextVar_Set(g_current, self);
  if (token == nullptr) return nullptr;
  Py_XSETREF(span->token, token);
  return Py_NewRef(self);
}

PyObject* span_exit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  // Recording the exception can fail (a __str__ that raises): the span still stops being the
  // current one and still ends, and then that error is raised.
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  if (nargs == 3 && args[1] != Py_None) {
    PyObject* escaped = Py_True;
    PyObject* call[] = {self, args[1], escaped};
    PyObject* r = PyObject_VectorcallMethod(g_record_exception, call, 3, nullptr);
    if (r == nullptr) PyErr_Fetch(&type, &value, &traceback);
    Py_XDECREF(r);
  }
  if (span->token != nullptr) {
    PyObject* token = span->token;
    span->token = nullptr;
    const int reset = PyContextVar_Reset(g_current, token);
    Py_DECREF(token);
    if (reset < 0) {
      if (type == nullptr && !PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Fetch(&type, &value, &traceback);
      } else {
        PyErr_Clear();  // exited in another context than entered: leave it be
      }
    }
  }
  end_span(span);
  if (type != nullptr) {
    PyErr_Restore(type, value, traceback);
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* span_get_context(PyObject* self, void* /*unused*/) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  if (span->context == nullptr) {
    PyObject* args[] = {
        PyBytes_FromStringAndSize(reinterpret_cast<const char*>(span->trace_id.data()), 16),
        PyBytes_FromStringAndSize(reinterpret_cast<const char*>(span->span_id.data()), 8),
        PyLong_FromLong(span->trace_flags),
        span->trace_state != nullptr ? Py_NewRef(span->trace_state)
                                     : PyUnicode_FromStringAndSize("", 0)};
    if (args[0] != nullptr && args[1] != nullptr && args[2] != nullptr && args[3] != nullptr) {
      span->context = PyObject_Vectorcall(g_context_class, args, 4, nullptr);
    }
    for (auto* a : args) Py_XDECREF(a);
    if (span->context == nullptr) return nullptr;
  }
  return Py_NewRef(span->context);
}

PyObject* span_get_name(PyObject* self, void* /*unused*/) noexcept {
  return Py_NewRef(reinterpret_cast<Span*>(self)->name);
}

PyMethodDef kSpanMethods[] = {
    {"set_attribute",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_set_attribute)),
     METH_FASTCALL, "Sets an attribute (str, int, float, bool; anything else as str())."},
    {"set_attributes", &span_set_attributes, METH_O, "Sets each attribute of a mapping."},
    {"add_event", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_add_event)),
     METH_VARARGS | METH_KEYWORDS, "add_event(name, attributes=None, **more): a timed event."},
    {"set_status_error",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_set_status_error)),
     METH_FASTCALL, "Status ERROR, with an optional message."},
    {"set_status_ok", &span_set_status_ok, METH_NOARGS, "Status OK."},
    {"end", &span_end, METH_NOARGS, "Ends the span now; False if it was dropped or had ended."},
    {"_finish", &span_finish, METH_NOARGS, "Ends the span; its record, or None if it had ended."},
    {"__enter__", &span_enter, METH_NOARGS, nullptr},
    {"__exit__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_exit)),
     METH_FASTCALL, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef kSpanGetSet[] = {
    {"context", &span_get_context, nullptr, "The span's SpanContext.", nullptr},
    {"name", &span_get_name, nullptr, "The span's name.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

// --- Emitter methods ---------------------------------------------------------------------------

/// Emitter(tracer_address, emit_function_address)
PyObject* emitter_new(PyTypeObject* type, PyObject* args, PyObject* /*kwargs*/) noexcept {
  unsigned long long tracer = 0, emit = 0;
  if (!PyArg_ParseTuple(args, "KK:Emitter", &tracer, &emit)) return nullptr;
  if (tracer == 0 || emit == 0) {
    PyErr_SetString(PyExc_ValueError, "tailgate._native.Emitter: null tracer or function");
    return nullptr;
  }
  auto* self = reinterpret_cast<Emitter*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  // Addresses as ctypes gives them: integers are how they cross from Python.
  self->tracer = reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
      static_cast<std::uintptr_t>(tracer));
  self->emit = reinterpret_cast<EmitFunction>(  // NOLINT(performance-no-int-to-ptr)
      static_cast<std::uintptr_t>(emit));
  return reinterpret_cast<PyObject*>(self);
}

PyObject* emitter_close(PyObject* self, PyObject* /*unused*/) noexcept {
  reinterpret_cast<Emitter*>(self)->tracer = nullptr;
  Py_RETURN_NONE;
}

/// (dropped, dropped_items) counted here.
PyObject* emitter_counts(PyObject* self, PyObject* /*unused*/) noexcept {
  const auto* e = reinterpret_cast<Emitter*>(self);
  return Py_BuildValue("(KK)", static_cast<unsigned long long>(e->dropped),
                       static_cast<unsigned long long>(e->dropped_items));
}

PyMethodDef kEmitterMethods[] = {
    {"span", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_call)),
     METH_FASTCALL | METH_KEYWORDS,
     "span(name, parent=None, kind=SpanKind.INTERNAL, **attributes): a started span."},
    {"start", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&start_span)),
     METH_FASTCALL, "start(name, parent, kind, attributes): a started span."},
    {"close", &emitter_close, METH_NOARGS, "Stops handing spans over (the tracer is gone)."},
    {"counts", &emitter_counts, METH_NOARGS, "(dropped, dropped_items)"},
    {nullptr, nullptr, 0, nullptr}};

// --- module ------------------------------------------------------------------------------------

/// setup(current_var, span_context_class, span_class)
PyObject* module_setup(PyObject* /*module*/, PyObject* args) noexcept {
  PyObject *current = nullptr, *context_class = nullptr, *span_class = nullptr;
  if (!PyArg_ParseTuple(args, "O!OO!:setup", &PyContextVar_Type, &current, &context_class,
                        &PyType_Type, &span_class)) {
    return nullptr;
  }
  if (!PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(span_class), g_span_type)) {
    PyErr_SetString(PyExc_TypeError, "setup: span_class must derive from _native.Span");
    return nullptr;
  }
  Py_XSETREF(g_current, Py_NewRef(current));
  Py_XSETREF(g_context_class, Py_NewRef(context_class));
  PyObject* old = reinterpret_cast<PyObject*>(g_span_class);
  g_span_class = reinterpret_cast<PyTypeObject*>(Py_NewRef(span_class));
  Py_XDECREF(old);
  Py_RETURN_NONE;
}

PyMethodDef kModuleMethods[] = {
    {"setup", &module_setup, METH_VARARGS,
     "setup(current_var, SpanContext, span_class): what spans are made of."},
    {nullptr, nullptr, 0, nullptr}};

void emitter_dealloc(PyObject* self) noexcept {
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyType_Slot kSpanSlots[] = {
    {Py_tp_doc, const_cast<char*>("A span in progress; a context manager. Made by Tracer.span().")},
    {Py_tp_dealloc, reinterpret_cast<void*>(&span_dealloc)},
    {Py_tp_methods, kSpanMethods},
    {Py_tp_getset, kSpanGetSet},
    {0, nullptr}};
// Made only by Emitter.span (as the Python module's subclass), never by calling the class.
PyType_Spec kSpanSpec = {
    "tailgate._native.Span", sizeof(Span), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, kSpanSlots};

PyType_Slot kEmitterSlots[] = {
    {Py_tp_doc, const_cast<char*>("Emitter(tracer, emit): hands finished spans to libtailgate.")},
    {Py_tp_new, reinterpret_cast<void*>(&emitter_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(&emitter_dealloc)},
    {Py_tp_methods, kEmitterMethods},
    {0, nullptr}};
PyType_Spec kEmitterSpec = {"tailgate._native.Emitter", sizeof(Emitter), 0, Py_TPFLAGS_DEFAULT,
                            kEmitterSlots};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT,
                       "tailgate._native",
                       "tailgate's span in C++ (see tailgate/__init__.py)",
                       -1,
                       kModuleMethods,
                       nullptr,
                       nullptr,
                       nullptr,
                       nullptr};

}  // namespace

// The name CPython looks for when it imports tailgate._native.
PyMODINIT_FUNC PyInit__native() {  // NOLINT(bugprone-reserved-identifier)
  if (g_span_type == nullptr) {
    g_span_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&kSpanSpec));
    g_emitter_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&kEmitterSpec));
    g_record_exception = PyUnicode_InternFromString("record_exception");
    if (g_span_type == nullptr || g_emitter_type == nullptr || g_record_exception == nullptr) {
      Py_CLEAR(g_span_type);
      Py_CLEAR(g_emitter_type);
      Py_CLEAR(g_record_exception);
      return nullptr;
    }
    ::pthread_atfork(nullptr, nullptr, [] { t_id_state = 0; });
  }
  PyObject* module = PyModule_Create(&kModule);
  if (module == nullptr) return nullptr;
  if (PyModule_AddObjectRef(module, "Span", reinterpret_cast<PyObject*>(g_span_type)) < 0 ||
      PyModule_AddObjectRef(module, "Emitter", reinterpret_cast<PyObject*>(g_emitter_type)) < 0) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
