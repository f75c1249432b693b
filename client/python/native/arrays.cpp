// tailgate._native: lists and tuples as attribute values (see native.hpp): an array of one type,
// or, for any other, the compact JSON text the pure-Python span writes too.

#include <algorithm>

#include "native.hpp"

namespace tailgate::pynative {

namespace {

/// What an array element is on the wire: as to_value decides for a single value.
enum class Element { String, Double, Bool, Int64, Other };

Element element_of(PyObject* v) noexcept {
  if (PyUnicode_Check(v)) return Element::String;
  if (PyFloat_Check(v)) return Element::Double;
  if (PyBool_Check(v)) return Element::Bool;
  if (PyLong_Check(v)) {
    int overflow = 0;
    const long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (n == -1 && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      return Element::Other;
    }
    return overflow == 0 ? Element::Int64 : Element::Other;  // beyond 64 bits: as text
  }
  return Element::Other;
}

/// UTF-8 of an array's str element; one with unpaired surrogates is encoded with replacement
/// into bytes that `held` (a list, made on first use) keeps alive.
bool utf8_of(PyObject* str, PyObject*& held, std::string_view& out) noexcept {
  Py_ssize_t n = 0;
  const char* data = PyUnicode_AsUTF8AndSize(str, &n);
  if (data == nullptr) {
    PyErr_Clear();
    if (held == nullptr && (held = PyList_New(0)) == nullptr) return false;
    PyObject* bytes = PyUnicode_AsEncodedString(str, "utf-8", "replace");
    if (bytes == nullptr) return false;
    const bool kept = PyList_Append(held, bytes) == 0;
    Py_DECREF(bytes);
    if (!kept) return false;
    data = PyBytes_AS_STRING(bytes);
    n = PyBytes_GET_SIZE(bytes);
  }
  out = std::string_view(data, std::min(static_cast<std::size_t>(n), wire::kMaxStringLength));
  return true;
}

}  // namespace

bool Text::set_array(PyObject* sequence, wire::ArrayView& out) noexcept {
  const auto n = static_cast<std::size_t>(PySequence_Fast_GET_SIZE(sequence));
  PyObject** items = PySequence_Fast_ITEMS(sequence);
  if (n > wire::kMaxArrayElements) return false;
  if (n == 0) {
    out = std::span<const std::string_view>();
    return true;
  }
  const Element type = element_of(items[0]);
  if (type == Element::Other) return false;
  for (std::size_t i = 1; i < n; ++i) {
    if (element_of(items[i]) != type) return false;
  }
  // Elements are read into a buffer of their C++ type, which the array's view points into.
  const auto fill = [&]<typename T>(auto read) {
    auto* buffer = static_cast<T*>(PyMem_Malloc(n * sizeof(T)));
    if (buffer == nullptr) {
      PyErr_NoMemory();
      return false;
    }
    PyMem_Free(elements);
    elements = buffer;
    for (std::size_t i = 0; i < n; ++i) {
      if (!read(items[i], buffer[i])) return false;
    }
    out = std::span<const T>(buffer, n);
    return true;
  };
  switch (type) {
    case Element::String:
      return fill.operator()<std::string_view>(
          [this](PyObject* v, std::string_view& e) { return utf8_of(v, hold, e); });
    case Element::Double:
      return fill.operator()<double>([](PyObject* v, double& e) {
        e = PyFloat_AS_DOUBLE(v);
        return true;
      });
    case Element::Bool:
      return fill.operator()<bool>([](PyObject* v, bool& e) {
        e = v == Py_True;
        return true;
      });
    case Element::Int64:
      return fill.operator()<std::int64_t>([](PyObject* v, std::int64_t& e) {
        e = PyLong_AsLongLong(v);  // in range: element_of checked
        return true;
      });
    case Element::Other:
      break;
  }
  return false;
}

bool Text::set_array_text(PyObject* value) noexcept {
  // A sequence the record format has no array for: sent as the agent's OTLP receiver writes such
  // arrays (compact JSON), by tailgate._wire.array_text, the pure-Python span's own function.
  static PyObject* array_text = nullptr;
  if (array_text == nullptr) {
    PyObject* module = PyImport_ImportModule("tailgate._wire");
    if (module == nullptr) return false;
    array_text = PyObject_GetAttrString(module, "array_text");
    Py_DECREF(module);
    if (array_text == nullptr) return false;
  }
  PyObject* json = PyObject_CallOneArg(array_text, value);
  if (json == nullptr) return false;
  const bool ok = set(json);
  if (hold == nullptr) {  // `view` may point into `json` (its cached UTF-8): keep it alive
    hold = json;
  } else {
    Py_DECREF(json);
  }
  return ok;
}

}  // namespace tailgate::pynative
