// RAII ownership of LiteRT C handles, and conversion of LiteRT status codes.
#ifndef LITEGEN_CPP_LITERT_HANDLES_H_
#define LITEGEN_CPP_LITERT_HANDLES_H_

#include <memory>
#include <string>
#include <type_traits>

#include "litert/litert_c_abi.h"
#include "litert/status.h"

namespace litegen {

template <typename Handle, void (*Destroy)(Handle)>
struct HandleDeleter {
  void operator()(Handle handle) const {
    if (handle != nullptr) Destroy(handle);
  }
};

// unique_ptr over the pointee type of an opaque handle, e.g. UniqueHandle<LiteRtModel, ...>.
template <typename Handle, void (*Destroy)(Handle)>
using UniqueHandle = std::unique_ptr<std::remove_pointer_t<Handle>, HandleDeleter<Handle, Destroy>>;

using EnvironmentHandle = UniqueHandle<LiteRtEnvironment, LiteRtDestroyEnvironment>;
using ModelHandle = UniqueHandle<LiteRtModel, LiteRtDestroyModel>;
using OptionsHandle = UniqueHandle<LiteRtOptions, LiteRtDestroyOptions>;
using OpaqueOptionsHandle = UniqueHandle<LiteRtOpaqueOptions, LiteRtDestroyOpaqueOptions>;
using CompiledModelHandle = UniqueHandle<LiteRtCompiledModel, LiteRtDestroyCompiledModel>;
using TensorBufferHandle = UniqueHandle<LiteRtTensorBuffer, LiteRtDestroyTensorBuffer>;

// Name of a LiteRT status value, for messages.
const char* LiteRtStatusName(LiteRtStatus status);

// Ok if `status` is kLiteRtStatusOk, else a Status with `code` and "`what`: <status>".
Status CheckLiteRt(LiteRtStatus status, ErrorCode code, const std::string& what);

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_HANDLES_H_
