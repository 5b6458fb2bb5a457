// Matrix kernel for neon (not written yet: the driver falls back to another kernel).
#include "ops/linear_kernels.h"

namespace litegen::ops::internal {

LinearFn LinearNeon() { return nullptr; }

}  // namespace litegen::ops::internal
