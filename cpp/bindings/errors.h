// Shared by every binding file: C++ Status -> the typed exceptions of litegen.errors.
//
// The exception classes are defined once, in Python, and looked up by name at raise
// time, so C++ and Python never disagree on the hierarchy.
#ifndef LITEGEN_CPP_BINDINGS_ERRORS_H_
#define LITEGEN_CPP_BINDINGS_ERRORS_H_

#include <pybind11/pybind11.h>

#include <utility>

#include "litert/status.h"

namespace litegen {

// Raises the litegen.errors exception matching `status.code()` with its message.
[[noreturn]] void RaiseStatus(const Status& status);

inline void Check(const Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

template <typename T>
T Unwrap(Expected<T> expected) {
  if (!expected.ok()) RaiseStatus(expected.status());
  return std::move(expected).value();
}

}  // namespace litegen

#endif  // LITEGEN_CPP_BINDINGS_ERRORS_H_
