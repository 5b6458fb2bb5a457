#include "litert/host_tensor.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>

namespace litegen {

void AlignedDeleter::operator()(void* p) const {
  if (mapped_bytes > 0) {
    munmap(p, mapped_bytes);
  } else {
    std::free(p);
  }
}

Expected<AlignedMemory> AllocateAligned(size_t bytes) {
  const size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  if (rounded >= kLazyZeroBytes) {
    // Page-aligned (>= kBufferAlignment) and zero on first touch.
    void* mapped = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    if (mapped == MAP_FAILED) {
      return Status(ErrorCode::kInternal,
                    "out of memory mapping " + std::to_string(bytes) + " bytes");
    }
    return AlignedMemory(mapped, AlignedDeleter{rounded});
  }
  void* raw = nullptr;
  if (posix_memalign(&raw, kBufferAlignment, rounded == 0 ? kBufferAlignment : rounded) != 0) {
    return Status(ErrorCode::kInternal,
                  "out of memory allocating " + std::to_string(bytes) + " bytes");
  }
  std::memset(raw, 0, rounded == 0 ? kBufferAlignment : rounded);
  return AlignedMemory(raw);
}

Expected<HostTensor> HostTensor::Allocate(ElementType type, const Shape& shape,
                                          const std::string& name) {
  LITEGEN_ASSIGN_OR_RETURN(size_t bytes, DenseByteSize(type, shape, "tensor '" + name + "'"));
  LITEGEN_ASSIGN_OR_RETURN(AlignedMemory memory, AllocateAligned(bytes));
  HostTensor tensor;
  tensor.type_ = type;
  tensor.shape_ = shape;
  tensor.data_ = memory.get();
  tensor.bytes_ = bytes;
  tensor.owned_ = std::move(memory);
  return Bind(std::move(tensor), name);
}

Expected<HostTensor> HostTensor::Wrap(ElementType type, const Shape& shape, void* data,
                                      size_t bytes, const std::string& name) {
  LITEGEN_ASSIGN_OR_RETURN(size_t needed, DenseByteSize(type, shape, "tensor '" + name + "'"));
  if (reinterpret_cast<uintptr_t>(data) % kBufferAlignment != 0) {
    return Status(ErrorCode::kInput, "tensor '" + name + "': memory is not " +
                                         std::to_string(kBufferAlignment) + "-byte aligned");
  }
  if (bytes < needed) {
    return Status(ErrorCode::kInput, "tensor '" + name + "': " + std::to_string(bytes) +
                                         " bytes given, " + std::to_string(needed) + " needed");
  }
  HostTensor tensor;
  tensor.type_ = type;
  tensor.shape_ = shape;
  tensor.data_ = data;
  tensor.bytes_ = needed;
  return Bind(std::move(tensor), name);
}

Expected<HostTensor> HostTensor::Bind(HostTensor tensor, const std::string& name) {
  if (tensor.shape_.size() > LITERT_TENSOR_MAX_RANK) {
    return Status(ErrorCode::kInput, "tensor '" + name + "': rank " +
                                         std::to_string(tensor.shape_.size()) + " above " +
                                         std::to_string(LITERT_TENSOR_MAX_RANK));
  }
  LiteRtRankedTensorType type = {};
  type.element_type = tensor.type_;
  type.layout = MakeLayout(tensor.shape_);
  LiteRtTensorBuffer raw = nullptr;
  // LiteRT wants a non-zero size even for empty tensors.
  const size_t size = tensor.bytes_ == 0 ? kBufferAlignment : tensor.bytes_;
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(
      LiteRtCreateTensorBufferFromHostMemory(&type, tensor.data_, size, nullptr, &raw),
      ErrorCode::kInternal, "wrapping host memory for tensor '" + name + "'"));
  tensor.buffer_.reset(raw);
  return tensor;
}

}  // namespace litegen
