// What a generation request asks for and what it reports back.
#ifndef LITEGEN_CPP_ENGINE_GENERATION_H_
#define LITEGEN_CPP_ENGINE_GENERATION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace litegen {

struct GenerationConfig {
  // Tokens to generate at most (the first one comes from the prefill). 0 only prefills.
  int max_new_tokens = 256;
  SamplingParams sampling;
  // Generation stops after emitting one of these (the stop token is part of the output,
  // as in Hugging Face `generate`).
  std::vector<int> stop_token_ids;
};

// Why a generation ended.
enum class StopReason {
  kMaxNewTokens = 0,  // max_new_tokens reached
  kStopToken,         // a token of stop_token_ids was generated
  kContextFull,       // the KV cache is full: the next token has no position left
  kCallback,          // the on_token callback asked to stop
  kCancelled,         // the cancel flag was set (checked between steps)
};

const char* StopReasonName(StopReason reason);  // "max_new_tokens", "stop_token", ...

struct GenerationStats {
  int prompt_tokens = 0;      // tokens in the request
  int reused_tokens = 0;      // prompt tokens whose KV rows were already cached
  int prefill_tokens = 0;     // prompt tokens actually run through prefill
  int generated_tokens = 0;   // tokens returned
  double time_to_first_token_s = 0;  // request start -> first token sampled
  double prefill_s = 0;              // prefill runs only
  double decode_s = 0;               // decode runs + sampling of tokens 2..n
  double prefill_tokens_per_s = 0;   // prefill_tokens / prefill_s
  double decode_tokens_per_s = 0;    // (generated_tokens - 1) / decode_s
  StopReason stop_reason = StopReason::kMaxNewTokens;
};

struct GenerationResult {
  std::vector<int> token_ids;  // generated tokens only (not the prompt)
  GenerationStats stats;
};

// Called with every generated token, in order, on the generating thread. Return true to
// continue, false to stop after this token (stop reason kCallback).
using TokenCallback = std::function<bool(int token)>;

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_GENERATION_H_
