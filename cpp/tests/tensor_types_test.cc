#include "litert/host_tensor.h"
#include "litert/tensor_types.h"
#include "test_framework.h"

namespace litegen {
namespace {

TEST(TensorSpecAcceptsDynamicDims) {
  TensorSpec spec{"x", kLiteRtElementTypeFloat32, {-1, 4}};
  CHECK(spec.IsDynamic());
  CHECK(spec.Accepts({7, 4}));
  CHECK(!spec.Accepts({0, 4}));  // dynamic dims need at least one element
  CHECK(!spec.Accepts({7, 5}));
  CHECK(!spec.Accepts({7}));
}

TEST(ByteSizes) {
  CHECK_EQ(NumElements({2, 3, 4}), 24);
  CHECK_EQ(NumElements({2, -1}), -1);
  CHECK_EQ(DenseByteSize(kLiteRtElementTypeFloat16, {3, 5}, "t").value(), size_t{30});
  CHECK_ERROR(DenseByteSize(kLiteRtElementTypeInt4, {4}, "t"), ErrorCode::kUnsupported, "int4");
  CHECK_ERROR(DenseByteSize(kLiteRtElementTypeFloat32, {-1, 2}, "t"), ErrorCode::kInput,
              "not concrete");
}

TEST(LayoutRoundTrip) {
  const Shape shape = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(LayoutShape(MakeLayout(shape)) == shape);
}

TEST(HostTensorIsAlignedAndZeroed) {
  auto tensor = HostTensor::Allocate(kLiteRtElementTypeFloat32, {3, 5}, "t");
  CHECK_OK(tensor);
  CHECK_EQ(reinterpret_cast<uintptr_t>(tensor->data()) % kBufferAlignment, uintptr_t{0});
  CHECK_EQ(tensor->bytes(), size_t{60});
  const float* values = static_cast<const float*>(tensor->data());
  float sum = 0;
  for (int i = 0; i < 15; ++i) sum += values[i];
  CHECK_EQ(sum, 0.0f);
  CHECK(tensor->buffer() != nullptr);
}

TEST(HostTensorWrapRejectsMisalignedOrShortMemory) {
  auto memory = AllocateAligned(256);
  CHECK_OK(memory);
  char* base = static_cast<char*>(memory->get());
  CHECK_ERROR(HostTensor::Wrap(kLiteRtElementTypeFloat32, {4}, base + 4, 16, "x"),
              ErrorCode::kInput, "aligned");
  CHECK_ERROR(HostTensor::Wrap(kLiteRtElementTypeFloat32, {8}, base, 16, "x"), ErrorCode::kInput,
              "32 needed");
  CHECK_OK(HostTensor::Wrap(kLiteRtElementTypeFloat32, {8}, base, 256, "x"));
  CHECK_ERROR(HostTensor::Allocate(kLiteRtElementTypeFloat32, {1, 1, 1, 1, 1, 1, 1, 1, 1}, "x"),
              ErrorCode::kInput, "rank 9");
}

}  // namespace
}  // namespace litegen
