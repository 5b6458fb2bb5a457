#include "bench/llm_bench.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/json_writer.h"
#include "engine/session.h"
#include "litert/huge_page_advice.h"
#include "litert/weight_cache.h"
#include "ops/sdpa.h"

namespace litegen::bench {
namespace {

using Clock = std::chrono::steady_clock;

bool FileExists(const std::string& path) {
  struct stat st {};
  return !path.empty() && stat(path.c_str(), &st) == 0;
}

Expected<int64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return Status(ErrorCode::kModelLoad, "cannot stat model '" + path + "'");
  }
  return static_cast<int64_t>(st.st_size);
}

Status CheckCounts(const LlmBenchOptions& o) {
  auto bad = [](const std::string& what) { return Status(ErrorCode::kInvalidArgument, what); };
  if (o.prompt_tokens < 1) return bad("--prompt-tokens must be >= 1, got " + std::to_string(o.prompt_tokens));
  if (o.decode_tokens < 0) return bad("--decode-tokens must be >= 0, got " + std::to_string(o.decode_tokens));
  if (o.warmup < 0) return bad("--warmup must be >= 0, got " + std::to_string(o.warmup));
  if (o.repeat < 1) return bad("--repeat must be >= 1, got " + std::to_string(o.repeat));
  return Status::Ok();
}

Expected<LlmBenchRun> RunOnce(Engine& engine, const std::vector<int>& prompt, int decode_tokens) {
  // A fresh session: nothing of the prompt is cached, so all of it is prefilled.
  LITEGEN_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, engine.NewSession());
  GenerationConfig config;
  config.max_new_tokens = decode_tokens + 1;  // the first token comes from the prefill
  config.sampling.temperature = 0.0f;         // greedy: cheap and deterministic
  config.stop_token_ids.clear();              // never stop early
  LITEGEN_ASSIGN_OR_RETURN(GenerationResult result, session->Generate(prompt, config));
  const GenerationStats& st = result.stats;
  if (st.generated_tokens != decode_tokens + 1) {
    return Status(ErrorCode::kInternal,
                  "benchmark generated " + std::to_string(st.generated_tokens) + " tokens, expected " +
                      std::to_string(decode_tokens + 1) + " (stop reason " +
                      StopReasonName(st.stop_reason) + ")");
  }
  LlmBenchRun run;
  run.prefill_seconds = st.prefill_s;
  run.prefill_tokens_per_second = st.prefill_tokens_per_s;
  run.time_to_first_token_seconds = st.time_to_first_token_s;
  run.decode_seconds = st.decode_s;
  run.decode_tokens_per_second = st.decode_tokens_per_s;
  run.decoded_tokens = st.generated_tokens - 1;
  return run;
}

template <typename Field>
double MedianOf(const std::vector<LlmBenchRun>& runs, Field field) {
  std::vector<double> values;
  for (const LlmBenchRun& r : runs) values.push_back(r.*field);
  return Median(std::move(values));
}

}  // namespace

std::vector<int> SyntheticTokens(int count, int vocab_size) {
  std::vector<int> ids;
  ids.reserve(std::max(count, 0));
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < count; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;  // 64-bit LCG
    ids.push_back(static_cast<int>((state >> 33) % static_cast<uint64_t>(std::max(vocab_size, 1))));
  }
  return ids;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

int64_t PeakRssBytes() {
  // VmHWM is this program's own high-water mark. ru_maxrss is not: Linux carries it over
  // execve, so a child started by a large parent (a Python harness) would report the
  // parent's RSS at fork time.
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      long long kib = 0;
      if (std::sscanf(line.c_str() + 6, "%lld", &kib) == 1 && kib > 0) return kib * 1024;
    }
  }
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux and Android report KiB
}

int64_t CurrentRssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

Expected<LlmBenchResult> RunLlmBench(const LlmBenchOptions& options) {
  LITEGEN_RETURN_IF_ERROR(CheckCounts(options));
  LlmBenchResult result;
  result.options = options;
  LITEGEN_ASSIGN_OR_RETURN(result.model_file_bytes, FileSize(options.model_path));
  const std::string& cache = options.engine.weight_cache_path;
  if (cache.empty()) {
    result.weight_cache_state = "none";
  } else {
    // What the engine will find: the guard discards a cache written for another version
    // of the model first (a stale cache means a cold init, though the file existed).
    LITEGEN_RETURN_IF_ERROR(WeightCacheGuard::Prepare(cache, options.model_path).status());
    result.weight_cache_state = FileExists(cache) ? "warm" : "cold";
  }

  const Clock::time_point start = Clock::now();
  LITEGEN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine,
                           Engine::Create(options.model_path, options.engine));
  result.init_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.rss_after_init_bytes = CurrentRssBytes();

  const ModelInterface& mi = engine->interface();
  result.max_context = mi.max_context;
  result.vocab_size = mi.vocab_size;
  result.num_layers = mi.num_layers;
  result.prefill_chunk = engine->prefill_chunk();
  result.isa = ops::IsaName(ops::ResolveIsa(ops::Isa::kAuto));
  // Decode steps run at positions prompt .. prompt + decode - 1.
  if (static_cast<int64_t>(options.prompt_tokens) + options.decode_tokens > mi.max_context) {
    return Status(ErrorCode::kInvalidArgument,
                  "--prompt-tokens " + std::to_string(options.prompt_tokens) +
                      " + --decode-tokens " + std::to_string(options.decode_tokens) +
                      " exceeds the context of " + std::to_string(mi.max_context) +
                      " tokens of model '" + options.model_path + "'");
  }

  const std::vector<int> prompt = SyntheticTokens(options.prompt_tokens, mi.vocab_size);
  for (int i = 0; i < options.warmup + options.repeat; ++i) {
    LITEGEN_ASSIGN_OR_RETURN(LlmBenchRun run, RunOnce(*engine, prompt, options.decode_tokens));
    if (i >= options.warmup) result.runs.push_back(run);
  }
  result.peak_rss_bytes = PeakRssBytes();
  result.model_huge_page_bytes = static_cast<int64_t>(FileHugePageBytes(options.model_path));
  return result;
}

std::string LlmBenchJson(const LlmBenchResult& r) {
  const LlmBenchOptions& o = r.options;
  JsonWriter w;
  w.BeginObject();
  w.Key("schema").String("litegen.bench.llm/1");
  w.Key("model").String(o.model_path);
  w.Key("model_file_bytes").Integer(r.model_file_bytes);
  w.Key("threads").Integer(o.engine.num_threads);
  w.Key("isa").String(r.isa);
  w.Key("prompt_tokens").Integer(o.prompt_tokens);
  w.Key("decode_tokens").Integer(o.decode_tokens);
  w.Key("warmup").Integer(o.warmup);
  w.Key("repeat").Integer(o.repeat);
  w.Key("max_context").Integer(r.max_context);
  w.Key("vocab_size").Integer(r.vocab_size);
  w.Key("num_layers").Integer(r.num_layers);
  w.Key("prefill_chunk").Integer(r.prefill_chunk);
  w.Key("weight_cache").String(o.engine.weight_cache_path);
  w.Key("weight_cache_state").String(r.weight_cache_state);
  w.Key("init_seconds").Number(r.init_seconds);
  w.Key("prefill_tokens_per_second").Number(MedianOf(r.runs, &LlmBenchRun::prefill_tokens_per_second));
  w.Key("decode_tokens_per_second").Number(MedianOf(r.runs, &LlmBenchRun::decode_tokens_per_second));
  w.Key("time_to_first_token_seconds")
      .Number(MedianOf(r.runs, &LlmBenchRun::time_to_first_token_seconds));
  w.Key("peak_rss_bytes").Integer(r.peak_rss_bytes);
  w.Key("rss_after_init_bytes").Integer(r.rss_after_init_bytes);
  w.Key("model_huge_page_bytes").Integer(r.model_huge_page_bytes);
  w.Key("runs").BeginArray();
  for (const LlmBenchRun& run : r.runs) {
    w.BeginObject();
    w.Key("prefill_seconds").Number(run.prefill_seconds);
    w.Key("prefill_tokens_per_second").Number(run.prefill_tokens_per_second);
    w.Key("time_to_first_token_seconds").Number(run.time_to_first_token_seconds);
    w.Key("decode_seconds").Number(run.decode_seconds);
    w.Key("decode_tokens_per_second").Number(run.decode_tokens_per_second);
    w.Key("decoded_tokens").Integer(run.decoded_tokens);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

std::string LlmBenchText(const LlmBenchResult& r) {
  const LlmBenchOptions& o = r.options;
  char buf[1024];
  std::snprintf(
      buf, sizeof(buf),
      "model: %s (%.1f MB, %d layers, context %d)\nthreads: %d  isa: %s  repeat: %d (+%d warm-up)\n"
      "init: %.3f s (weight cache %s)\nprefill (%d tokens): %.2f tokens/s (median)\n"
      "time to first token: %.4f s\ndecode (%d tokens at depth %d): %.2f tokens/s (median)\n"
      "peak RSS: %.1f MB\nmodel in 2 MiB pages: %.1f of %.1f MB\n",
      o.model_path.c_str(), r.model_file_bytes / 1e6, r.num_layers, r.max_context,
      o.engine.num_threads, r.isa.c_str(), o.repeat, o.warmup, r.init_seconds,
      r.weight_cache_state.c_str(), o.prompt_tokens,
      MedianOf(r.runs, &LlmBenchRun::prefill_tokens_per_second),
      MedianOf(r.runs, &LlmBenchRun::time_to_first_token_seconds), o.decode_tokens,
      o.prompt_tokens, MedianOf(r.runs, &LlmBenchRun::decode_tokens_per_second),
      r.peak_rss_bytes / 1e6, r.model_huge_page_bytes / 1e6, r.model_file_bytes / 1e6);
  return buf;
}

}  // namespace litegen::bench
