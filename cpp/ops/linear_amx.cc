// Matrix kernel for amx (not written yet: the driver falls back to another kernel).
#include "ops/linear_kernels.h"

namespace litegen::ops::internal {

LinearFn LinearAmx() { return nullptr; }

}  // namespace litegen::ops::internal
