#include "litert/custom_op.h"

#include <cstring>

namespace litegen {
namespace {

// Locks a buffer for the duration of a kernel call and fills a TensorView for it.
class LockedBuffer {
 public:
  LockedBuffer() = default;
  LockedBuffer(const LockedBuffer&) = delete;
  LockedBuffer& operator=(const LockedBuffer&) = delete;
  ~LockedBuffer() {
    if (buffer_ != nullptr) LiteRtUnlockTensorBuffer(buffer_);
  }

  Status Lock(LiteRtTensorBuffer buffer, LiteRtTensorBufferLockMode mode, TensorView& view) {
    LiteRtRankedTensorType type = {};
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetTensorBufferTensorType(buffer, &type),
                                        ErrorCode::kExecution, "reading a tensor type"));
    size_t size = 0;
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetTensorBufferSize(buffer, &size),
                                        ErrorCode::kExecution, "reading a tensor size"));
    void* data = nullptr;
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtLockTensorBuffer(buffer, &data, mode),
                                        ErrorCode::kExecution, "locking a tensor"));
    buffer_ = buffer;
    view.type = type.element_type;
    view.rank = type.layout.rank <= LITERT_TENSOR_MAX_RANK ? type.layout.rank : 0;
    std::memcpy(view.dims, type.layout.dimensions, sizeof(view.dims));
    view.data = data;
    view.bytes = size;
    return Status::Ok();
  }

 private:
  LiteRtTensorBuffer buffer_ = nullptr;
};

constexpr size_t kMaxKernelTensors = 32;

}  // namespace

int64_t TensorView::num_elements() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[i];
  return n;
}

void ErrorSink::Report(Status status) {
  if (status.ok()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (has_error_.load(std::memory_order_relaxed)) return;
  first_ = std::move(status);
  has_error_.store(true, std::memory_order_release);
}

Status ErrorSink::Take() {
  std::lock_guard<std::mutex> lock(mutex_);
  Status out = std::move(first_);
  first_ = Status::Ok();
  has_error_.store(false, std::memory_order_release);
  return out;
}

CustomOpAdapter::CustomOpAdapter(std::string name, std::unique_ptr<CustomOp> op,
                                 ErrorSink* sink)
    : name_(std::move(name)), op_(std::move(op)), sink_(sink) {}

const LiteRtCustomOpKernel& CustomOpAdapter::Callbacks() {
  static const LiteRtCustomOpKernel kCallbacks = {&InitCallback, &LayoutsCallback, &RunCallback,
                                                  &DestroyCallback};
  return kCallbacks;
}

LiteRtStatus CustomOpAdapter::Report(Status status) {
  if (status.ok()) return kLiteRtStatusOk;
  sink_->Report(Status(status.code(), "custom op '" + name_ + "': " + status.message()));
  return kLiteRtStatusErrorRuntimeFailure;
}

LiteRtStatus CustomOpAdapter::InitCallback(void* self, const void* data, size_t size) {
  auto* adapter = static_cast<CustomOpAdapter*>(self);
  return adapter->Report(adapter->Init(data, size));
}

LiteRtStatus CustomOpAdapter::LayoutsCallback(void* self, size_t num_inputs,
                                              const LiteRtLayout* input_layouts,
                                              size_t num_outputs, LiteRtLayout* output_layouts) {
  auto* adapter = static_cast<CustomOpAdapter*>(self);
  return adapter->Report(adapter->Layouts(num_inputs, input_layouts, num_outputs, output_layouts));
}

LiteRtStatus CustomOpAdapter::RunCallback(void* self, size_t num_inputs,
                                          const LiteRtTensorBuffer* inputs, size_t num_outputs,
                                          LiteRtTensorBuffer* outputs) {
  auto* adapter = static_cast<CustomOpAdapter*>(self);
  return adapter->Report(adapter->Run(num_inputs, inputs, num_outputs, outputs));
}

LiteRtStatus CustomOpAdapter::DestroyCallback(void* /*self*/) {
  return kLiteRtStatusOk;  // the adapter's owner (the compiled model) frees it
}

Status CustomOpAdapter::Init(const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  std::vector<uint8_t> options(bytes, bytes + (bytes != nullptr ? size : 0));
  if (initialized_) {
    if (options != options_) {
      return Status(ErrorCode::kUnsupported,
                    "nodes of this op carry different custom options; pass per-node "
                    "parameters as constant inputs instead");
    }
    return Status::Ok();
  }
  options_ = std::move(options);
  initialized_ = true;
  return op_->Init(options_.data(), options_.size());
}

Status CustomOpAdapter::Layouts(size_t num_inputs, const LiteRtLayout* input_layouts,
                                size_t num_outputs, LiteRtLayout* output_layouts) {
  // Always leave valid layouts behind, even on error, so LiteRT can carry on safely.
  for (size_t i = 0; i < num_outputs; ++i) output_layouts[i] = MakeLayout(Shape{1});
  if (sink_->has_error()) return Status::Ok();
  std::vector<Shape> inputs(num_inputs);
  for (size_t i = 0; i < num_inputs; ++i) inputs[i] = LayoutShape(input_layouts[i]);
  std::vector<Shape> outputs(num_outputs);
  LITEGEN_RETURN_IF_ERROR(op_->ComputeOutputShapes(inputs, outputs));
  for (size_t i = 0; i < num_outputs; ++i) {
    if (outputs[i].size() > LITERT_TENSOR_MAX_RANK) {
      return Status(ErrorCode::kInternal, "output rank above " +
                                              std::to_string(LITERT_TENSOR_MAX_RANK));
    }
    output_layouts[i] = MakeLayout(outputs[i]);
  }
  return Status::Ok();
}

Status CustomOpAdapter::Run(size_t num_inputs, const LiteRtTensorBuffer* inputs,
                            size_t num_outputs, LiteRtTensorBuffer* outputs) {
  if (sink_->has_error()) return Status::Ok();  // an earlier failure stands; do no more work
  if (num_inputs > kMaxKernelTensors || num_outputs > kMaxKernelTensors) {
    return Status(ErrorCode::kUnsupported, "too many tensors for a custom op");
  }
  LockedBuffer locks[2 * kMaxKernelTensors];
  input_views_.resize(num_inputs);
  output_views_.resize(num_outputs);
  for (size_t i = 0; i < num_inputs; ++i) {
    LITEGEN_RETURN_IF_ERROR(
        locks[i].Lock(inputs[i], kLiteRtTensorBufferLockModeReadWrite, input_views_[i]));
  }
  for (size_t i = 0; i < num_outputs; ++i) {
    LITEGEN_RETURN_IF_ERROR(locks[kMaxKernelTensors + i].Lock(
        outputs[i], kLiteRtTensorBufferLockModeWrite, output_views_[i]));
  }
  return op_->Run(input_views_, output_views_);
}

}  // namespace litegen
