#include "litert/handles.h"

namespace litegen {

const char* LiteRtStatusName(LiteRtStatus status) {
  switch (status) {
    case kLiteRtStatusOk: return "ok";
    case kLiteRtStatusErrorInvalidArgument: return "invalid argument";
    case kLiteRtStatusErrorMemoryAllocationFailure: return "memory allocation failure";
    case kLiteRtStatusErrorRuntimeFailure: return "runtime failure";
    case kLiteRtStatusErrorMissingInputTensor: return "missing input tensor";
    case kLiteRtStatusErrorUnsupported: return "unsupported";
    case kLiteRtStatusErrorNotFound: return "not found";
    case kLiteRtStatusErrorFileIO: return "file I/O error";
    case kLiteRtStatusErrorInvalidFlatbuffer: return "invalid flatbuffer";
    case kLiteRtStatusErrorCompilation: return "compilation failed";
    case kLiteRtStatusErrorIndexOOB: return "index out of bounds";
  }
  return "error";
}

Status CheckLiteRt(LiteRtStatus status, ErrorCode code, const std::string& what) {
  if (status == kLiteRtStatusOk) return Status::Ok();
  return Status(code, what + ": LiteRT " + LiteRtStatusName(status) + " (status " +
                          std::to_string(static_cast<int>(status)) + ")");
}

}  // namespace litegen
