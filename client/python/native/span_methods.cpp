// tailgate._native: a span's calls, and its type (see native.hpp).

#include "native.hpp"

namespace tailgate::pynative {
namespace {

void span_dealloc(PyObject* self) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  Py_XDECREF(span->emitter);
  Py_XDECREF(span->name);
  Py_XDECREF(span->context);
  Py_XDECREF(span->token);
  Py_XDECREF(span->baggage_token);
  Py_XDECREF(span->trace_state);
  Py_XDECREF(span->started_context);
  Py_XDECREF(span->started_attributes);
  Py_XDECREF(span->started_links);
  PyMem_Free(span->heap);
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);  // instances of heap types hold their type
}

/// Ends the span: its record, finished, or 0 if it ended already or could not be encoded.
std::size_t finish(Span* span, std::uint64_t end_ns = 0) noexcept {
  if (span->ended) return 0;
  span->ended = true;
  std::uint64_t start = 0;
  std::memcpy(&start,
              span->buffer() + wire::kRecordHeaderSize + offsetof(wire::SpanFixed, start_unix_ns),
              sizeof start);
  wire::SpanEncoder e(span->record(), span->state);
  e.set_end(std::max(end_ns != 0 ? end_ns : now_ns(), start));
  e.set_status(span->status);
  const std::size_t length = e.finish();
  span->emitter->dropped_items += span->state.dropped_items;
  if (length == 0) ++span->emitter->dropped;
  return length;
}

bool end_span(Span* span, std::uint64_t end_ns = 0) noexcept {
  if (span->ended) return false;
  const std::size_t length = finish(span, end_ns);
  if (length == 0) return false;
  Emitter* emitter = span->emitter;
  if (emitter->tracer == nullptr) {
    ++emitter->dropped;
    return false;
  }
  return emitter->emit(emitter->tracer, span->buffer(), length) == 1;
}

/// end(end_time=None): `end_time` in unix ns, else now.
PyObject* span_end(PyObject* self, PyObject* args, PyObject* kwargs) noexcept {
  static const char* keywords[] = {"end_time", nullptr};
  PyObject* end_time = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:end", const_cast<char**>(keywords),
                                   &end_time)) {
    return nullptr;
  }
  std::uint64_t end_ns = 0;
  if (end_time != Py_None) {
    end_ns = PyLong_AsUnsignedLongLong(end_time);
    if (PyErr_Occurred() != nullptr) return nullptr;
  }
  return PyBool_FromLong(end_span(reinterpret_cast<Span*>(self), end_ns) ? 1 : 0);
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
  if (span->started_context != nullptr) {
    // Started in an explicit Context: inside, its baggage is the current baggage, as
    // OpenTelemetry makes the whole Context current.
    PyObject* baggage = PyDict_GetItemWithError(span->started_context, g_baggage_key);
    PyObject* empty = baggage == nullptr && PyErr_Occurred() == nullptr ? PyDict_New() : nullptr;
    if (baggage == nullptr && empty == nullptr) return nullptr;
    PyObject* token = PyContextVar_Set(g_baggage, baggage != nullptr ? baggage : empty);
    Py_XDECREF(empty);
    if (token == nullptr) return nullptr;
    Py_XSETREF(span->baggage_token, token);
  }
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
  if (nargs == 3 && args[1] != Py_None &&
      (span->flags & (kRecordException | kSetStatusOnException))) {
    PyObject* flags = PyLong_FromLong(span->flags);
    PyObject* r = nullptr;
    if (flags != nullptr) {
      PyObject* call[] = {self, args[1], flags};
      r = PyObject_VectorcallMethod(g_escaped, call, 3, nullptr);
      Py_DECREF(flags);
    }
    if (r == nullptr) PyErr_Fetch(&type, &value, &traceback);
    Py_XDECREF(r);
  }
  if (span->baggage_token != nullptr) {
    PyObject* token = span->baggage_token;
    span->baggage_token = nullptr;
    if (PyContextVar_Reset(g_baggage, token) < 0) PyErr_Clear();  // another context: leave it
    Py_DECREF(token);
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
  if (span->flags & kEndOnExit) end_span(span);
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

/// set_status(status, description=None): a Status, or a StatusCode and a description.
/// OpenTelemetry's rules: OK is final, UNSET changes nothing, a description goes with ERROR only.
PyObject* span_set_status(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "set_status(status, description=None)");
    return nullptr;
  }
  PyObject* code = args[0];
  PyObject* description = nargs == 2 ? Py_NewRef(args[1]) : nullptr;
  if (!PyLong_Check(code)) {  // a Status
    code = PyObject_GetAttrString(args[0], "status_code");
    if (code == nullptr) {
      Py_XDECREF(description);
      return nullptr;
    }
    if (description == nullptr || description == Py_None) {
      Py_XDECREF(description);
      description = PyObject_GetAttrString(args[0], "description");
    }
  } else {
    Py_INCREF(code);
  }
  const long value = PyLong_AsLong(code);
  Py_DECREF(code);
  bool ok = !(value == -1 && PyErr_Occurred() != nullptr);
  if (ok && !span->ended && span->status != 1 && value != 0) {
    span->status = value == 1 ? 1 : 2;
    if (span->status == 2 && description != nullptr && PyUnicode_Check(description) &&
        PyUnicode_GET_LENGTH(description) > 0) {
      Text message;
      ok = message.set(description);
      if (ok) {
        span->append(3 + message.view.size(),
                     [&](wire::SpanEncoder& e) { e.status_message(message.view); });
      }
    }
  }
  Py_XDECREF(description);
  return ok ? Py_NewRef(self) : nullptr;
}

/// update_name(name): the record's name is rewritten in place (the items after it move).
PyObject* span_update_name(PyObject* self, PyObject* name) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  if (!PyUnicode_Check(name)) {
    PyErr_SetString(PyExc_TypeError, "update_name(name: str)");
    return nullptr;
  }
  if (span->ended || span->state.failed) return Py_NewRef(self);
  Text text;
  if (!text.set(name)) return nullptr;
  std::uint16_t old_length = 0;
  constexpr std::size_t kNameLen = wire::kRecordHeaderSize + offsetof(wire::SpanFixed, name_len);
  std::memcpy(&old_length, span->buffer() + kNameLen, 2);
  const std::size_t items = span->state.used - kFixedEnd - old_length;
  const std::size_t used = kFixedEnd + text.view.size() + items;
  if (used > wire::kMaxRecordSize) return Py_NewRef(self);  // keeps its name: it would not fit
  if (text.view.size() > old_length) span->reserve(text.view.size() - old_length);
  if (used > span->capacity) return Py_NewRef(self);
  std::byte* b = span->buffer();
  std::memmove(b + kFixedEnd + text.view.size(), b + kFixedEnd + old_length, items);
  std::memcpy(b + kFixedEnd, text.view.data(), text.view.size());
  const auto length = static_cast<std::uint16_t>(text.view.size());
  std::memcpy(b + kNameLen, &length, 2);
  span->state.used = static_cast<std::uint32_t>(used);
  Py_SETREF(span->name, Py_NewRef(name));
  return Py_NewRef(self);
}

PyObject* span_is_recording(PyObject* self, PyObject* /*unused*/) noexcept {
  return PyBool_FromLong(reinterpret_cast<Span*>(self)->ended ? 0 : 1);
}

/// (start_as_current_span, name, context, kind, attributes, links, flags): how to start another
/// span like this one (start_as_current_span(...) used as a decorator).
PyObject* span_recipe(PyObject* self, PyObject* /*unused*/) noexcept {
  auto* span = reinterpret_cast<Span*>(self);
  PyObject* start =
      PyObject_GetAttrString(reinterpret_cast<PyObject*>(span->emitter), "start_as_current_span");
  if (start == nullptr) return nullptr;
  const auto none = [](PyObject* o) { return o != nullptr ? o : Py_None; };
  return Py_BuildValue("(NOiOOOi)", start, span->name, span->kind, none(span->started_context),
                       none(span->started_attributes), none(span->started_links),
                       static_cast<int>(span->flags));
}

/// Ends the span without sending it (the decorator's template span).
PyObject* span_discard(PyObject* self, PyObject* /*unused*/) noexcept {
  reinterpret_cast<Span*>(self)->ended = true;
  Py_RETURN_NONE;
}

PyMethodDef kSpanMethods[] = {
    {"set_attribute",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_set_attribute)),
     METH_FASTCALL, "Sets an attribute (str, int, float, bool; anything else as str())."},
    {"set_attributes", &span_set_attributes, METH_O, "Sets each attribute of a mapping."},
    {"add_event", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_add_event)),
     METH_VARARGS | METH_KEYWORDS,
     "add_event(name, attributes=None, timestamp=None, **more): a timed event."},
    {"set_status_error",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_set_status_error)),
     METH_FASTCALL, "Status ERROR, with an optional message."},
    {"set_status_ok", &span_set_status_ok, METH_NOARGS, "Status OK."},
    {"end", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_end)),
     METH_VARARGS | METH_KEYWORDS,
     "end(end_time=None): ends the span; False if it was dropped or had ended."},
    {"set_status", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&span_set_status)),
     METH_FASTCALL, "set_status(Status or StatusCode, description=None)"},
    {"update_name", &span_update_name, METH_O, "Renames the span."},
    {"is_recording", &span_is_recording, METH_NOARGS, "True until the span ends."},
    {"_append_link", &span_append_link, METH_VARARGS,
     "_append_link(trace_id: bytes, span_id: bytes, trace_state: str, attributes=None)"},
    {"_recipe", &span_recipe, METH_NOARGS, "How to start another span like this one."},
    {"_discard", &span_discard, METH_NOARGS, "Ends the span without sending it."},
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

PyType_Slot kSpanSlots[] = {
    {Py_tp_doc, const_cast<char*>("A span in progress; a context manager. Made by the tracer.")},
    {Py_tp_dealloc, reinterpret_cast<void*>(&span_dealloc)},
    {Py_tp_methods, kSpanMethods},
    {Py_tp_getset, kSpanGetSet},
    {0, nullptr}};

}  // namespace

// Made only by the Emitter (as the Python module's subclass), never by calling the class.
PyType_Spec kSpanSpec = {
    "tailgate._native.Span", sizeof(Span), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, kSpanSlots};

}  // namespace tailgate::pynative
