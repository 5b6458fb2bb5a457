#include "bindings/errors.h"

#include <string>

namespace py = pybind11;

namespace litegen {

[[noreturn]] void RaiseStatus(const Status& status) {
  const char* type_name = "LitegenError";
  switch (status.code()) {
    case ErrorCode::kModelLoad: type_name = "ModelLoadError"; break;
    case ErrorCode::kSignature: type_name = "SignatureError"; break;
    case ErrorCode::kInput:
    case ErrorCode::kInvalidArgument: type_name = "InputError"; break;
    case ErrorCode::kExecution: type_name = "ExecutionError"; break;
    case ErrorCode::kOk:
    case ErrorCode::kUnsupported:
    case ErrorCode::kInternal: break;
  }
  py::object type = py::module_::import("litegen.errors").attr(type_name);
  // Messages may quote bytes from a corrupt file: decode leniently so the typed error
  // (not a UnicodeDecodeError) reaches the caller.
  const std::string& message = status.message();
  py::object text = py::reinterpret_steal<py::object>(
      PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "replace"));
  PyErr_SetObject(type.ptr(), text.ptr());
  throw py::error_already_set();
}

}  // namespace litegen
