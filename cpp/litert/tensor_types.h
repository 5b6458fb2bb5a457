// Element types and shapes as litegen describes tensors (independent of LiteRT structs).
#ifndef LITEGEN_CPP_LITERT_TENSOR_TYPES_H_
#define LITEGEN_CPP_LITERT_TENSOR_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "litert/litert_c_abi.h"
#include "litert/status.h"

namespace litegen {

using ElementType = LiteRtElementType;
using Shape = std::vector<int32_t>;  // -1 marks a dynamic dimension in a spec

constexpr int32_t kDynamicDim = -1;
constexpr size_t kBufferAlignment = 64;  // LiteRT rejects host buffers with less

// "float32", "int8", ...; "unknown(N)" for others.
std::string ElementTypeName(ElementType type);
// Bytes per element, or 0 for types without a whole-byte size (int4) or unknown ones.
size_t ElementTypeSize(ElementType type);

std::string ShapeToString(const Shape& shape);
// Number of elements; -1 if any dimension is dynamic or negative.
int64_t NumElements(const Shape& shape);
// Byte size of a dense tensor, or an error naming `what` for unsized types/shapes.
Expected<size_t> DenseByteSize(ElementType type, const Shape& shape, const std::string& what);

LiteRtLayout MakeLayout(const Shape& shape);
Shape LayoutShape(const LiteRtLayout& layout);

struct TensorSpec {
  std::string name;
  ElementType type = kLiteRtElementTypeNone;
  Shape shape;  // as declared by the model; -1 for dynamic dimensions

  bool IsDynamic() const;
  // Whether a concrete shape fits this spec (same rank; static dims equal; dynamic dims >= 1).
  bool Accepts(const Shape& concrete) const;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_TENSOR_TYPES_H_
