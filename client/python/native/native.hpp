#pragma once
// tailgate._native: the Python client's span written against CPython's C API, so that a span
// costs the interpreter a few calls instead of a few hundred bytecodes. The record is encoded as
// the span goes (the same wire encoder the C++ client inlines) into a buffer inside the span
// object, and handed to libtailgate.so at the end through the function pointer the Python module
// passes in (ctypes found it; this module links nothing of the library's). The pure-Python Span in
// tailgate/_span.py does the same where this module cannot be loaded; tests run both.
//
// Under the GIL throughout (no state is shared without it), except the per-thread id generator.
// Files: values.cpp (attribute values, events, ids), start.cpp (making spans: parents, the
// tracer's calls), span_methods.cpp (a span's calls), module.cpp (Emitter, the module).

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "wire/encode.hpp"

namespace tailgate::pynative {

namespace wire = tailgate::wire;

// --- things the Python module hands over once (setup) ------------------------------------------

extern PyObject* g_current;           ///< the ContextVar holding the current span
extern PyObject* g_baggage;           ///< the ContextVar holding the current baggage
extern PyObject* g_context_class;     ///< tailgate.SpanContext
extern PyTypeObject* g_span_class;    ///< the Python subclass spans are made as
extern PyObject* g_escaped;           ///< "_escaped", interned
extern PyObject* g_span_key;          ///< "current-span", interned: a Context's span
extern PyObject* g_baggage_key;       ///< "baggage", interned: a Context's baggage
extern PyTypeObject* g_span_type;     ///< _native.Span (heap types, made at import)
extern PyTypeObject* g_emitter_type;  ///< _native.Emitter

std::uint64_t now_ns() noexcept;
std::uint64_t next_id() noexcept;
/// Forgets this thread's id generator state (a forked child must not repeat its parent's ids).
void reset_ids() noexcept;

// --- Emitter: the tracer's handle and the function that writes a record ------------------------

using EmitFunction = int (*)(void* tracer, const void* record, std::size_t length);

struct Emitter {
  PyObject ob_base;  // CPython's object header (PyObject_HEAD)
  void* tracer;      ///< libtailgate's tailgate_tracer*, null once closed
  EmitFunction emit;
  std::uint64_t dropped;        ///< spans not handed over: not encoded, or the tracer closed
  std::uint64_t dropped_items;  ///< attributes, events and links left out of spans
};

// --- Span -------------------------------------------------------------------------------------

constexpr std::size_t kInlineBytes = 320;  // a typical span's record; the object stays < 512 B
constexpr std::size_t kFixedEnd = wire::kRecordHeaderSize + wire::kSpanFixedSize;
// What an exception escaping the span's `with` does (start_as_current_span's flags).
constexpr std::uint8_t kRecordException = 1, kSetStatusOnException = 2, kEndOnExit = 4;
constexpr std::uint8_t kDefaultFlags = kRecordException | kSetStatusOnException | kEndOnExit;

struct Span {
  PyObject ob_base;  // CPython's object header (PyObject_HEAD)
  Emitter* emitter;
  PyObject* name;
  PyObject* context;        ///< SpanContext, made when first asked for
  PyObject* token;          ///< from entering the span as the current one
  PyObject* baggage_token;  ///< from entering it with a context= (its baggage is current)
  PyObject* trace_state;    ///< str, or null for none
  // How the span was started, for start_as_current_span(...) used as a decorator (each call
  // starts another the same way): the caller's objects, held, not copied.
  PyObject* started_context;
  PyObject* started_attributes;
  PyObject* started_links;
  std::byte* heap;  ///< the record once it outgrows `inline_bytes`
  std::uint32_t capacity;
  wire::EncoderState state;
  std::uint8_t status;
  std::uint8_t kind;
  std::uint8_t flags;  ///< kRecordException...
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
  void reserve(std::size_t extra) noexcept;
};

/// UTF-8 of a str; unpaired surrogates replaced (as str.encode(errors="replace")), the bytes kept
/// alive by `hold`. Cut at the wire format's string limit.
struct Text {
  PyObject* hold = nullptr;
  std::string_view view;
  void* elements = nullptr;  ///< an array's elements (set_array), from PyMem_Malloc
  Text() = default;
  Text(const Text&) = delete;
  Text& operator=(const Text&) = delete;
  ~Text() {
    Py_XDECREF(hold);
    PyMem_Free(elements);
  }

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
  /// A list or tuple of one type (str, int, float or bool) as an array in `out`, its elements
  /// held here; false, with no exception, for any other (values.cpp).
  bool set_array(PyObject* sequence, wire::ArrayView& out) noexcept;
  /// A list or tuple as compact JSON text (values.cpp).
  bool set_array_text(PyObject* value) noexcept;
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

/// An attribute value as the wire carries it (see values.cpp).
bool to_value(PyObject* value, Text& text, wire::ValueView& out) noexcept;
bool add_attribute(Span* span, PyObject* key, PyObject* value) noexcept;
bool add_attributes(Span* span, PyObject* mapping) noexcept;
/// add_event(name, attributes=None, timestamp=None, **more): a span method.
PyObject* span_add_event(PyObject* self, PyObject* args, PyObject* kwargs) noexcept;

/// _append_link(trace_id, span_id, trace_state, attributes=None): a span method (SpanAPI.add_link
/// reads the context).
PyObject* span_append_link(PyObject* self, PyObject* args) noexcept;

/// Emitter methods that start spans (start.cpp).
PyObject* start_span(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept;
PyObject* span_call(PyObject* self, PyObject* const* args, std::size_t nargsf,
                    PyObject* kwnames) noexcept;
PyObject* otel_start_current(PyObject* self, PyObject* const* args, std::size_t nargsf,
                             PyObject* kwnames) noexcept;
PyObject* otel_start(PyObject* self, PyObject* const* args, std::size_t nargsf,
                     PyObject* kwnames) noexcept;

// start_as_current_span's and start_span's parameters, in OpenTelemetry's order, and the same
// interned at import (intern_parameters).
constexpr std::array<const char*, 9> kOtelParameters = {"name",
                                                        "context",
                                                        "kind",
                                                        "attributes",
                                                        "links",
                                                        "start_time",
                                                        "record_exception",
                                                        "set_status_on_exception",
                                                        "end_on_exit"};
extern std::array<PyObject*, kOtelParameters.size()> g_otel_parameters;
bool intern_parameters() noexcept;

/// How a span starts: what start_as_current_span and the older calls have in common.
struct Start {
  PyObject* name = nullptr;
  long kind = 1;               // SpanKind.INTERNAL
  std::uint64_t start_ns = 0;  ///< 0: now
  std::uint8_t flags = kDefaultFlags;
  PyObject* mapping = nullptr;  ///< attributes: a mapping, None or null
  PyObject* kwnames = nullptr;  ///< ...and keyword arguments (the older span()), not `skip`ped
  PyObject* const* kwvalues = nullptr;
  std::uint32_t skip = 0;
  PyObject* context = nullptr;  ///< kept for a decorator's later spans
  PyObject* links = nullptr;
};

/// A started span of `emitter` under `parent_arg` (a span or SpanContext; None: the current
/// span), or, with `otel`, under the OpenTelemetry Context `s.context` (start.cpp).
PyObject* make_span(PyObject* emitter, const Start& s, PyObject* parent_arg, bool otel) noexcept;

/// The span type's spec (span_methods.cpp).
extern PyType_Spec kSpanSpec;

}  // namespace tailgate::pynative
