// tailgate._native: the Emitter (the tracer's handle) and the module (see native.hpp).

#include <pthread.h>

#include "native.hpp"

namespace tailgate::pynative {

PyObject* g_current = nullptr;
PyObject* g_baggage = nullptr;
PyObject* g_context_class = nullptr;
PyTypeObject* g_span_class = nullptr;
PyObject* g_escaped = nullptr;
PyObject* g_span_key = nullptr;
PyObject* g_baggage_key = nullptr;
PyTypeObject* g_span_type = nullptr;
PyTypeObject* g_emitter_type = nullptr;

namespace {

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
     "span(name, parent=None, kind=SpanKind.INTERNAL, attributes=None, **more): a started span."},
    {"start", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&start_span)),
     METH_FASTCALL, "start(name, parent, kind, attributes): a started span."},
    {"start_as_current_span",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&otel_start_current)),
     METH_FASTCALL | METH_KEYWORDS,
     "start_as_current_span(name, context=None, kind=INTERNAL, attributes=None, links=None, "
     "start_time=None, record_exception=True, set_status_on_exception=True, end_on_exit=True)"},
    {"start_span", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&otel_start)),
     METH_FASTCALL | METH_KEYWORDS,
     "start_span(name, context=None, kind=INTERNAL, attributes=None, links=None, "
     "start_time=None, record_exception=True, set_status_on_exception=True)"},
    {"close", &emitter_close, METH_NOARGS, "Stops handing spans over (the tracer is gone)."},
    {"counts", &emitter_counts, METH_NOARGS, "(dropped, dropped_items)"},
    {nullptr, nullptr, 0, nullptr}};

// --- module ------------------------------------------------------------------------------------

/// setup(current_var, span_context_class, span_class)
PyObject* module_setup(PyObject* /*module*/, PyObject* args) noexcept {
  PyObject *current = nullptr, *context_class = nullptr, *span_class = nullptr;
  PyObject* baggage = nullptr;
  if (!PyArg_ParseTuple(args, "O!OO!O!:setup", &PyContextVar_Type, &current, &context_class,
                        &PyType_Type, &span_class, &PyContextVar_Type, &baggage)) {
    return nullptr;
  }
  if (!PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(span_class), g_span_type)) {
    PyErr_SetString(PyExc_TypeError, "setup: span_class must derive from _native.Span");
    return nullptr;
  }
  Py_XSETREF(g_current, Py_NewRef(current));
  Py_XSETREF(g_baggage, Py_NewRef(baggage));
  Py_XSETREF(g_context_class, Py_NewRef(context_class));
  PyObject* old = reinterpret_cast<PyObject*>(g_span_class);
  g_span_class = reinterpret_cast<PyTypeObject*>(Py_NewRef(span_class));
  Py_XDECREF(old);
  Py_RETURN_NONE;
}

PyMethodDef kModuleMethods[] = {
    {"setup", &module_setup, METH_VARARGS,
     "setup(current_var, SpanContext, span_class, baggage_var): what spans are made of."},
    {nullptr, nullptr, 0, nullptr}};

void emitter_dealloc(PyObject* self) noexcept {
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

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
}  // namespace tailgate::pynative

// The name CPython looks for when it imports tailgate._native.
PyMODINIT_FUNC PyInit__native() {  // NOLINT(bugprone-reserved-identifier)
  using namespace tailgate::pynative;
  if (g_span_type == nullptr) {
    g_span_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&kSpanSpec));
    g_emitter_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&kEmitterSpec));
    g_escaped = PyUnicode_InternFromString("_escaped");
    g_span_key = PyUnicode_InternFromString("current-span");
    g_baggage_key = PyUnicode_InternFromString("baggage");
    if (g_span_type == nullptr || g_emitter_type == nullptr || g_escaped == nullptr ||
        g_span_key == nullptr || g_baggage_key == nullptr || !intern_parameters()) {
      Py_CLEAR(g_span_type);
      Py_CLEAR(g_emitter_type);
      Py_CLEAR(g_escaped);
      Py_CLEAR(g_span_key);
      Py_CLEAR(g_baggage_key);
      return nullptr;
    }
    ::pthread_atfork(nullptr, nullptr, [] { reset_ids(); });
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