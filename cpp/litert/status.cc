#include "litert/status.h"

namespace litegen {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kModelLoad: return "model load error";
    case ErrorCode::kSignature: return "signature error";
    case ErrorCode::kInput: return "input error";
    case ErrorCode::kExecution: return "execution error";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown error";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(ErrorCodeName(code_)) + ": " + message_;
}

}  // namespace litegen
