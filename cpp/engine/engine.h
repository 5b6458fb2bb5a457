// A litegen LLM loaded for generation: one compiled fast-form model (prefill + decode
// signatures, litegen's SDPA / KV-cache kernels, XNNPack weight cache) and the interface
// discovered from its signatures. Sessions (engine/session.h) own the per-conversation
// state (KV caches, token history) and share the engine.
//
// The model interface (what litegen.convert(..., form="fast") writes):
//   prefill: tokens int32 [1, -1], input_pos int32 [-1], kv_cache_{k,v}_{i} float32 or
//            float16, all alike, [1, Hkv, S, D] (updated in place) -> logits float32
//            [1, 1, V] (the last position; [1, T, V] from a signature exported with every
//            row is accepted)
//   decode:  the same with T = 1.
#ifndef LITEGEN_CPP_ENGINE_ENGINE_H_
#define LITEGEN_CPP_ENGINE_ENGINE_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "litert/compiled_model.h"
#include "litert/model.h"

namespace litegen {

class Session;

struct EngineOptions {
  int num_threads = 2;
  // XNNPack weight-cache file (strongly recommended: prefill and decode then share one
  // packed copy of the weights). Empty disables it.
  std::string weight_cache_path;
  // Longest prefill run; longer prompts are processed in chunks. A prefill signature
  // that returns logits for every token ([1, T, V]) also caps the chunk to keep that
  // buffer under kMaxPrefillLogitsBytes (litegen.convert's fast form returns the last
  // row only, [1, 1, V]).
  int prefill_chunk_size = 512;
};

// Prefill logits buffer cap: chunk <= max(1, kMaxPrefillLogitsBytes / (4 * vocab)).
inline constexpr size_t kMaxPrefillLogitsBytes = size_t{64} << 20;

// Shapes of one layer's KV cache: [1, num_kv_heads, max_context, head_dim].
struct LayerCacheShape {
  int num_kv_heads = 0;
  int head_dim = 0;
};

struct ModelInterface {
  int num_layers = 0;
  int max_context = 0;  // S: KV rows per layer = the longest conversation
  int vocab_size = 0;
  // Element type of every KV cache: float32, or float16 (the fast form's default).
  ElementType kv_type = kLiteRtElementTypeNone;
  // Prefill returns the last position's logits only ([1, 1, V]) instead of [1, T, V].
  bool prefill_last_logits = false;
  std::vector<LayerCacheShape> layers;
  // Input indices per signature (signature input order is the model's, not ours).
  struct Inputs {
    int tokens = -1;
    int input_pos = -1;
    std::vector<int> k;  // per layer
    std::vector<int> v;
    int logits = -1;  // output index
  };
  Inputs prefill, decode;
};

// Checks that `model` is a litegen LLM (fast form) and describes its interface; a
// kModelLoad error naming the model and the missing / mismatched piece otherwise.
Expected<ModelInterface> DiscoverInterface(const Model& model);

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  static Expected<std::shared_ptr<Engine>> Create(const std::string& model_path,
                                                  const EngineOptions& options);

  const ModelInterface& interface() const { return interface_; }
  const EngineOptions& options() const { return options_; }
  const std::string& path() const { return compiled_->model().path(); }
  // The effective prefill chunk (options().prefill_chunk_size after the logits cap).
  int prefill_chunk() const { return prefill_chunk_; }

  // A new conversation with its own zeroed KV cache (S rows per layer).
  Expected<std::unique_ptr<Session>> NewSession();

 private:
  friend class Session;
  struct Token {};

 public:
  Engine(Token, EngineOptions options) : options_(std::move(options)) {}

 private:
  // Runs one signature; serialized because sessions share the compiled model.
  Status Run(bool prefill, const std::vector<const HostTensor*>& inputs,
             const std::vector<const HostTensor*>& outputs);

  EngineOptions options_;
  ModelInterface interface_;
  int prefill_chunk_ = 1;
  std::unique_ptr<CompiledModel> compiled_;
  const SignatureSpec* prefill_ = nullptr;
  const SignatureSpec* decode_ = nullptr;
  std::mutex run_mutex_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_ENGINE_H_
