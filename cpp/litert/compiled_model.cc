#include "litert/compiled_model.h"

#include "litert/huge_page_advice.h"

#include <cstdlib>
#include <optional>
#include <cstring>

#include "litert/weight_cache.h"

namespace litegen {
namespace {

constexpr int kMaxThreads = 256;

// TOML basic string with the escapes a file path can need.
std::string TomlString(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The XNNPack (CPU) settings travel as a NUL-terminated TOML payload in opaque options.
Status AddCpuOptions(LiteRtOptions options, const CompileOptions& config) {
  std::string toml = "num_threads = " + std::to_string(config.num_threads) + "\n";
  if (!config.weight_cache_path.empty()) {
    toml += "weight_cache_file_path = " + TomlString(config.weight_cache_path) + "\n";
  }
  // LiteRT frees the payload through the destructor we pass, so it must be malloc'ed.
  char* payload = static_cast<char*>(std::malloc(toml.size() + 1));
  if (payload == nullptr) return Status(ErrorCode::kInternal, "out of memory");
  std::memcpy(payload, toml.c_str(), toml.size() + 1);
  LiteRtOpaqueOptions opaque = nullptr;
  const LiteRtStatus created =
      LiteRtCreateOpaqueOptions("xnnpack", payload, [](void* p) { std::free(p); }, &opaque);
  if (created != kLiteRtStatusOk) {
    std::free(payload);
    return CheckLiteRt(created, ErrorCode::kInternal, "creating CPU options");
  }
  OpaqueOptionsHandle owned(opaque);
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtAddOpaqueOptions(options, opaque),
                                      ErrorCode::kInternal, "adding CPU options"));
  owned.release();  // now owned by `options`
  return Status::Ok();
}

}  // namespace

CompiledModel::CompiledModel(Token, std::shared_ptr<const Model> model)
    : model_(std::move(model)) {
  const size_t n = model_->signatures().size();
  input_shapes_.resize(n);
  output_shapes_.resize(n);
  for (size_t s = 0; s < n; ++s) {
    for (const TensorSpec& spec : model_->signatures()[s].inputs) {
      input_shapes_[s].push_back(spec.shape);
    }
  }
}

CompiledModel::~CompiledModel() = default;

Expected<std::unique_ptr<CompiledModel>> CompiledModel::Create(
    std::shared_ptr<const Model> model, const CompileOptions& options) {
  if (options.num_threads < 1 || options.num_threads > kMaxThreads) {
    return Status(ErrorCode::kInvalidArgument, "num_threads must be in [1, " +
                                                   std::to_string(kMaxThreads) + "], got " +
                                                   std::to_string(options.num_threads));
  }
  auto compiled = std::make_unique<CompiledModel>(Token{}, std::move(model));
  LITEGEN_RETURN_IF_ERROR(compiled->Compile(options));
  return compiled;
}

Status CompiledModel::Compile(const CompileOptions& options) {
  const std::string where = "model '" + model_->path() + "'";
  // An unregistered custom op would only fail at the first run with a vague message;
  // name it now instead.
  for (const std::string& op : model_->custom_ops()) {
    bool found = false;
    for (const CustomOpRegistration& reg : options.custom_ops) found |= reg.name == op;
    if (!found) {
      std::string known;
      for (const CustomOpRegistration& reg : options.custom_ops) {
        known += (known.empty() ? "" : ", ") + reg.name;
      }
      return Status(ErrorCode::kModelLoad,
                    where + " uses custom op '" + op + "', which is not registered" +
                        (known.empty() ? std::string(" (no custom ops registered)")
                                       : " (registered: " + known + ")"));
    }
  }

  LiteRtOptions raw_options = nullptr;
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtCreateOptions(&raw_options), ErrorCode::kInternal,
                                      "creating compilation options"));
  options_.reset(raw_options);
  LITEGEN_RETURN_IF_ERROR(
      CheckLiteRt(LiteRtSetOptionsHardwareAccelerators(raw_options, kLiteRtHwAcceleratorCpu),
                  ErrorCode::kInternal, "selecting the CPU accelerator"));
  LITEGEN_RETURN_IF_ERROR(AddCpuOptions(raw_options, options));

  for (const CustomOpRegistration& reg : options.custom_ops) {
    std::unique_ptr<CustomOp> op = reg.create ? reg.create() : nullptr;
    if (!op) {
      return Status(ErrorCode::kInternal, "custom op '" + reg.name + "' has no kernel");
    }
    adapters_.push_back(std::make_unique<CustomOpAdapter>(reg.name, std::move(op),
                                                          &kernel_errors_));
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(
        LiteRtAddCustomOpKernelOption(raw_options, reg.name.c_str(), reg.version,
                                      &CustomOpAdapter::Callbacks(), adapters_.back().get()),
        ErrorCode::kInternal, "registering custom op '" + reg.name + "'"));
  }

  std::optional<WeightCacheGuard> cache_guard;
  if (!options.weight_cache_path.empty()) {
    LITEGEN_ASSIGN_OR_RETURN(cache_guard,
                             WeightCacheGuard::Prepare(options.weight_cache_path, model_->path()));
  }

  LiteRtCompiledModel raw = nullptr;
  const LiteRtStatus status =
      LiteRtCreateCompiledModel(model_->environment()->get(), model_->get(), raw_options, &raw);
  handle_.reset(raw);
  LITEGEN_RETURN_IF_ERROR(kernel_errors_.Take());
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(status, ErrorCode::kModelLoad, "compiling " + where));
  if (cache_guard) LITEGEN_RETURN_IF_ERROR(cache_guard->Commit());
  // XNNPack reads its packed weights (all of them in the portable form) from the cache
  // file's mapping, a weight stream like the model's own.
  if (!options.weight_cache_path.empty()) AdviseHugePagesForFile(options.weight_cache_path);

  for (const SignatureSpec& signature : model_->signatures()) {
    std::vector<LiteRtLayout> layouts(signature.outputs.size());
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(
        LiteRtGetCompiledModelOutputTensorLayouts(handle_.get(), signature.index, layouts.size(),
                                                  layouts.data(), /*update_allocation=*/false),
        ErrorCode::kModelLoad, where + " signature '" + signature.key + "': output shapes"));
    for (const LiteRtLayout& layout : layouts) {
      output_shapes_[signature.index].push_back(LayoutShape(layout));
    }
  }
  return Status::Ok();
}

bool CompiledModel::fully_accelerated() const {
  bool fully = false;
  return LiteRtCompiledModelIsFullyAccelerated(handle_.get(), &fully) == kLiteRtStatusOk && fully;
}

Expected<std::vector<Shape>> CompiledModel::PrepareShapes(const SignatureSpec& signature,
                                                          const std::vector<Shape>& shapes) {
  const std::string where = "signature '" + signature.key + "'";
  if (shapes.size() != signature.inputs.size()) {
    return Status(ErrorCode::kInput, where + " takes " +
                                         std::to_string(signature.inputs.size()) +
                                         " inputs, got " + std::to_string(shapes.size()));
  }
  bool resized = false;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const TensorSpec& spec = signature.inputs[i];
    if (!spec.Accepts(shapes[i])) {
      return Status(ErrorCode::kInput, where + " input '" + spec.name + "': shape " +
                                           ShapeToString(shapes[i]) + " does not match " +
                                           ShapeToString(spec.shape) +
                                           " (-1 marks a dynamic dimension)");
    }
    Shape& current = input_shapes_[signature.index][i];
    if (current == shapes[i]) continue;
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(
        LiteRtCompiledModelResizeInputTensor(handle_.get(), signature.index, i, shapes[i].data(),
                                             shapes[i].size()),
        ErrorCode::kInput, where + " input '" + spec.name + "': resizing to " +
                               ShapeToString(shapes[i])));
    current = shapes[i];
    resized = true;
  }
  std::vector<Shape>& outputs = output_shapes_[signature.index];
  if (resized) {
    std::vector<LiteRtLayout> layouts(signature.outputs.size());
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(
        LiteRtGetCompiledModelOutputTensorLayouts(handle_.get(), signature.index, layouts.size(),
                                                  layouts.data(), /*update_allocation=*/true),
        ErrorCode::kExecution, where + ": computing output shapes"));
    LITEGEN_RETURN_IF_ERROR(kernel_errors_.Take());
    for (size_t i = 0; i < layouts.size(); ++i) outputs[i] = LayoutShape(layouts[i]);
  }
  return outputs;
}

Status CompiledModel::CheckInputs(const SignatureSpec& signature,
                                  const std::vector<const HostTensor*>& inputs) const {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = signature.inputs[i];
    if (inputs[i] == nullptr) {
      return Status(ErrorCode::kInput,
                    "signature '" + signature.key + "' input '" + spec.name + "' is missing");
    }
    if (inputs[i]->type() != spec.type) {
      return Status(ErrorCode::kInput, "signature '" + signature.key + "' input '" + spec.name +
                                           "': dtype " + ElementTypeName(inputs[i]->type()) +
                                           ", expected " + ElementTypeName(spec.type));
    }
  }
  return Status::Ok();
}

Status CompiledModel::Run(const SignatureSpec& signature,
                          const std::vector<const HostTensor*>& inputs,
                          const std::vector<const HostTensor*>& outputs) {
  const std::string where = "signature '" + signature.key + "'";
  if (inputs.size() != signature.inputs.size() || outputs.size() != signature.outputs.size()) {
    return Status(ErrorCode::kInput,
                  where + " takes " + std::to_string(signature.inputs.size()) + " inputs and " +
                      std::to_string(signature.outputs.size()) + " outputs, got " +
                      std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
  }
  LITEGEN_RETURN_IF_ERROR(CheckInputs(signature, inputs));
  std::vector<Shape> input_shapes(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) input_shapes[i] = inputs[i]->shape();
  LITEGEN_ASSIGN_OR_RETURN(std::vector<Shape> output_shapes,
                           PrepareShapes(signature, input_shapes));

  std::vector<LiteRtTensorBuffer> in_buffers(inputs.size());
  std::vector<LiteRtTensorBuffer> out_buffers(outputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) in_buffers[i] = inputs[i]->buffer();
  for (size_t i = 0; i < outputs.size(); ++i) {
    const TensorSpec& spec = signature.outputs[i];
    if (outputs[i] == nullptr || outputs[i]->type() != spec.type ||
        outputs[i]->shape() != output_shapes[i]) {
      return Status(ErrorCode::kInput,
                    where + " output '" + spec.name + "' needs a " + ElementTypeName(spec.type) +
                        " buffer of shape " + ShapeToString(output_shapes[i]));
    }
    out_buffers[i] = outputs[i]->buffer();
  }
  const LiteRtStatus status =
      LiteRtRunCompiledModel(handle_.get(), signature.index, in_buffers.size(),
                             in_buffers.data(), out_buffers.size(), out_buffers.data());
  LITEGEN_RETURN_IF_ERROR(kernel_errors_.Take());
  return CheckLiteRt(status, ErrorCode::kExecution,
                     "running " + where + " of model '" + model_->path() + "'");
}

}  // namespace litegen
