// Next-token sampling: greedy, temperature, top-k, top-p, min-p, repetition penalty.
//
// The order of the logit transforms follows Hugging Face `generate` so results are
// comparable: repetition penalty -> temperature -> top-k -> top-p -> min-p -> draw.
// Draws come from our own 64-bit generator and uniform mapping, so a seed gives the
// same tokens on every platform and standard library.
#ifndef LITEGEN_CPP_ENGINE_SAMPLER_H_
#define LITEGEN_CPP_ENGINE_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "litert/status.h"

namespace litegen {

struct SamplingParams {
  float temperature = 0.0f;         // 0 selects greedy decoding (argmax)
  int top_k = 0;                    // keep the k most likely tokens; 0 = off
  float top_p = 1.0f;               // keep the smallest set with mass >= top_p; 1 = off
  float min_p = 0.0f;               // drop tokens with p < min_p * p_max; 0 = off
  float repetition_penalty = 1.0f;  // CTRL-style penalty on tokens seen before; 1 = off
  uint64_t seed = 0;
};

// kInvalidArgument naming the offending field, or Ok.
Status ValidateSamplingParams(const SamplingParams& params);

// SplitMix64: tiny, fast, and fully specified (unlike std:: distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t NextU64();
  // Uniform in [0, 1) with 53 random bits.
  double NextUniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

class Sampler {
 public:
  static Expected<Sampler> Create(const SamplingParams& params, int vocab_size);

  // Picks the next token from `logits` [vocab_size] (not modified). `history` holds the
  // tokens the repetition penalty applies to (prompt and generated so far).
  int Sample(const float* logits, const std::vector<int>& history);

  const SamplingParams& params() const { return params_; }

 private:
  Sampler(const SamplingParams& params, int vocab_size);
  void ApplyRepetitionPenalty(const std::vector<int>& history);
  // Fills candidates_ with the most likely tokens (by logit, descending) that survive
  // top-k and top-p, and probs_ with their normalized probabilities.
  void SelectCandidates();

  SamplingParams params_;
  int vocab_size_;
  Rng rng_;
  std::vector<float> logits_;     // working copy (penalized, temperature-scaled)
  std::vector<int> candidates_;   // token ids, most likely first
  std::vector<double> probs_;     // probabilities of candidates_
  std::vector<uint8_t> seen_;     // per-token flag for the repetition penalty
};

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_SAMPLER_H_
