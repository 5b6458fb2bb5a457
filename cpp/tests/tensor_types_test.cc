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

TEST(LargeHostTensorIsAMappingThatReadsZeroAndFreesCleanly) {
  // >= kLazyZeroBytes: an anonymous mapping (zero on first touch), released by munmap.
  const int64_t n = static_cast<int64_t>(kLazyZeroBytes / sizeof(float)) + 17;
  for (int round = 0; round < 2; ++round) {
    auto tensor = HostTensor::Allocate(kLiteRtElementTypeFloat32, {n}, "big");
    CHECK_OK(tensor);
    CHECK_EQ(reinterpret_cast<uintptr_t>(tensor->data()) % kBufferAlignment, uintptr_t{0});
    float* values = static_cast<float*>(tensor->data());
    bool all_zero = true;
    for (int64_t i = 0; i < n; i += 1021) all_zero &= values[i] == 0.0f;
    CHECK(all_zero && values[n - 1] == 0.0f);
    for (int64_t i = 0; i < n; ++i) values[i] = 1.0f;  // dirty it: the next round must not see it
  }
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
