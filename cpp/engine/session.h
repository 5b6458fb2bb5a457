// One conversation on an Engine: the per-layer KV caches (allocated once, zeroed), the
// token history whose KV rows they hold, and reusable token / position / logits buffers.
//
// Multi-turn: Generate() compares the request with the history and prefills only the part
// after their common prefix (cache rows beyond it are simply overwritten; SDPA never reads
// rows beyond max(input_pos)). Sending the whole conversation each turn therefore costs
// only the new tokens.
//
// Not thread-safe, except Cancel-style flags: a `cancel` flag passed to Generate may be set
// from any thread; it is checked before every prefill chunk and decode step.
#ifndef LITEGEN_CPP_ENGINE_SESSION_H_
#define LITEGEN_CPP_ENGINE_SESSION_H_

#include <atomic>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "engine/generation.h"
#include "litert/host_tensor.h"

namespace litegen {

class Session {
 public:
  static Expected<std::unique_ptr<Session>> Create(std::shared_ptr<Engine> engine);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Engine& engine() const { return *engine_; }
  // Tokens whose KV rows are in the cache, positions 0..history().size()-1.
  const std::vector<int>& history() const { return history_; }
  // Forgets the history (the cache rows are overwritten by the next request).
  void Reset() { history_.clear(); }

  // Makes the cache hold `tokens` and returns the logits row [vocab] of their last token
  // (valid until the next call). Reuses the cached common prefix; runs the rest through
  // prefill in chunks. kInput errors: empty, over the context, token id out of range.
  // If `cancel` is set between chunks, returns nullptr (the history then holds the
  // chunks done so far). `reused` receives the number of cached prefix tokens kept.
  Expected<const float*> Prefill(const std::vector<int>& tokens,
                                 const std::atomic<bool>* cancel = nullptr,
                                 int* reused = nullptr);
  // Appends one token at position history().size() and returns its logits row.
  // kInput error when the cache is full.
  Expected<const float*> Decode(int token);

  // Prefill + sample + decode loop. `on_token` (optional) sees every generated token;
  // returning false stops. `cancel` (optional) stops within one step once set.
  // Context overflow while decoding is not an error: generation stops with
  // StopReason::kContextFull and returns the tokens so far.
  // The checks Generate starts with (config values, then the prompt), without running.
  Status Validate(const std::vector<int>& prompt, const GenerationConfig& config) const;

  Expected<GenerationResult> Generate(const std::vector<int>& prompt,
                                      const GenerationConfig& config,
                                      const TokenCallback& on_token = nullptr,
                                      const std::atomic<bool>* cancel = nullptr);

 private:
  struct Token {};

 public:
  explicit Session(Token, std::shared_ptr<Engine> engine) : engine_(std::move(engine)) {}

 private:
  Status Allocate();
  Status CheckTokens(const std::vector<int>& tokens) const;
  // Runs prefill on tokens[begin, end) at positions begin..end-1.
  Status RunPrefillChunk(const std::vector<int>& tokens, size_t begin, size_t end);
  // Rows of the prefill logits buffer: 1, or one per token of a chunk.
  size_t PrefillLogitsRows() const {
    return engine_->interface().prefill_last_logits
               ? 1
               : static_cast<size_t>(engine_->prefill_chunk());
  }

  std::shared_ptr<Engine> engine_;
  std::vector<HostTensor> k_cache_, v_cache_;
  std::vector<int> history_;
  // Decode: fixed [1, 1] / [1] / [1, 1, V] tensors.
  std::unique_ptr<HostTensor> decode_tokens_, decode_pos_, decode_logits_;
  // Prefill: memory for the largest chunk, wrapped per call with the chunk's shape.
  AlignedMemory prefill_tokens_mem_, prefill_pos_mem_, prefill_logits_mem_;
  std::vector<const HostTensor*> prefill_inputs_, decode_inputs_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_SESSION_H_
