// Matrix kernel for avx512 (not written yet: the driver falls back to another kernel).
#include "ops/linear_kernels.h"

namespace litegen::ops::internal {

LinearFn LinearAvx512() { return nullptr; }

}  // namespace litegen::ops::internal
