// A model compiled for the CPU (XNNPack), with litegen's custom kernels attached.
#ifndef LITEGEN_CPP_LITERT_COMPILED_MODEL_H_
#define LITEGEN_CPP_LITERT_COMPILED_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "litert/custom_op.h"
#include "litert/host_tensor.h"
#include "litert/model.h"

namespace litegen {

struct CompileOptions {
  int num_threads = 2;
  // XNNPack weight cache file. With it, signatures that share weights also share their
  // packed form (one copy in memory) and later loads map the file instead of repacking.
  // Empty disables the cache.
  std::string weight_cache_path;
  // Kernels for the model's custom ops; every custom op in the model must be here.
  std::vector<CustomOpRegistration> custom_ops;
};

// Not thread-safe: one thread runs a compiled model at a time.
class CompiledModel {
 public:
  static Expected<std::unique_ptr<CompiledModel>> Create(std::shared_ptr<const Model> model,
                                                         const CompileOptions& options);
  ~CompiledModel();
  CompiledModel(const CompiledModel&) = delete;
  CompiledModel& operator=(const CompiledModel&) = delete;

  const Model& model() const { return *model_; }
  bool fully_accelerated() const;

  // Validates input shapes against the signature (static dims must match, -1 dims take
  // any size >= 1), resizes dynamic inputs when they change, and returns output shapes.
  Expected<std::vector<Shape>> PrepareShapes(const SignatureSpec& signature,
                                             const std::vector<Shape>& input_shapes);

  // Runs `signature` with tensors in signature order. Inputs are checked (dtype, shape)
  // and outputs must have the shapes PrepareShapes returns. Errors reported by custom
  // kernels during the run are returned here (LiteRT itself ignores them).
  Status Run(const SignatureSpec& signature, const std::vector<const HostTensor*>& inputs,
             const std::vector<const HostTensor*>& outputs);

 private:
  struct Token {};

 public:
  CompiledModel(Token, std::shared_ptr<const Model> model);

 private:
  Status Compile(const CompileOptions& options);
  Status CheckInputs(const SignatureSpec& signature,
                     const std::vector<const HostTensor*>& inputs) const;

  // Destruction runs bottom-up: the compiled handle goes first, then the options that
  // reference the adapters, then the adapters and their error sink.
  std::shared_ptr<const Model> model_;
  ErrorSink kernel_errors_;
  std::vector<std::unique_ptr<CustomOpAdapter>> adapters_;
  OptionsHandle options_;
  CompiledModelHandle handle_;
  // Per signature: input shapes last applied to LiteRT and the output shapes they give.
  std::vector<std::vector<Shape>> input_shapes_;
  std::vector<std::vector<Shape>> output_shapes_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_COMPILED_MODEL_H_
