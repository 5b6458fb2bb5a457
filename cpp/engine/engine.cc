#include "engine/engine.h"

#include <algorithm>
#include <limits>
#include <string>

#include "engine/session.h"
#include "litert/environment.h"
#include "ops/builtin_ops.h"

namespace litegen {
namespace {

std::string ShapeText(const Shape& shape) { return ShapeToString(shape); }

// Fills `inputs` for one signature; `layers` / `interface` come from the prefill
// signature when checking the decode one.
Status DiscoverSignature(const SignatureSpec& sig, bool is_prefill, const std::string& where,
                         ModelInterface& interface, ModelInterface::Inputs& inputs) {
  const std::string what = where + " signature '" + sig.key + "'";
  auto bad = [&](const std::string& reason) {
    return Status(ErrorCode::kModelLoad,
                  what + " is not a litegen LLM signature: " + reason +
                      " (expected tokens int32 [1, T], input_pos int32 [T], "
                      "kv_cache_k_<i> / kv_cache_v_<i> float32 or float16 [1, Hkv, S, D] -> logits "
                      "float32 [1, T or 1, V], as litegen.convert(..., form=\"fast\") writes)");
  };
  const int32_t t = is_prefill ? kDynamicDim : 1;
  inputs.tokens = sig.FindInput("tokens");
  inputs.input_pos = sig.FindInput("input_pos");
  inputs.logits = sig.FindOutput("logits");
  if (inputs.tokens < 0) return bad("no input 'tokens'");
  if (inputs.input_pos < 0) return bad("no input 'input_pos'");
  if (inputs.logits < 0) return bad("no output 'logits'");
  const TensorSpec& tokens = sig.inputs[inputs.tokens];
  if (tokens.type != kLiteRtElementTypeInt32 || tokens.shape.size() != 2 ||
      tokens.shape[0] != 1 || tokens.shape[1] != t) {
    return bad("input 'tokens' is " + ElementTypeName(tokens.type) + " " +
               ShapeText(tokens.shape));
  }
  const TensorSpec& pos = sig.inputs[inputs.input_pos];
  if (pos.type != kLiteRtElementTypeInt32 || pos.shape != Shape{t}) {
    return bad("input 'input_pos' is " + ElementTypeName(pos.type) + " " + ShapeText(pos.shape));
  }
  const TensorSpec& logits = sig.outputs[inputs.logits];
  // Prefill: every row (dynamic, like tokens) or the last row only; decode: one row.
  const bool rows_ok = logits.shape.size() == 3 && (logits.shape[1] == 1 || logits.shape[1] == t);
  if (logits.type != kLiteRtElementTypeFloat32 || !rows_ok || logits.shape[0] != 1 ||
      logits.shape[2] < 1) {
    return bad("output 'logits' is " + ElementTypeName(logits.type) + " " +
               ShapeText(logits.shape));
  }
  if (sig.outputs.size() != 1) {
    return bad(std::to_string(sig.outputs.size()) + " outputs (the fast form has only 'logits')");
  }
  if (is_prefill) {
    interface.vocab_size = logits.shape[2];
    interface.prefill_last_logits = logits.shape[1] == 1;
  } else if (logits.shape[2] != interface.vocab_size) {
    return bad("vocabulary " + std::to_string(logits.shape[2]) + " differs from prefill's " +
               std::to_string(interface.vocab_size));
  }

  // KV caches: kv_cache_k_0, kv_cache_v_0, ... with no gaps; nothing else.
  size_t layers = 0;
  while (sig.FindInput("kv_cache_k_" + std::to_string(layers)) >= 0) ++layers;
  if (layers == 0) return bad("no KV-cache inputs (kv_cache_k_0, ...)");
  if (sig.inputs.size() != 2 + 2 * layers) {
    for (const TensorSpec& spec : sig.inputs) {
      if (spec.name == "tokens" || spec.name == "input_pos") continue;
      bool known = false;
      for (size_t i = 0; i < layers; ++i) {
        known |= spec.name == "kv_cache_k_" + std::to_string(i) ||
                 spec.name == "kv_cache_v_" + std::to_string(i);
      }
      if (!known) return bad("unexpected input '" + spec.name + "'");
    }
    return bad("kv_cache_k_<i> and kv_cache_v_<i> do not pair up for layers 0.." +
               std::to_string(layers - 1));
  }
  if (!is_prefill && layers != interface.layers.size()) {
    return bad(std::to_string(layers) + " layers, prefill has " +
               std::to_string(interface.layers.size()));
  }
  inputs.k.assign(layers, -1);
  inputs.v.assign(layers, -1);
  for (size_t i = 0; i < layers; ++i) {
    for (const char* kv : {"k", "v"}) {
      const std::string name = std::string("kv_cache_") + kv + "_" + std::to_string(i);
      const int index = sig.FindInput(name);
      if (index < 0) return bad("no input '" + name + "'");
      const TensorSpec& spec = sig.inputs[index];
      const bool float_type =
          spec.type == kLiteRtElementTypeFloat32 || spec.type == kLiteRtElementTypeFloat16;
      if (!float_type || spec.shape.size() != 4 || spec.shape[0] != 1 || spec.shape[1] < 1 ||
          spec.shape[2] < 1 || spec.shape[3] < 1) {
        return bad("input '" + name + "' is " + ElementTypeName(spec.type) + " " +
                   ShapeText(spec.shape) +
                   ", expected a static float32 or float16 [1, Hkv, S, D]");
      }
      // One dtype for every cache of the model (the session allocates them all alike).
      if (interface.kv_type == kLiteRtElementTypeNone) interface.kv_type = spec.type;
      if (spec.type != interface.kv_type) {
        return bad("input '" + name + "' is " + ElementTypeName(spec.type) +
                   ", the other caches " + ElementTypeName(interface.kv_type));
      }
      (kv[0] == 'k' ? inputs.k : inputs.v)[i] = index;
      const LayerCacheShape shape{spec.shape[1], spec.shape[3]};
      if (is_prefill && kv[0] == 'k') {
        if (interface.max_context == 0) interface.max_context = spec.shape[2];
        interface.layers.push_back(shape);
      }
      const LayerCacheShape& expected = interface.layers[i];
      if (spec.shape[2] != interface.max_context || shape.num_kv_heads != expected.num_kv_heads ||
          shape.head_dim != expected.head_dim) {
        return bad("input '" + name + "' " + ShapeText(spec.shape) +
                   " does not match the other caches [1, " +
                   std::to_string(expected.num_kv_heads) + ", " +
                   std::to_string(interface.max_context) + ", " +
                   std::to_string(expected.head_dim) + "]");
      }
    }
  }
  interface.num_layers = static_cast<int>(layers);
  return Status::Ok();
}

}  // namespace

Expected<ModelInterface> DiscoverInterface(const Model& model) {
  const std::string where = "model '" + model.path() + "'";
  const SignatureSpec* prefill = nullptr;
  const SignatureSpec* decode = nullptr;
  std::string names;
  for (const SignatureSpec& sig : model.signatures()) {
    names += (names.empty() ? "'" : ", '") + sig.key + "'";
    if (sig.key == "prefill") prefill = &sig;
    if (sig.key == "decode") decode = &sig;
  }
  if (prefill == nullptr || decode == nullptr) {
    return Status(ErrorCode::kModelLoad,
                  where + " is not a litegen LLM: it needs 'prefill' and 'decode' signatures, "
                          "it has " + (names.empty() ? std::string("none") : names) +
                      " (convert a checkpoint with litegen.convert(..., form=\"fast\"))");
  }
  ModelInterface interface;
  LITEGEN_RETURN_IF_ERROR(DiscoverSignature(*prefill, true, where, interface, interface.prefill));
  LITEGEN_RETURN_IF_ERROR(DiscoverSignature(*decode, false, where, interface, interface.decode));
  return interface;
}

Expected<std::shared_ptr<Engine>> Engine::Create(const std::string& model_path,
                                                 const EngineOptions& options) {
  if (options.prefill_chunk_size < 1) {
    return Status(ErrorCode::kInvalidArgument,
                  "prefill_chunk_size must be >= 1, got " +
                      std::to_string(options.prefill_chunk_size));
  }
  LITEGEN_ASSIGN_OR_RETURN(std::shared_ptr<const Environment> env, Environment::Create());
  LITEGEN_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, Model::Load(env, model_path));
  // Check the interface before compiling: a foreign model fails fast with a clear message.
  LITEGEN_ASSIGN_OR_RETURN(ModelInterface interface, DiscoverInterface(*model));

  auto engine = std::make_shared<Engine>(Token{}, options);
  engine->interface_ = std::move(interface);
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(engine->interface_.vocab_size);
  const size_t cap = engine->interface_.prefill_last_logits
                        ? std::numeric_limits<size_t>::max()
                        : std::max<size_t>(1, kMaxPrefillLogitsBytes / row_bytes);
  engine->prefill_chunk_ = static_cast<int>(std::min<size_t>(
      {static_cast<size_t>(options.prefill_chunk_size), cap,
       static_cast<size_t>(engine->interface_.max_context)}));

  CompileOptions compile;
  compile.num_threads = options.num_threads;
  compile.weight_cache_path = options.weight_cache_path;
  compile.custom_ops = BuiltinCustomOps(options.num_threads);
  LITEGEN_ASSIGN_OR_RETURN(engine->compiled_, CompiledModel::Create(model, compile));
  LITEGEN_ASSIGN_OR_RETURN(engine->prefill_, model->FindSignature("prefill"));
  LITEGEN_ASSIGN_OR_RETURN(engine->decode_, model->FindSignature("decode"));
  return engine;
}

Expected<std::unique_ptr<Session>> Engine::NewSession() {
  return Session::Create(shared_from_this());
}

Status Engine::Run(bool prefill, const std::vector<const HostTensor*>& inputs,
                   const std::vector<const HostTensor*>& outputs) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  return compiled_->Run(prefill ? *prefill_ : *decode_, inputs, outputs);
}

}  // namespace litegen
