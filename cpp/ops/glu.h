// The gated activation of LLM feed-forward layers (SwiGLU, GeGLU): the first half of each
// row goes through the activation and scales the second half.
//
// It runs once per layer per generated token on a few thousand floats, so the activations
// are vectorizable float32 approximations (within ~1e-6 relative of the exact functions)
// instead of glibc's scalar expf / erff / tanhf.
#ifndef LITEGEN_CPP_OPS_GLU_H_
#define LITEGEN_CPP_OPS_GLU_H_

#include <cstdint>

namespace litegen::ops {

// PyTorch's float32 activations: silu(x) = x / (1 + exp(-x)),
// gelu(x) = 0.5 x (1 + erf(x / sqrt(2))) (approximate="none"),
// gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), relu(x) = max(x, 0).
// NaN gives NaN; silu, gelu and gelu_tanh of -inf are NaN (-inf * 0), as in torch.
enum class GluActivation : int32_t { kSilu = 0, kGelu = 1, kGeluTanh = 2, kRelu = 3 };

// For each of `rows` rows of x [rows, 2 * f]: y[r, i] = act(x[r, i]) * x[r, f + i], i < f.
// y [rows, f] must not alias x; act must be one of the enumerators (see GluActivationName).
void Glu(const float* x, int64_t rows, int64_t f, GluActivation act, float* y);

// Name for error messages ("silu", "gelu", "gelu_tanh", "relu"); nullptr for an unknown value.
const char* GluActivationName(int32_t act);

}  // namespace litegen::ops

#endif  // LITEGEN_CPP_OPS_GLU_H_
