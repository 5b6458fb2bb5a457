// The LLM benchmark behind `litegen-run --bench`: init time, prefill and decode speed,
// time to first token and peak memory of one fast-form model, measured in this process
// with deterministic synthetic prompts (no tokenizer needed).
//
// One repetition = a fresh session, a prompt of `prompt_tokens` synthetic ids through
// prefill, then `decode_tokens` greedy decode steps at context depths prompt_tokens ..
// prompt_tokens + decode_tokens - 1. Stop tokens are ignored (none are configured), so
// every repetition does the same work.
#ifndef LITEGEN_CPP_BENCH_LLM_BENCH_H_
#define LITEGEN_CPP_BENCH_LLM_BENCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "litert/status.h"

namespace litegen::bench {

struct LlmBenchOptions {
  std::string model_path;
  int prompt_tokens = 128;
  int decode_tokens = 32;
  int warmup = 1;  // untimed repetitions first (page-in, caches, thread start-up)
  int repeat = 3;
  EngineOptions engine;  // threads, weight cache (empty path: none), prefill chunk
};

struct LlmBenchRun {
  double prefill_seconds = 0;
  double prefill_tokens_per_second = 0;
  double time_to_first_token_seconds = 0;
  double decode_seconds = 0;
  double decode_tokens_per_second = 0;  // 0 when decode_tokens == 0
  int decoded_tokens = 0;
};

struct LlmBenchResult {
  LlmBenchOptions options;
  std::string weight_cache_state;  // "cold" (no valid cache before), "warm", or "none"
  double init_seconds = 0;         // model load + interface check + compile
  int64_t model_file_bytes = 0;
  int64_t rss_after_init_bytes = 0;  // 0 where /proc/self/statm is unavailable
  int64_t peak_rss_bytes = 0;        // VmHWM (else ru_maxrss) at the end
  // The model file's bytes mapped through 2 MiB pages at the end (see FileHugePageBytes):
  // decode reads 4 KiB-paged weights 12-16% slower, so a result is read with this.
  int64_t model_huge_page_bytes = 0;
  std::string isa;                   // litegen's attention kernels' instruction set
  int max_context = 0;
  int vocab_size = 0;
  int num_layers = 0;
  int prefill_chunk = 0;
  std::vector<LlmBenchRun> runs;  // the timed repetitions (warm-up excluded)
};

// The i-th..(n-1)-th synthetic prompt id: a fixed pseudo-random walk over [0, vocab), the
// same on every machine, so runs are comparable.
std::vector<int> SyntheticTokens(int count, int vocab_size);

// kInvalidArgument for bad counts, or a prompt + decode that does not fit the model's
// context (named with the model's max context); engine errors otherwise.
Expected<LlmBenchResult> RunLlmBench(const LlmBenchOptions& options);

double Median(std::vector<double> values);

// One JSON object (schema "litegen.bench.llm/1"); the medians are top-level keys
// (prefill_tokens_per_second, decode_tokens_per_second, time_to_first_token_seconds,
// init_seconds, peak_rss_bytes, ...), every repetition under "runs".
std::string LlmBenchJson(const LlmBenchResult& result);
// A few human-readable lines.
std::string LlmBenchText(const LlmBenchResult& result);

int64_t PeakRssBytes();
int64_t CurrentRssBytes();  // 0 if unknown

}  // namespace litegen::bench

#endif  // LITEGEN_CPP_BENCH_LLM_BENCH_H_
