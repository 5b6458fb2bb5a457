// Host tensors bound to LiteRT without copies: 64-byte-aligned memory plus the
// LiteRtTensorBuffer that wraps it.
#ifndef LITEGEN_CPP_LITERT_HOST_TENSOR_H_
#define LITEGEN_CPP_LITERT_HOST_TENSOR_H_

#include <cstdlib>
#include <memory>
#include <string>

#include "litert/handles.h"
#include "litert/tensor_types.h"

namespace litegen {

// Releases AllocateAligned memory: munmap for a mapped block (mapped_bytes > 0), else free.
struct AlignedDeleter {
  size_t mapped_bytes = 0;
  void operator()(void* p) const;
};
using AlignedMemory = std::unique_ptr<void, AlignedDeleter>;

// Zero-filled memory aligned to kBufferAlignment; size rounded up to the alignment.
// Blocks of kLazyZeroBytes or more are fresh anonymous mappings: the kernel zero-fills a
// page when it is first touched, so a KV cache costs neither a memset nor resident memory
// for the positions a conversation has not reached.
inline constexpr size_t kLazyZeroBytes = size_t{1} << 20;
Expected<AlignedMemory> AllocateAligned(size_t bytes);

class HostTensor {
 public:
  // Owns freshly allocated, zero-filled, aligned memory.
  static Expected<HostTensor> Allocate(ElementType type, const Shape& shape,
                                       const std::string& name);
  // Borrows `data` (must be 64-byte aligned and hold `bytes` >= the dense size); the
  // caller keeps it alive for the tensor's lifetime.
  static Expected<HostTensor> Wrap(ElementType type, const Shape& shape, void* data,
                                   size_t bytes, const std::string& name);

  HostTensor(HostTensor&&) = default;
  HostTensor& operator=(HostTensor&&) = default;

  ElementType type() const { return type_; }
  const Shape& shape() const { return shape_; }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  LiteRtTensorBuffer buffer() const { return buffer_.get(); }

 private:
  HostTensor() = default;
  static Expected<HostTensor> Bind(HostTensor tensor, const std::string& name);

  ElementType type_ = kLiteRtElementTypeNone;
  Shape shape_;
  AlignedMemory owned_;  // null when borrowing
  void* data_ = nullptr;
  size_t bytes_ = 0;
  TensorBufferHandle buffer_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_HOST_TENSOR_H_
