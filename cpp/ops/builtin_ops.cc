#include "ops/builtin_ops.h"

#include <string>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>

#include "ops/glu.h"
#include "ops/kv_cache.h"
#include "ops/linear.h"
#include "ops/norm_rope.h"

namespace litegen::ops {
namespace {

// A thread pool started at its first use (models that never run a parallel kernel start
// no threads), shared by the kernels of one compiled model.
class SharedPool {
 public:
  explicit SharedPool(int num_threads) : num_threads_(num_threads) {}
  ThreadPool* Get() {
    std::call_once(started_, [this] {
      if (num_threads_ > 1) pool_ = std::make_unique<ThreadPool>(num_threads_);
    });
    return pool_.get();
  }

 private:
  int num_threads_;
  std::once_flag started_;
  std::unique_ptr<ThreadPool> pool_;
};

std::string DimsToString(const TensorView& t) {
  std::string out = "[";
  for (int i = 0; i < t.rank; ++i) out += (i ? ", " : "") + std::to_string(t.dims[i]);
  return out + "]";
}

std::string Describe(const TensorView& t) {
  return ElementTypeName(t.type) + " " + DimsToString(t);
}

// Checks dtype, rank (-1: any) and that the buffer holds the whole tensor.
Status CheckTensor(const TensorView& t, ElementType type, int rank, const std::string& what) {
  bool ok = t.type == type && (rank < 0 || t.rank == rank);
  for (int i = 0; ok && i < t.rank; ++i) ok = t.dims[i] >= 0;
  if (!ok) {
    return Status(ErrorCode::kInput, what + ": expected " + ElementTypeName(type) +
                                         (rank >= 0 ? " of rank " + std::to_string(rank) : "") +
                                         ", got " + Describe(t));
  }
  // Byte size without overflow: any product above the buffer size is "too small".
  const uint64_t limit = t.bytes / ElementTypeSize(type);
  uint64_t n = 1;
  bool fits = true;
  for (int i = 0; i < t.rank; ++i) {
    const uint64_t d = static_cast<uint64_t>(t.dims[i]);
    if (d == 0) {
      n = 0;
      fits = true;
      break;
    }
    if (n > limit / d) fits = false;
    if (fits) n *= d;
  }
  if (fits && n > 0 && t.data == nullptr) {
    return Status(ErrorCode::kInput, what + ": no data for " + Describe(t));
  }
  if (!fits) {
    return Status(ErrorCode::kInput, what + ": buffer of " + std::to_string(t.bytes) +
                                         " bytes is too small for " + Describe(t));
  }
  return Status::Ok();
}

// A KV cache is float32 or float16 (docs/custom_ops.md); anything else is a clear error.
Status CheckCache(const TensorView& t, const std::string& what) {
  if (t.type != kLiteRtElementTypeFloat32 && t.type != kLiteRtElementTypeFloat16) {
    return Status(ErrorCode::kInput,
                  what + ": expected a float32 or float16 cache of rank 4, got " + Describe(t));
  }
  return CheckTensor(t, t.type, 4, what);
}

Status CheckEmptyOptions(const char* op, size_t size) {
  if (size == 0) return Status::Ok();
  return Status(ErrorCode::kModelLoad, std::string(op) + " v1 takes no custom_options, got " +
                                           std::to_string(size) + " bytes");
}

// LITEGEN_KV_CACHE_UPDATE: (cache [B,H,S,D] f32 | f16, update [B,H,T,D] f32)... one or more
// pairs, then input_pos [T] i32 -> done [1] i32 = T. Writes the caches (signature inputs)
// in place.
class KvCacheUpdateOp : public CustomOp {
 public:
  Status Init(const uint8_t* /*options*/, size_t size) override {
    return CheckEmptyOptions(kKvCacheUpdateOpName, size);
  }

  Status ComputeOutputShapes(const std::vector<Shape>& inputs,
                             std::vector<Shape>& outputs) override {
    if (!CountsOk(inputs.size(), outputs.size())) {
      return Status(ErrorCode::kModelLoad,
                    "expects (cache, update) pairs then input_pos (3, 5, ... inputs) and 1 "
                    "output, got " +
                        std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
    }
    outputs[0] = Shape{1};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorView>& inputs,
             const std::vector<TensorView>& outputs) override {
    if (!CountsOk(inputs.size(), outputs.size())) {
      return Status(ErrorCode::kModelLoad, "expects 3, 5, ... inputs and 1 output");
    }
    const TensorView& pos = inputs.back();
    const std::string pos_name = "input " + std::to_string(inputs.size() - 1) + " (input_pos)";
    LITEGEN_RETURN_IF_ERROR(CheckTensor(pos, kLiteRtElementTypeInt32, 1, pos_name));
    LITEGEN_RETURN_IF_ERROR(CheckTensor(outputs[0], kLiteRtElementTypeInt32, -1, "output 0"));
    if (outputs[0].num_elements() < 1) {
      return Status(ErrorCode::kInput, "output 0 must hold 1 element, got " + Describe(outputs[0]));
    }
    // Every pair is checked before any is written, so a bad one leaves all caches unchanged
    // (KvCacheUpdate checks the positions before writing).
    const size_t pairs = inputs.size() / 2;
    for (size_t p = 0; p < pairs; ++p) {
      const TensorView& cache = inputs[2 * p];
      const TensorView& update = inputs[2 * p + 1];
      LITEGEN_RETURN_IF_ERROR(CheckCache(cache, "input " + std::to_string(2 * p) + " (cache)"));
      LITEGEN_RETURN_IF_ERROR(CheckTensor(update, kLiteRtElementTypeFloat32, 4,
                                          "input " + std::to_string(2 * p + 1) + " (update)"));
      if (update.dims[0] != cache.dims[0] || update.dims[1] != cache.dims[1] ||
          update.dims[3] != cache.dims[3] || update.dims[2] != pos.dims[0]) {
        return Status(ErrorCode::kInput, "update " + DimsToString(update) +
                                             " does not fit cache " + DimsToString(cache) +
                                             " with input_pos " + DimsToString(pos));
      }
    }
    for (size_t p = 0; p < pairs; ++p) {
      const TensorView& cache = inputs[2 * p];
      const TensorView& update = inputs[2 * p + 1];
      KvCacheShape shape;
      shape.batch = cache.dims[0];
      shape.heads = cache.dims[1];
      shape.max_len = cache.dims[2];
      shape.len = update.dims[2];
      shape.head_dim = cache.dims[3];
      if (cache.type == kLiteRtElementTypeFloat16) {
        LITEGEN_RETURN_IF_ERROR(
            KvCacheUpdate(shape, cache.as<uint16_t>(), update.as<float>(), pos.as<int32_t>()));
      } else {
        LITEGEN_RETURN_IF_ERROR(
            KvCacheUpdate(shape, cache.as<float>(), update.as<float>(), pos.as<int32_t>()));
      }
    }
    outputs[0].as<int32_t>()[0] = pos.dims[0];
    return Status::Ok();
  }

 private:
  static bool CountsOk(size_t inputs, size_t outputs) {
    return inputs >= 3 && inputs % 2 == 1 && outputs == 1;
  }
};

// The per-token float ops: three float32 inputs (`inputs`, e.g. "x [..., D], weight [D],
// params [1]", with the ranks in `ranks`, -1: any) and one output shaped like input 0.
class FloatOp3 : public CustomOp {
 public:
  FloatOp3(const char* name, const char* inputs, std::array<int, 3> ranks,
           std::array<const char*, 3> names)
      : name_(name), inputs_(inputs), ranks_(ranks), names_(names) {}

  Status Init(const uint8_t* /*options*/, size_t size) override {
    return CheckEmptyOptions(name_, size);
  }
  Status ComputeOutputShapes(const std::vector<Shape>& inputs,
                             std::vector<Shape>& outputs) override {
    if (inputs.size() != 3 || outputs.size() != 1 || inputs[0].empty()) {
      return Status(ErrorCode::kModelLoad,
                    std::string("expects 3 inputs (") + inputs_ + ") and 1 output, got " +
                        std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
    }
    outputs[0] = inputs[0];
    return Status::Ok();
  }
  Status Run(const std::vector<TensorView>& inputs,
             const std::vector<TensorView>& outputs) override {
    if (inputs.size() != 3 || outputs.size() != 1) {
      return Status(ErrorCode::kModelLoad, "expects 3 inputs and 1 output");
    }
    for (int i = 0; i < 3; ++i) {
      LITEGEN_RETURN_IF_ERROR(CheckTensor(inputs[i], kLiteRtElementTypeFloat32, ranks_[i],
                                          "input " + std::to_string(i) + " (" + names_[i] + ")"));
    }
    LITEGEN_RETURN_IF_ERROR(CheckTensor(outputs[0], kLiteRtElementTypeFloat32, -1, "output 0"));
    if (!ShapesFit(inputs[0], inputs[1], inputs[2]) ||
        outputs[0].num_elements() != inputs[0].num_elements()) {
      return Status(ErrorCode::kInput, std::string("incompatible shapes ") + names_[0] + "=" +
                                           DimsToString(inputs[0]) + " " + names_[1] + "=" +
                                           DimsToString(inputs[1]) + " " + names_[2] + "=" +
                                           DimsToString(inputs[2]) +
                                           " y=" + DimsToString(outputs[0]));
    }
    Compute(inputs[0], inputs[1], inputs[2], outputs[0]);
    return Status::Ok();
  }

 protected:
  virtual bool ShapesFit(const TensorView& x, const TensorView& a, const TensorView& b) const = 0;
  virtual void Compute(const TensorView& x, const TensorView& a, const TensorView& b,
                       const TensorView& y) = 0;

 private:
  const char* name_;
  const char* inputs_;
  std::array<int, 3> ranks_;
  std::array<const char*, 3> names_;
};

// LITEGEN_RMS_NORM: (x [..., D] f32, weight [D] f32, params [1] f32 {eps}) -> y [..., D].
class RmsNormOp : public FloatOp3 {
 public:
  RmsNormOp()
      : FloatOp3(kRmsNormOpName, "x [..., D], weight [D], params [1]", {-1, 1, 1},
                 {"x", "weight", "params"}) {}

 protected:
  bool ShapesFit(const TensorView& x, const TensorView& weight,
                 const TensorView& params) const override {
    return x.rank >= 1 && x.dims[x.rank - 1] >= 1 && weight.dims[0] == x.dims[x.rank - 1] &&
           params.dims[0] == 1;
  }
  void Compute(const TensorView& x, const TensorView& weight, const TensorView& params,
               const TensorView& y) override {
    const int64_t dim = x.dims[x.rank - 1];
    RmsNorm(x.as<float>(), x.num_elements() / dim, dim, weight.as<float>(),
            params.as<float>()[0], y.as<float>());
  }
};

// LITEGEN_ROPE: (x [..., T, D] f32, cos [T, R] f32, sin [T, R] f32) -> y [..., T, D];
// R even and <= D.
class RopeOp : public FloatOp3 {
 public:
  RopeOp()
      : FloatOp3(kRopeOpName, "x [..., T, D], cos [T, R], sin [T, R]", {-1, 2, 2},
                 {"x", "cos", "sin"}) {}

 protected:
  bool ShapesFit(const TensorView& x, const TensorView& cos,
                 const TensorView& sin) const override {
    return x.rank >= 2 && x.dims[x.rank - 1] > 0 && cos.dims[0] == x.dims[x.rank - 2] &&
           cos.dims[0] == sin.dims[0] && cos.dims[1] == sin.dims[1] && cos.dims[1] % 2 == 0 &&
           cos.dims[1] <= x.dims[x.rank - 1];
  }
  void Compute(const TensorView& x, const TensorView& cos, const TensorView& sin,
               const TensorView& y) override {
    const int64_t d = x.dims[x.rank - 1], t = x.dims[x.rank - 2];
    const int64_t outer = t > 0 ? x.num_elements() / (t * d) : 0;
    Rope(x.as<float>(), outer, t, d, cos.as<float>(), sin.as<float>(), cos.dims[1],
         y.as<float>());
  }
};

// LITEGEN_GLU: (x [..., 2F] f32, activation [1] i32) -> y [..., F] = act(x[..., :F]) *
// x[..., F:].
class GluOp : public CustomOp {
 public:
  Status Init(const uint8_t* /*options*/, size_t size) override {
    return CheckEmptyOptions(kGluOpName, size);
  }
  Status ComputeOutputShapes(const std::vector<Shape>& inputs,
                             std::vector<Shape>& outputs) override {
    if (inputs.size() != 2 || outputs.size() != 1 || inputs[0].empty()) {
      return Status(ErrorCode::kModelLoad,
                    "expects 2 inputs (x [..., 2F], activation [1]) and 1 output, got " +
                        std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
    }
    outputs[0] = inputs[0];
    outputs[0].back() = inputs[0].back() / 2;
    return Status::Ok();
  }
  Status Run(const std::vector<TensorView>& inputs,
             const std::vector<TensorView>& outputs) override {
    if (inputs.size() != 2 || outputs.size() != 1) {
      return Status(ErrorCode::kModelLoad, "expects 2 inputs and 1 output");
    }
    const TensorView& x = inputs[0];
    const TensorView& activation = inputs[1];
    const TensorView& y = outputs[0];
    LITEGEN_RETURN_IF_ERROR(CheckTensor(x, kLiteRtElementTypeFloat32, -1, "input 0 (x)"));
    LITEGEN_RETURN_IF_ERROR(
        CheckTensor(activation, kLiteRtElementTypeInt32, 1, "input 1 (activation)"));
    LITEGEN_RETURN_IF_ERROR(CheckTensor(y, kLiteRtElementTypeFloat32, -1, "output 0"));
    const int64_t width = x.rank >= 1 ? x.dims[x.rank - 1] : 0;
    if (x.rank < 1 || width % 2 != 0 || activation.dims[0] != 1 ||
        y.num_elements() * 2 != x.num_elements()) {
      return Status(ErrorCode::kInput, "incompatible shapes x=" + DimsToString(x) +
                                           " activation=" + DimsToString(activation) +
                                           " y=" + DimsToString(y) +
                                           " (want x [..., 2F], activation [1], y [..., F])");
    }
    const int32_t code = activation.as<int32_t>()[0];
    if (GluActivationName(code) == nullptr) {
      return Status(ErrorCode::kInput, "input 1 (activation): unknown activation code " +
                                           std::to_string(code) +
                                           " (0 silu, 1 gelu, 2 gelu_tanh, 3 relu)");
    }
    if (width == 0) return Status::Ok();
    Glu(x.as<float>(), x.num_elements() / width, width / 2, static_cast<GluActivation>(code),
        y.as<float>());
    return Status::Ok();
  }
};

// LITEGEN_FC: (x [..., K] f32, weights int8 [N,K] | uint8 [N,K/2] (int4), scales f32 [N] |
// f16 [N,K/block] | uint8 [N,K/block] (interleaved int4 codes), wsum f32 [N] (with codes:
// [2, N], the channel scales then wsum), bias f32 [N] (optional), residual f32 [..., N]
// (optional; rank >= 2)) -> y [..., N] f32.
class FcOp : public CustomOp {
 public:
  FcOp(std::shared_ptr<SharedPool> pool, Isa isa) : pool_(std::move(pool)), linear_(isa) {}

  Status Init(const uint8_t* /*options*/, size_t size) override {
    return CheckEmptyOptions(kFcOpName, size);
  }
  Status ComputeOutputShapes(const std::vector<Shape>& inputs,
                             std::vector<Shape>& outputs) override {
    if (inputs.size() < 4 || inputs.size() > 6 || outputs.size() != 1 || inputs[0].empty() ||
        inputs[1].size() != 2) {
      return Status(ErrorCode::kModelLoad,
                    "expects 4 to 6 inputs (x [..., K], weights [N, K], scales, wsum, bias, "
                    "residual) and 1 output, got " +
                        std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
    }
    outputs[0] = inputs[0];
    outputs[0].back() = inputs[1][0];
    return Status::Ok();
  }
  Status Run(const std::vector<TensorView>& inputs,
             const std::vector<TensorView>& outputs) override {
    if (inputs.size() < 4 || inputs.size() > 6 || outputs.size() != 1) {
      return Status(ErrorCode::kModelLoad, "expects 4 to 6 inputs and 1 output");
    }
    const TensorView& x = inputs[0];
    const TensorView& weights = inputs[1];
    const TensorView& scales = inputs[2];
    const TensorView& wsum = inputs[3];
    const TensorView& y = outputs[0];
    LITEGEN_RETURN_IF_ERROR(CheckTensor(x, kLiteRtElementTypeFloat32, -1, "input 0 (x)"));
    const bool int4 = weights.type == kLiteRtElementTypeUInt8;
    LITEGEN_RETURN_IF_ERROR(CheckTensor(
        weights, int4 ? kLiteRtElementTypeUInt8 : kLiteRtElementTypeInt8, 2, "input 1 (weights)"));
    const bool blockwise = scales.type == kLiteRtElementTypeFloat16;
    const bool coded = scales.type == kLiteRtElementTypeUInt8;  // kInt4Interleaved
    LITEGEN_RETURN_IF_ERROR(CheckTensor(
        scales,
        blockwise ? kLiteRtElementTypeFloat16
                  : (coded ? kLiteRtElementTypeUInt8 : kLiteRtElementTypeFloat32),
        blockwise || coded ? 2 : 1, "input 2 (scales)"));
    LITEGEN_RETURN_IF_ERROR(
        CheckTensor(wsum, kLiteRtElementTypeFloat32, coded ? 2 : 1, "input 3 (wsum)"));
    LITEGEN_RETURN_IF_ERROR(CheckTensor(y, kLiteRtElementTypeFloat32, -1, "output 0"));
    // Optional inputs: bias [N] (rank 1), then the residual; a lone input 4 of rank >= 2 is
    // the residual (every custom-op operand costs LiteRT a tensor-buffer wrapper per call,
    // so a missing bias is not passed as zeros).
    const TensorView* bias = nullptr;
    const TensorView* residual = nullptr;
    if (inputs.size() == 6 || (inputs.size() == 5 && inputs[4].rank <= 1)) bias = &inputs[4];
    if (inputs.size() == 6 || (inputs.size() == 5 && bias == nullptr)) residual = &inputs.back();
    if (bias != nullptr) {
      LITEGEN_RETURN_IF_ERROR(CheckTensor(*bias, kLiteRtElementTypeFloat32, 1, "input 4 (bias)"));
    }
    if (residual != nullptr) {
      LITEGEN_RETURN_IF_ERROR(CheckTensor(*residual, kLiteRtElementTypeFloat32, -1,
                                          "input " + std::to_string(inputs.size() - 1) +
                                              " (residual)"));
    }
    LinearWeights w;
    w.format = !int4 ? WeightFormat::kInt8
                     : (coded ? WeightFormat::kInt4Interleaved : WeightFormat::kInt4);
    w.n = weights.dims[0];
    w.k = int4 ? int64_t{weights.dims[1]} * 2 : weights.dims[1];
    w.data = weights.data;
    const int64_t blocks = blockwise || coded ? scales.dims[1] : 1;
    w.block = blocks > 0 ? w.k / blocks : 0;
    if (blockwise) {
      w.block_scales = scales.as<uint16_t>();
    } else if (coded) {
      w.block_codes = scales.as<uint8_t>();
    } else {
      w.channel_scales = scales.as<float>();
    }
    // With codes, wsum is [2, N]: row 0 the channel scales, row 1 the row sums.
    const bool wsum_ok = coded ? wsum.dims[0] == 2 && wsum.dims[1] == w.n : wsum.dims[0] == w.n;
    if (coded && wsum_ok) {
      w.channel_scales = wsum.as<float>();
      w.wsum = wsum.as<float>() + w.n;
    } else {
      w.wsum = wsum.as<float>();
    }
    const int64_t rows = x.rank == 0 ? 0 : x.num_elements() / std::max<int64_t>(1, x.dims[x.rank - 1]);
    const bool shapes_ok =
        x.rank >= 1 && x.dims[x.rank - 1] == w.k && scales.dims[0] == w.n &&
        (!(blockwise || coded) || blocks * w.block == w.k) && wsum_ok &&
        (!coded || int4) &&
        (bias == nullptr || bias->dims[0] == w.n) && y.rank == x.rank &&
        y.dims[y.rank - 1] == w.n && y.num_elements() == rows * w.n &&
        (residual == nullptr || residual->num_elements() == rows * w.n);
    if (!shapes_ok) {
      return Status(ErrorCode::kInput,
                    "incompatible shapes x=" + DimsToString(x) + " weights=" + Describe(weights) +
                        " scales=" + Describe(scales) + " wsum=" + DimsToString(wsum) +
                        (bias != nullptr ? " bias=" + DimsToString(*bias) : "") +
                        (residual != nullptr ? " residual=" + DimsToString(*residual) : "") +
                        " y=" + DimsToString(y));
    }
    LITEGEN_RETURN_IF_ERROR(linear_.Run(w, rows, x.as<float>(),
                                        bias != nullptr ? bias->as<float>() : nullptr,
                                        y.as<float>(), pool_->Get()));
    if (residual != nullptr) {
      // After the bias, as torch adds them: y = (x W^T + b) + residual.
      float* out = y.as<float>();
      const float* r = residual->as<float>();
      for (int64_t i = 0, n = rows * w.n; i < n; ++i) out[i] += r[i];
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<SharedPool> pool_;
  Linear linear_;
};

// LITEGEN_SDPA: (q [B,Hq,T,D], k_cache [B,Hkv,S,D], v_cache [B,Hkv,S,D] (both f32 or both
// f16), input_pos [T] i32, params [2] f32 {scale, logit_softcap}, sliding_window [1] i32,
// dependency tokens...) -> out [B,Hq,T,D].
class SdpaOp : public CustomOp {
 public:
  SdpaOp(std::shared_ptr<SharedPool> pool, Isa isa) : pool_(std::move(pool)), sdpa_(isa) {}

  Status Init(const uint8_t* /*options*/, size_t size) override {
    return CheckEmptyOptions(kSdpaOpName, size);
  }

  Status ComputeOutputShapes(const std::vector<Shape>& inputs,
                             std::vector<Shape>& outputs) override {
    if (inputs.size() < 6 || outputs.size() != 1 || inputs[0].size() != 4) {
      return Status(ErrorCode::kModelLoad,
                    "expects at least 6 inputs (q [B,Hq,T,D], k_cache, v_cache, input_pos, "
                    "params, sliding_window, dependency tokens...) and 1 output, got " +
                        std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()) +
                        (inputs.empty() ? "" : ", q of rank " + std::to_string(inputs[0].size())));
    }
    outputs[0] = inputs[0];
    return Status::Ok();
  }

  Status Run(const std::vector<TensorView>& inputs,
             const std::vector<TensorView>& outputs) override {
    if (inputs.size() < 6 || outputs.size() != 1) {
      return Status(ErrorCode::kModelLoad, "expects at least 6 inputs and 1 output");
    }
    const TensorView& q = inputs[0];
    const TensorView& k = inputs[1];
    const TensorView& v = inputs[2];
    const TensorView& pos = inputs[3];
    const TensorView& params = inputs[4];
    const TensorView& window = inputs[5];
    const TensorView& out = outputs[0];
    LITEGEN_RETURN_IF_ERROR(CheckTensor(q, kLiteRtElementTypeFloat32, 4, "input 0 (q)"));
    LITEGEN_RETURN_IF_ERROR(CheckCache(k, "input 1 (k_cache)"));
    LITEGEN_RETURN_IF_ERROR(CheckCache(v, "input 2 (v_cache)"));
    if (k.type != v.type) {
      return Status(ErrorCode::kInput, "k_cache (" + Describe(k) + ") and v_cache (" +
                                           Describe(v) + ") must have the same dtype");
    }
    LITEGEN_RETURN_IF_ERROR(CheckTensor(pos, kLiteRtElementTypeInt32, 1, "input 3 (input_pos)"));
    LITEGEN_RETURN_IF_ERROR(CheckTensor(params, kLiteRtElementTypeFloat32, -1, "input 4 (params)"));
    LITEGEN_RETURN_IF_ERROR(
        CheckTensor(window, kLiteRtElementTypeInt32, -1, "input 5 (sliding_window)"));
    LITEGEN_RETURN_IF_ERROR(CheckTensor(out, kLiteRtElementTypeFloat32, 4, "output 0"));
    if (params.num_elements() != 2) {
      return Status(ErrorCode::kInput, "input 4 (params) must hold {scale, logit_softcap}, got " +
                                           Describe(params));
    }
    if (window.num_elements() != 1) {
      return Status(ErrorCode::kInput, "input 5 (sliding_window) must hold 1 value, got " +
                                           Describe(window));
    }
    bool same_kv = true;
    for (int i = 0; i < 4; ++i) same_kv &= k.dims[i] == v.dims[i];
    bool same_out = true;
    for (int i = 0; i < 4; ++i) same_out &= out.dims[i] == q.dims[i];
    if (!same_kv || q.dims[0] != k.dims[0] || q.dims[3] != k.dims[3] ||
        q.dims[2] != pos.dims[0] || !same_out) {
      return Status(ErrorCode::kInput, "incompatible shapes q=" + DimsToString(q) +
                                           " k_cache=" + DimsToString(k) + " v_cache=" +
                                           DimsToString(v) + " input_pos=" + DimsToString(pos) +
                                           " out=" + DimsToString(out));
    }
    SdpaShape shape;
    shape.batch = q.dims[0];
    shape.q_heads = q.dims[1];
    shape.kv_heads = k.dims[1];
    shape.q_len = q.dims[2];
    shape.kv_len = k.dims[2];
    shape.head_dim = q.dims[3];
    SdpaParams p;
    p.scale = params.as<float>()[0];
    p.logit_softcap = params.as<float>()[1];
    p.sliding_window = window.as<int32_t>()[0];
    if (k.type == kLiteRtElementTypeFloat16) {
      return sdpa_.Run(shape, q.as<float>(), k.as<uint16_t>(), v.as<uint16_t>(),
                       pos.as<int32_t>(), p, out.as<float>(), pool_->Get());
    }
    return sdpa_.Run(shape, q.as<float>(), k.as<float>(), v.as<float>(), pos.as<int32_t>(), p,
                     out.as<float>(), pool_->Get());
  }

 private:
  std::shared_ptr<SharedPool> pool_;
  Sdpa sdpa_;
};

}  // namespace

std::unique_ptr<CustomOp> MakeKvCacheUpdateOp() { return std::make_unique<KvCacheUpdateOp>(); }

std::unique_ptr<CustomOp> MakeSdpaOp(int num_threads, Isa isa) {
  return std::make_unique<SdpaOp>(std::make_shared<SharedPool>(num_threads), isa);
}

std::unique_ptr<CustomOp> MakeFcOp(int num_threads, Isa isa) {
  return std::make_unique<FcOp>(std::make_shared<SharedPool>(num_threads), isa);
}

std::unique_ptr<CustomOp> MakeRmsNormOp() { return std::make_unique<RmsNormOp>(); }

std::unique_ptr<CustomOp> MakeRopeOp() { return std::make_unique<RopeOp>(); }

std::unique_ptr<CustomOp> MakeGluOp() { return std::make_unique<GluOp>(); }

std::vector<CustomOpRegistration> BuiltinCustomOps(int num_threads, Isa isa) {
  // One pool for every kernel of a compiled model (they never run concurrently), so its
  // kernels do not bring one set of spinning workers each.
  auto pool = std::make_shared<SharedPool>(num_threads);
  std::vector<CustomOpRegistration> ops;
  ops.push_back({kKvCacheUpdateOpName, kBuiltinOpVersion, [] { return MakeKvCacheUpdateOp(); }});
  ops.push_back({kSdpaOpName, kBuiltinOpVersion,
                 [pool, isa] { return std::make_unique<SdpaOp>(pool, isa); }});
  ops.push_back({kFcOpName, kBuiltinOpVersion,
                 [pool, isa] { return std::make_unique<FcOp>(pool, isa); }});
  ops.push_back({kRmsNormOpName, kBuiltinOpVersion, [] { return MakeRmsNormOp(); }});
  ops.push_back({kRopeOpName, kBuiltinOpVersion, [] { return MakeRopeOp(); }});
  ops.push_back({kGluOpName, kBuiltinOpVersion, [] { return MakeGluOp(); }});
  return ops;
}

}  // namespace litegen::ops
