// tailgate._native: OpenTelemetry's start_as_current_span and start_span on the Emitter: their
// arguments, positional or by keyword, without a Python frame in between (see native.hpp).

#include "native.hpp"

namespace tailgate::pynative {

std::array<PyObject*, kOtelParameters.size()> g_otel_parameters{};

bool intern_parameters() noexcept {
  for (std::size_t i = 0; i < kOtelParameters.size(); ++i) {
    g_otel_parameters[i] = PyUnicode_InternFromString(kOtelParameters[i]);
    if (g_otel_parameters[i] == nullptr) return false;
  }
  return true;
}

namespace {

/// Reads the OpenTelemetry call's arguments (positional, then keywords) into `s`.
bool otel_arguments(PyObject* const* args, std::size_t nargsf, PyObject* kwnames,
                    std::size_t parameters, Start& s) noexcept {
  std::array<PyObject*, kOtelParameters.size()> given{};
  const auto nargs = static_cast<std::size_t>(PyVectorcall_NARGS(nargsf));
  if (nargs > parameters) {
    PyErr_Format(PyExc_TypeError, "start_span() takes at most %zu arguments", parameters);
    return false;
  }
  std::copy(args, args + nargs, given.begin());
  const Py_ssize_t keywords = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < keywords; ++i) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, i);
    // Keyword names in calls are interned: their pointers, then (rarely) their text.
    std::size_t p = 0;
    while (p < parameters && key != g_otel_parameters[p]) ++p;
    if (p == parameters) {
      p = 0;
      while (p < parameters && PyUnicode_CompareWithASCIIString(key, kOtelParameters[p]) != 0) ++p;
    }
    if (p == parameters || given[p] != nullptr) {
      PyErr_Format(PyExc_TypeError, "start_span() got %s argument '%U'",
                   p == parameters ? "an unexpected" : "multiple values for", key);
      return false;
    }
    given[p] = args[nargs + i];
  }
  if (given[0] == nullptr) {
    PyErr_SetString(PyExc_TypeError, "start_span() missing its name");
    return false;
  }
  s.name = given[0];
  s.context = given[1] != nullptr ? given[1] : Py_None;
  if (given[2] != nullptr) {
    s.kind = PyLong_AsLong(given[2]);
    if (s.kind == -1 && PyErr_Occurred() != nullptr) return false;
  }
  s.mapping = given[3];
  s.links = given[4];
  if (given[5] != nullptr && given[5] != Py_None) {
    s.start_ns = PyLong_AsUnsignedLongLong(given[5]);
    if (PyErr_Occurred() != nullptr) return false;
  }
  constexpr std::array<std::uint8_t, 3> kFlagOf = {kRecordException, kSetStatusOnException,
                                                   kEndOnExit};
  for (std::size_t f = 0; f < kFlagOf.size(); ++f) {
    PyObject* flag = given[6 + f];
    if (flag == nullptr) continue;
    const int on = PyObject_IsTrue(flag);
    if (on < 0) return false;
    s.flags = static_cast<std::uint8_t>(on != 0 ? (s.flags | kFlagOf[f]) : (s.flags & ~kFlagOf[f]));
  }
  return true;
}

PyObject* otel_start_with(PyObject* self, PyObject* const* args, std::size_t nargsf,
                          PyObject* kwnames, std::size_t parameters) noexcept {
  Start s;
  if (!otel_arguments(args, nargsf, kwnames, parameters, s)) return nullptr;
  PyObject* span = make_span(self, s, nullptr, true);
  if (span != nullptr && s.links != nullptr && s.links != Py_None) {
    // Links are rare: the span's Python method reads them (each a Link: context, attributes).
    PyObject* r = PyObject_CallMethod(span, "_add_links", "O", s.links);
    if (r == nullptr) Py_CLEAR(span);
    Py_XDECREF(r);
  }
  return span;
}

}  // namespace

/// Emitter.start_as_current_span(name, context=None, kind=INTERNAL, attributes=None, links=None,
/// start_time=None, record_exception=True, set_status_on_exception=True, end_on_exit=True).
PyObject* otel_start_current(PyObject* self, PyObject* const* args, std::size_t nargsf,
                             PyObject* kwnames) noexcept {
  return otel_start_with(self, args, nargsf, kwnames, 9);
}

/// Emitter.start_span: the same but end_on_exit.
PyObject* otel_start(PyObject* self, PyObject* const* args, std::size_t nargsf,
                     PyObject* kwnames) noexcept {
  return otel_start_with(self, args, nargsf, kwnames, 8);
}

}  // namespace tailgate::pynative
