// The interface litegen's custom kernels (SDPA, KV-cache update, ...) implement, and the
// adapter that plugs them into LiteRT.
//
// Contract, shaped by how LiteRT drives custom kernels (see litert_c_abi.h):
//  * LiteRT gives a kernel no per-node state: all nodes of one op in a model share one
//    kernel object. So a CustomOp receives its options once (Init) and the adapter checks
//    that every node carries the same custom_options bytes; per-node parameters (a layer's
//    window size, say) belong in constant input tensors.
//  * LiteRT ignores the status a kernel returns. The adapter therefore records the first
//    error in an ErrorSink, skips further kernel calls once one is recorded, and the
//    compiled model checks the sink after compiling and after every run.
//  * Inputs are locked read-write: a kernel may update an input buffer in place (the KV
//    cache), which LiteRT allows for caller-owned host buffers.
#ifndef LITEGEN_CPP_LITERT_CUSTOM_OP_H_
#define LITEGEN_CPP_LITERT_CUSTOM_OP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "litert/handles.h"
#include "litert/tensor_types.h"

namespace litegen {

// A tensor as a kernel sees it during Run: type, concrete shape and host memory.
struct TensorView {
  ElementType type = kLiteRtElementTypeNone;
  int rank = 0;
  int32_t dims[LITERT_TENSOR_MAX_RANK] = {};
  void* data = nullptr;
  size_t bytes = 0;

  int64_t num_elements() const;
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

class CustomOp {
 public:
  virtual ~CustomOp() = default;
  // Called once per compiled model with the op's custom_options bytes.
  virtual Status Init(const uint8_t* options, size_t size) = 0;
  // Output shapes for the given input shapes; called whenever LiteRT (re)prepares the node.
  virtual Status ComputeOutputShapes(const std::vector<Shape>& inputs,
                                     std::vector<Shape>& outputs) = 0;
  virtual Status Run(const std::vector<TensorView>& inputs,
                     const std::vector<TensorView>& outputs) = 0;
};

// How a compiled model gets its own instance of a kernel.
struct CustomOpRegistration {
  std::string name;  // custom_code in the model
  int version = 1;
  std::function<std::unique_ptr<CustomOp>()> create;
};

// First error reported by any kernel of one compiled model. Thread-safe.
class ErrorSink {
 public:
  void Report(Status status);
  bool has_error() const { return has_error_.load(std::memory_order_acquire); }
  // Returns the recorded error (or Ok) and clears it.
  Status Take();

 private:
  mutable std::mutex mutex_;
  std::atomic<bool> has_error_{false};
  Status first_;
};

// Bridges one CustomOp to LiteRT's C callbacks. Must outlive the compiled model.
class CustomOpAdapter {
 public:
  CustomOpAdapter(std::string name, std::unique_ptr<CustomOp> op, ErrorSink* sink);
  CustomOpAdapter(const CustomOpAdapter&) = delete;
  CustomOpAdapter& operator=(const CustomOpAdapter&) = delete;

  const std::string& name() const { return name_; }
  // The callback table to pass to LiteRtAddCustomOpKernelOption with `this` as user data.
  static const LiteRtCustomOpKernel& Callbacks();

 private:
  static LiteRtStatus InitCallback(void* self, const void* data, size_t size);
  static LiteRtStatus LayoutsCallback(void* self, size_t num_inputs,
                                      const LiteRtLayout* input_layouts, size_t num_outputs,
                                      LiteRtLayout* output_layouts);
  static LiteRtStatus RunCallback(void* self, size_t num_inputs,
                                  const LiteRtTensorBuffer* inputs, size_t num_outputs,
                                  LiteRtTensorBuffer* outputs);
  static LiteRtStatus DestroyCallback(void* self);

  Status Init(const void* data, size_t size);
  Status Layouts(size_t num_inputs, const LiteRtLayout* input_layouts, size_t num_outputs,
                 LiteRtLayout* output_layouts);
  Status Run(size_t num_inputs, const LiteRtTensorBuffer* inputs, size_t num_outputs,
             LiteRtTensorBuffer* outputs);
  LiteRtStatus Report(Status status);

  std::string name_;
  std::unique_ptr<CustomOp> op_;
  ErrorSink* sink_;
  bool initialized_ = false;
  std::vector<uint8_t> options_;
  // Reused across runs so the hot path does not allocate.
  std::vector<TensorView> input_views_;
  std::vector<TensorView> output_views_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_CUSTOM_OP_H_
