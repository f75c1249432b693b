// tailgate._native: starting spans: the parent (a span, a SpanContext, a Context, or the current
// span) and the record's fixed part; the Emitter's calls that start spans (see native.hpp).

#include "native.hpp"

namespace tailgate::pynative {
namespace {

/// The parent's ids from a SpanContext (or anything with its attributes).
struct Parent {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t trace_flags = 1;
  bool remote = false;
  PyObject* trace_state = nullptr;  ///< new reference, or null
  Parent() = default;
  Parent(const Parent&) = delete;
  Parent& operator=(const Parent&) = delete;
  ~Parent() { Py_XDECREF(trace_state); }
  /// All-zero ids are the invalid context (no span): a span under it is a root.
  [[nodiscard]] bool valid() const noexcept {
    return std::any_of(trace_id.begin(), trace_id.end(), [](auto b) { return b != 0; }) &&
           std::any_of(span_id.begin(), span_id.end(), [](auto b) { return b != 0; });
  }
};

/// Copies an id given as bytes (tailgate.SpanContext) or an int (tailgate.trace.SpanContext).
bool copy_id(PyObject* context, const char* field, std::uint8_t* out, std::size_t size) noexcept {
  PyObject* id = PyObject_GetAttrString(context, field);
  if (id == nullptr) return false;
  if (PyLong_Check(id)) {  // rare: a parent given as OpenTelemetry's SpanContext
    PyObject* raw = PyObject_CallMethod(id, "to_bytes", "is", static_cast<int>(size), "big");
    Py_DECREF(id);
    if (raw == nullptr) return false;
    id = raw;
  }
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

/// The parent a span of `holder` (the current span, or a Context's) would have: none if it is
/// None, else its ids if they are valid.
bool parent_of(PyObject* holder, Parent& out, bool& found) noexcept {
  found = false;
  if (PyObject_TypeCheck(holder, g_span_type)) {
    found = true;
    return read_parent(holder, out);
  }
  if (holder == Py_None) return true;
  // A span of another kind (a NonRecordingSpan: tracing off, or an extracted context).
  PyObject* context = PyObject_GetAttrString(holder, "context");
  if (context == nullptr) return false;
  bool ok = true;
  if (context != Py_None) {
    ok = read_parent(context, out);
    found = ok && out.valid();
  }
  Py_DECREF(context);
  return ok;
}

/// The parent given to the older calls: a span (of any kind), or a SpanContext of either kind.
bool given_parent(PyObject* given, Parent& out, bool& found) noexcept {
  if (PyObject_TypeCheck(given, g_span_type) || !PyObject_HasAttrString(given, "trace_id")) {
    return parent_of(given, out, found);
  }
  const bool ok = read_parent(given, out);
  found = ok && out.valid();
  return ok;
}

/// The parent of a span started without one: the current span's context, if there is one.
bool current_parent(Parent& out, bool& found) noexcept {
  PyObject* current = nullptr;
  if (PyContextVar_Get(g_current, Py_None, &current) < 0) return false;
  const bool ok = parent_of(current, out, found);
  Py_DECREF(current);
  return ok;
}

/// The parent in an OpenTelemetry Context (a mapping; None: the current span's). A Context
/// without a span makes a root, as OpenTelemetry has it.
bool context_parent(PyObject* context, Parent& out, bool& found) noexcept {
  if (context == Py_None) return current_parent(out, found);
  if (!PyDict_Check(context)) {
    PyErr_Format(PyExc_TypeError,
                 "tailgate: context= takes a Context (extract() gives one), not %s",
                 Py_TYPE(context)->tp_name);
    return false;
  }
  PyObject* span = PyDict_GetItemWithError(context, g_span_key);  // borrowed
  if (span == nullptr) {
    found = false;
    return PyErr_Occurred() == nullptr;
  }
  return parent_of(span, out, found);
}

/// Fills a started span's ids, header, attributes and trace state from `s` and `parent`.
bool fill(Span* span, const Start& s, const Parent& parent, bool has_parent) noexcept {
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
  if (!name_text.set(s.name)) return false;
  span->reserve(kFixedEnd + name_text.view.size());
  const wire::SpanHeader header{
      .trace_id = span->trace_id.data(),
      .span_id = span->span_id.data(),
      .parent_span_id = has_parent ? parent.span_id.data() : nullptr,
      .start_unix_ns = s.start_ns != 0 ? s.start_ns : now_ns(),
      .end_unix_ns = 0,
      .kind = static_cast<std::uint8_t>(s.kind),
      .status = 0,
      .trace_flags = span->trace_flags,
      .span_flags = has_parent && parent.remote ? wire::kParentIsRemote : std::uint8_t{0}};
  {
    wire::SpanEncoder e(span->record(), header, name_text.view, /*skip_items=*/true);
    span->state = e.state();
  }
  if (s.mapping != nullptr && s.mapping != Py_None && !add_attributes(span, s.mapping)) {
    return false;
  }
  const Py_ssize_t keywords = s.kwnames != nullptr ? PyTuple_GET_SIZE(s.kwnames) : 0;
  for (Py_ssize_t i = 0; i < keywords; ++i) {
    if ((s.skip >> i & 1) == 0 &&
        !add_attribute(span, PyTuple_GET_ITEM(s.kwnames, i), s.kwvalues[i])) {
      return false;
    }
  }
  if (span->trace_state != nullptr) {  // after the attributes, as the pure-Python span puts it
    Text state;
    if (!state.set(span->trace_state)) return false;
    span->append(3 + state.view.size(), [&](wire::SpanEncoder& e) { e.trace_state(state.view); });
  }
  return true;
}

}  // namespace

/// A started span of `emitter` under `parent_arg` (a span or SpanContext; None: the current
/// span), or, with `otel`, under the OpenTelemetry Context `s.context`.
PyObject* make_span(PyObject* emitter, const Start& s, PyObject* parent_arg, bool otel) noexcept {
  if (g_span_class == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "tailgate._native: setup() was not called");
    return nullptr;
  }
  if (!PyUnicode_Check(s.name)) {
    PyErr_Format(PyExc_TypeError, "tailgate: a span's name is a str, not %s",
                 Py_TYPE(s.name)->tp_name);
    return nullptr;
  }
  Parent parent;
  bool has_parent = false;
  if (otel                    ? !context_parent(s.context, parent, has_parent)
      : parent_arg == Py_None ? !current_parent(parent, has_parent)
                              : !given_parent(parent_arg, parent, has_parent)) {
    return nullptr;
  }
  auto* span = reinterpret_cast<Span*>(g_span_class->tp_alloc(g_span_class, 0));
  if (span == nullptr) return nullptr;
  // tp_alloc zeroed the object.
  span->capacity = kInlineBytes;
  span->emitter = reinterpret_cast<Emitter*>(Py_NewRef(emitter));
  span->name = Py_NewRef(s.name);
  span->kind = static_cast<std::uint8_t>(s.kind);
  span->flags = s.flags;
  if (has_parent) span->trace_state = Py_XNewRef(parent.trace_state);
  if (otel) {
    if (s.context != Py_None) span->started_context = Py_NewRef(s.context);
    if (s.mapping != nullptr && s.mapping != Py_None)
      span->started_attributes = Py_NewRef(s.mapping);
    if (s.links != nullptr && s.links != Py_None) span->started_links = Py_NewRef(s.links);
  }
  if (!fill(span, s, parent, has_parent)) {
    Py_DECREF(span);
    return nullptr;
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
  Start s;
  s.name = args[0];
  s.kind = kind;
  s.mapping = args[3];
  return make_span(self, s, args[1], false);
}

/// Emitter.span(name, parent=None, kind=INTERNAL, attributes=None, **more): Tracer.span itself,
/// without a Python frame in between. `attributes` is a mapping (keys with dots, or named name,
/// kind or parent); the keyword arguments are more attributes.
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
  PyObject* mapping = nullptr;
  std::uint32_t skip = 0;  // keyword arguments that are span()'s own, not attributes
  bool own_past_mask = false;
  const Py_ssize_t keywords = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < keywords; ++i) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, i);
    PyObject** own = PyUnicode_CompareWithASCIIString(key, "parent") == 0       ? &parent
                     : PyUnicode_CompareWithASCIIString(key, "kind") == 0       ? &kind_arg
                     : PyUnicode_CompareWithASCIIString(key, "name") == 0       ? &name
                     : PyUnicode_CompareWithASCIIString(key, "attributes") == 0 ? &mapping
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
          PyUnicode_CompareWithASCIIString(key, "name") == 0 ||
          PyUnicode_CompareWithASCIIString(key, "attributes") == 0) {
        continue;
      }
      if (PyDict_SetItem(attributes, key, args[nargs + i]) < 0) {
        Py_DECREF(attributes);
        return nullptr;
      }
    }
    if (mapping != nullptr && mapping != Py_None && PyDict_Update(attributes, mapping) < 0) {
      Py_DECREF(attributes);
      return nullptr;
    }
    Start s;
    s.name = name;
    s.kind = kind;
    s.mapping = attributes;
    PyObject* span = make_span(self, s, parent, false);
    Py_DECREF(attributes);
    return span;
  }
  Start s;
  s.name = name;
  s.kind = kind;
  s.mapping = mapping;
  s.kwnames = kwnames;
  s.kwvalues = args + nargs;
  s.skip = skip;
  return make_span(self, s, parent, false);
}

}  // namespace tailgate::pynative
