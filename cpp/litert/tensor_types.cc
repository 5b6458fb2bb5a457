#include "litert/tensor_types.h"

namespace litegen {

std::string ElementTypeName(ElementType type) {
  switch (type) {
    case kLiteRtElementTypeFloat32: return "float32";
    case kLiteRtElementTypeInt32: return "int32";
    case kLiteRtElementTypeUInt8: return "uint8";
    case kLiteRtElementTypeInt64: return "int64";
    case kLiteRtElementTypeBool: return "bool";
    case kLiteRtElementTypeInt16: return "int16";
    case kLiteRtElementTypeInt8: return "int8";
    case kLiteRtElementTypeFloat16: return "float16";
    case kLiteRtElementTypeInt4: return "int4";
    case kLiteRtElementTypeBFloat16: return "bfloat16";
    case kLiteRtElementTypeNone: break;
  }
  return "unknown(" + std::to_string(static_cast<int>(type)) + ")";
}

size_t ElementTypeSize(ElementType type) {
  switch (type) {
    case kLiteRtElementTypeFloat32:
    case kLiteRtElementTypeInt32: return 4;
    case kLiteRtElementTypeInt64: return 8;
    case kLiteRtElementTypeFloat16:
    case kLiteRtElementTypeBFloat16:
    case kLiteRtElementTypeInt16: return 2;
    case kLiteRtElementTypeUInt8:
    case kLiteRtElementTypeInt8:
    case kLiteRtElementTypeBool: return 1;
    case kLiteRtElementTypeInt4:
    case kLiteRtElementTypeNone: break;
  }
  return 0;
}

std::string ShapeToString(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int32_t d : shape) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

Expected<size_t> DenseByteSize(ElementType type, const Shape& shape, const std::string& what) {
  const size_t element_size = ElementTypeSize(type);
  if (element_size == 0) {
    return Status(ErrorCode::kUnsupported,
                  what + ": element type " + ElementTypeName(type) + " has no byte size");
  }
  const int64_t n = NumElements(shape);
  if (n < 0) {
    return Status(ErrorCode::kInput,
                  what + ": shape " + ShapeToString(shape) + " is not concrete");
  }
  return static_cast<size_t>(n) * element_size;
}

LiteRtLayout MakeLayout(const Shape& shape) {
  LiteRtLayout layout = {};
  layout.rank = static_cast<unsigned>(shape.size());
  layout.has_strides = 0;
  for (size_t i = 0; i < shape.size() && i < LITERT_TENSOR_MAX_RANK; ++i) {
    layout.dimensions[i] = shape[i];
  }
  return layout;
}

Shape LayoutShape(const LiteRtLayout& layout) {
  const unsigned rank = layout.rank <= LITERT_TENSOR_MAX_RANK ? layout.rank : 0;
  return Shape(layout.dimensions, layout.dimensions + rank);
}

bool TensorSpec::IsDynamic() const {
  for (int32_t d : shape) {
    if (d < 0) return true;
  }
  return false;
}

bool TensorSpec::Accepts(const Shape& concrete) const {
  if (concrete.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0 ? concrete[i] < 1 : concrete[i] != shape[i]) return false;
  }
  return true;
}

}  // namespace litegen
