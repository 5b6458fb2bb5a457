// litegen-run: generate text (or token ids) with a fast-form litegen model, no Python involved.
//
//   litegen-run --model M.litegen --prompt "text" [--stop STRING]... [options]
//   litegen-run --model M.tflite --tokenizer tokenizer.model --prompt "text" [options]
//   litegen-run --model M.{litegen,tflite} --prompt-ids 1,2,3 [options]
//   options: [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]
//            [--repetition-penalty R] [--seed S] [--threads N] [--stop-ids a,b]
//            [--add-bos | --no-add-bos] [--weight-cache PATH | --no-weight-cache]
//            [--prefill-chunk N]
//   litegen-run [--model] M.{litegen,tflite} --bench [--prompt-tokens N] [--decode-tokens M]
//            [--warmup W] [--repeat R] [--threads T] [--json | --json-file FILE]
//   litegen-run --measure-bandwidth [--threads T] [--bandwidth-mib MIB] [--repeat R]
//            [--json | --json-file FILE]
//
// --bench measures init time, prefill / decode tokens/s, time to first token and peak RSS
// on synthetic token ids (no tokenizer; stop tokens ignored); --measure-bandwidth the
// machine's multi-threaded memory-read bandwidth. Both print a short report, or one JSON
// object with --json (stdout) / --json-file (see cpp/bench/).
//
// A .litegen bundle brings its tokenizer and metadata: its EOS ids are the stop tokens
// unless --stop-ids is given (--stop-ids "" disables them), and BOS is prepended to a text
// prompt when the metadata says so (add_bos_token; --add-bos / --no-add-bos override). A
// bare .tflite needs --tokenizer for a text prompt (no BOS unless --add-bos).
//
// Installed next to the Python interpreter by `pip install` (e.g. .venv/bin/litegen-run);
// also built as build/<wheel_tag>/litegen-run by the editable install. The weight cache
// defaults to the Python runtime's cache directory (see DefaultWeightCache).
//
// stdout: text mode streams the generated text as it is produced (cut before the first
// --stop string, which also ends the generation), then a newline; --prompt-ids mode prints
// the generated ids, comma-separated, on one line. stderr: the stats.
// Exit codes: 0 ok, 2 bad command line, 1 any other error (one line on stderr).
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "bench/bandwidth.h"
#include "bench/llm_bench.h"
#include "engine/bundle.h"
#include "engine/engine.h"
#include "engine/session.h"
#include "engine/stop_strings.h"
#include "engine/tokenizer.h"
#include "litert/weight_cache.h"

namespace {

constexpr char kUsage[] =
    "usage: litegen-run --model M.litegen --prompt TEXT [--stop STRING]... [options]\n"
    "       litegen-run --model M.tflite --tokenizer tokenizer.model --prompt TEXT [options]\n"
    "       litegen-run --model M.{litegen,tflite} --prompt-ids 1,2,3 [options]\n"
    "options: [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
    "         [--repetition-penalty R] [--seed S] [--threads N] [--stop-ids a,b]\n"
    "         [--add-bos | --no-add-bos] [--weight-cache PATH | --no-weight-cache]\n"
    "         [--prefill-chunk N]\n"
    "       litegen-run [--model] M.{litegen,tflite} --bench [--prompt-tokens N]\n"
    "         [--decode-tokens M] [--warmup W] [--repeat R] [--threads T]\n"
    "         [--json | --json-file FILE]  (also --weight-cache / --no-weight-cache)\n"
    "       litegen-run --measure-bandwidth [--threads T] [--bandwidth-mib MIB]\n"
    "         [--repeat R] [--json | --json-file FILE]\n"
    "--bench: init time, prefill/decode tokens/s (median of --repeat runs on synthetic\n"
    "token ids, stop tokens ignored; decode runs at depth --prompt-tokens), time to first\n"
    "token, peak RSS. --measure-bandwidth: memory-read GB/s (best of --repeat passes).\n"
    "A bundle's EOS ids stop generation unless --stop-ids is given. --stop STRING\n"
    "(repeatable) ends generation when the text contains STRING (text mode; cut from the\n"
    "output). Streams the text (or prints the ids, comma-separated) on stdout; the stats go\n"
    "to stderr.\n";

struct UsageError {
  std::string message;
};

long long ParseInt(const std::string& flag, const std::string& text, long long lo, long long hi) {
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || value < lo ||
      value > hi) {
    throw UsageError{flag + " expects an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], got '" + text + "'"};
  }
  return value;
}

float ParseFloat(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const float value = std::strtof(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    throw UsageError{flag + " expects a number, got '" + text + "'"};
  }
  return value;
}

std::vector<int> ParseIds(const std::string& flag, const std::string& text) {
  std::vector<int> ids;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(start, comma - start);
    if (item.empty() && text.empty()) break;
    ids.push_back(static_cast<int>(ParseInt(flag, item, 0, std::numeric_limits<int>::max())));
    start = comma + 1;
  }
  return ids;
}

struct Args {
  std::string model;
  std::string tokenizer;
  bool have_prompt = false;  // --prompt-ids
  std::vector<int> prompt;
  bool have_text = false;  // --prompt
  std::string text;
  std::vector<std::string> stops;
  bool have_stop_ids = false;
  int add_bos = -1;  // -1: the bundle's metadata (false for a bare .tflite)
  litegen::GenerationConfig config;
  litegen::EngineOptions engine;
  bool weight_cache = true;
  // Benchmark modes.
  bool bench = false;
  bool measure_bandwidth = false;
  int prompt_tokens = 128;
  int decode_tokens = 32;
  int warmup = 1;
  int repeat = -1;  // -1: the mode's default
  long long bandwidth_mib = 1024;
  bool json = false;
  std::string json_file;
};

Args Parse(int argc, char** argv) {
  Args args;
  args.config.max_new_tokens = 32;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--no-weight-cache") {
      args.weight_cache = false;
      continue;
    }
    if (flag == "--bench" || flag == "--measure-bandwidth" || flag == "--json") {
      (flag == "--bench" ? args.bench : flag == "--json" ? args.json : args.measure_bandwidth) = true;
      continue;
    }
    if (flag.rfind("-", 0) != 0 && args.model.empty()) {  // positional model
      args.model = flag;
      continue;
    }
    if (flag == "--add-bos" || flag == "--no-add-bos") {
      args.add_bos = flag == "--add-bos" ? 1 : 0;
      continue;
    }
    if (i + 1 >= argc) throw UsageError{flag.rfind("--", 0) == 0 ? flag + " needs a value"
                                                                 : "unexpected argument '" + flag + "'"};
    const std::string value = argv[++i];
    if (flag == "--model") args.model = value;
    else if (flag == "--prompt-ids") { args.prompt = ParseIds(flag, value); args.have_prompt = true; }
    else if (flag == "--prompt") { args.text = value; args.have_text = true; }
    else if (flag == "--tokenizer") args.tokenizer = value;
    else if (flag == "--stop") {
      if (value.empty()) throw UsageError{"--stop expects a non-empty string"};
      args.stops.push_back(value);
    }
    else if (flag == "--max-new-tokens") args.config.max_new_tokens = static_cast<int>(ParseInt(flag, value, 0, 1 << 30));
    else if (flag == "--temperature") args.config.sampling.temperature = ParseFloat(flag, value);
    else if (flag == "--top-k") args.config.sampling.top_k = static_cast<int>(ParseInt(flag, value, 0, std::numeric_limits<int>::max()));
    else if (flag == "--top-p") args.config.sampling.top_p = ParseFloat(flag, value);
    else if (flag == "--min-p") args.config.sampling.min_p = ParseFloat(flag, value);
    else if (flag == "--repetition-penalty") args.config.sampling.repetition_penalty = ParseFloat(flag, value);
    else if (flag == "--seed") args.config.sampling.seed = static_cast<uint64_t>(ParseInt(flag, value, 0, std::numeric_limits<long long>::max()));
    else if (flag == "--threads") args.engine.num_threads = static_cast<int>(ParseInt(flag, value, 1, 256));
    else if (flag == "--stop-ids") { args.config.stop_token_ids = ParseIds(flag, value); args.have_stop_ids = true; }
    else if (flag == "--weight-cache") args.engine.weight_cache_path = value;
    else if (flag == "--prompt-tokens") args.prompt_tokens = static_cast<int>(ParseInt(flag, value, 1, 1 << 24));
    else if (flag == "--decode-tokens") args.decode_tokens = static_cast<int>(ParseInt(flag, value, 0, 1 << 24));
    else if (flag == "--warmup") args.warmup = static_cast<int>(ParseInt(flag, value, 0, 1000));
    else if (flag == "--repeat") args.repeat = static_cast<int>(ParseInt(flag, value, 1, 1000));
    else if (flag == "--bandwidth-mib") args.bandwidth_mib = ParseInt(flag, value, 1, 1 << 20);
    else if (flag == "--json-file") args.json_file = value;
    else if (flag == "--prefill-chunk") args.engine.prefill_chunk_size = static_cast<int>(ParseInt(flag, value, 1, 1 << 20));
    else throw UsageError{"unknown option '" + flag + "'"};
  }
  if (args.bench && args.measure_bandwidth) {
    throw UsageError{"give either --bench or --measure-bandwidth, not both"};
  }
  if (args.json && !args.json_file.empty()) throw UsageError{"give either --json or --json-file"};
  if ((args.json || !args.json_file.empty()) && !args.bench && !args.measure_bandwidth) {
    throw UsageError{"--json / --json-file report a benchmark: add --bench or --measure-bandwidth"};
  }
  if (!args.weight_cache) args.engine.weight_cache_path.clear();
  if (args.measure_bandwidth) return args;
  if (args.model.empty()) throw UsageError{"--model is required"};
  if (args.bench) {
    if (args.have_prompt || args.have_text) {
      throw UsageError{"--bench makes its own prompt (--prompt-tokens N), drop --prompt/--prompt-ids"};
    }
    return args;
  }
  if (args.have_prompt && args.have_text) {
    throw UsageError{"give either --prompt or --prompt-ids, not both"};
  }
  if (!args.have_prompt && !args.have_text) {
    throw UsageError{"--prompt or --prompt-ids is required"};
  }
  if (!args.stops.empty() && !args.have_text) {
    throw UsageError{"--stop needs a text prompt (--prompt)"};
  }
  return args;
}

// Default weight cache, like the Python runtime's: $LITEGEN_CACHE_DIR, else
// $XDG_CACHE_HOME/litegen, else ~/.cache/litegen, then xnnpack/<model stem>-<hash>. The
// hash keys the model's absolute path; litegen's fingerprint check (litert/weight_cache.h)
// discards a cache written for an older version of the file. Falls back to a file next to
// the model when no cache directory is known or it cannot be created.
std::string DefaultWeightCache(const std::string& model) {
  std::string dir;
  if (const char* env = std::getenv("LITEGEN_CACHE_DIR"); env != nullptr && *env) {
    dir = env;
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg) {
    dir = std::string(xdg) + "/litegen";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home) {
    dir = std::string(home) + "/.cache/litegen";
  }
  if (dir.empty()) return model + ".xnnpack_cache";
  dir += "/xnnpack";
  // mkdir -p
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      const std::string part = dir.substr(0, i);
      if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return model + ".xnnpack_cache";
    }
  }
  litegen::WeightCacheGuard::PruneStale(dir);  // caches of deleted or re-converted models
  char resolved[PATH_MAX];
  const std::string absolute = realpath(model.c_str(), resolved) != nullptr ? resolved : model;
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64; Python computes the same name
  for (unsigned char c : absolute) hash = (hash ^ c) * 1099511628211ull;
  std::string stem = absolute.substr(absolute.find_last_of('/') + 1);
  if (const size_t dot = stem.find_last_of('.'); dot != std::string::npos && dot > 0) {
    stem.resize(dot);
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return dir + "/" + stem + "-" + hex + ".xnnpack_cache";
}

int Fail(const litegen::Status& status) {
  std::fprintf(stderr, "litegen-run: error: %s\n", status.ToString().c_str());
  return 1;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "litegen-run: error: %s\n", message.c_str());
  return 1;
}

// Prints a benchmark report: JSON to --json-file, JSON to stdout, or text to stdout.
int Report(const Args& args, const std::string& json, const std::string& text) {
  if (!args.json_file.empty()) {
    std::ofstream out(args.json_file);
    out << json << "\n";
    if (!out) return Fail("cannot write the JSON report to '" + args.json_file + "'");
    return 0;
  }
  std::fputs((args.json ? json + "\n" : text).c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

int MeasureBandwidth(const Args& args) {
  litegen::bench::BandwidthOptions options;
  options.buffer_bytes = static_cast<size_t>(args.bandwidth_mib) << 20;
  options.threads = args.engine.num_threads;
  if (args.repeat > 0) options.repeat = args.repeat;
  auto result = litegen::bench::MeasureReadBandwidth(options);
  if (!result.ok()) return Fail(result.status());
  char text[128];
  std::snprintf(text, sizeof(text), "memory read bandwidth: %.2f GB/s (%d threads, %zu MiB)\n",
                result->best_gb_per_s, result->threads, result->buffer_bytes >> 20);
  return Report(args, litegen::bench::BandwidthJson(result.value()), text);
}

int RunBench(Args& args) {
  if (args.weight_cache && args.engine.weight_cache_path.empty()) {
    args.engine.weight_cache_path = DefaultWeightCache(args.model);
  }
  litegen::bench::LlmBenchOptions options;
  options.model_path = args.model;
  options.prompt_tokens = args.prompt_tokens;
  options.decode_tokens = args.decode_tokens;
  options.warmup = args.warmup;
  if (args.repeat > 0) options.repeat = args.repeat;
  options.engine = args.engine;
  auto result = litegen::bench::RunLlmBench(options);
  if (!result.ok()) return Fail(result.status());
  return Report(args, litegen::bench::LlmBenchJson(result.value()),
                litegen::bench::LlmBenchText(result.value()));
}

void PrintStats(const litegen::GenerationStats& st, const char* stop_reason) {
  std::fprintf(stderr,
               "prompt_tokens: %d\ngenerated_tokens: %d\ntime_to_first_token_s: %.6f\n"
               "prefill_tokens_per_s: %.2f\ndecode_tokens_per_s: %.2f\nstop_reason: %s\n",
               st.prompt_tokens, st.generated_tokens, st.time_to_first_token_s,
               st.prefill_tokens_per_s, st.decode_tokens_per_s, stop_reason);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = Parse(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "litegen-run: error: %s (see --help)\n", e.message.c_str());
    return 2;
  }
  if (args.measure_bandwidth) return MeasureBandwidth(args);
  if (args.bench) return RunBench(args);
  // Check the sampling values before the (slower) model load.
  if (litegen::Status s = litegen::ValidateSamplingParams(args.config.sampling); !s.ok()) {
    return Fail(s);
  }
  // The bundle (tokenizer + metadata) or the bare model's tokenizer, before the model load.
  std::unique_ptr<litegen::Tokenizer> tokenizer;
  bool add_bos = args.add_bos == 1;
  auto is_bundle = litegen::IsBundleFile(args.model);
  if (!is_bundle.ok()) return Fail(is_bundle.status());
  const bool bundle_suffix =
      args.model.size() >= 8 && args.model.compare(args.model.size() - 8, 8, ".litegen") == 0;
  if (is_bundle.value() || bundle_suffix) {
    auto bundle = litegen::OpenBundle(args.model);
    if (!bundle.ok()) return Fail(bundle.status());
    if (args.tokenizer.empty()) {
      auto loaded = litegen::LoadBundleTokenizer(bundle.value());
      if (!loaded.ok()) return Fail(loaded.status());
      tokenizer = std::move(loaded).value();
    }
    const litegen::BundleMetadata& meta = bundle->metadata;
    if (!args.have_stop_ids) args.config.stop_token_ids = meta.eos_token_ids;
    if (args.add_bos < 0) add_bos = meta.add_bos_token;
  }
  if (!args.tokenizer.empty()) {
    auto loaded = litegen::Tokenizer::FromFile(args.tokenizer);
    if (!loaded.ok()) return Fail(loaded.status());
    tokenizer = std::move(loaded).value();
  }
  if (args.have_text) {
    if (tokenizer == nullptr) {
      return Fail("a text prompt needs a tokenizer: '" + args.model +
                  "' is not a .litegen bundle, so pass --tokenizer tokenizer.model (or use "
                  "--prompt-ids)");
    }
    auto ids = tokenizer->Encode(args.text, add_bos);
    if (!ids.ok()) return Fail(ids.status());
    args.prompt = std::move(ids).value();
  }

  if (args.weight_cache && args.engine.weight_cache_path.empty()) {
    args.engine.weight_cache_path = DefaultWeightCache(args.model);
  }
  auto engine = litegen::Engine::Create(args.model, args.engine);
  if (!engine.ok()) return Fail(engine.status());
  auto session = engine.value()->NewSession();
  if (!session.ok()) return Fail(session.status());

  if (!args.have_text) {
    auto result = session.value()->Generate(args.prompt, args.config);
    if (!result.ok()) return Fail(result.status());
    std::string ids;
    for (int id : result->token_ids) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    std::printf("%s\n", ids.c_str());
    std::fflush(stdout);
    PrintStats(result->stats, litegen::StopReasonName(result->stats.stop_reason));
    return 0;
  }

  // Text mode: stream each token's text through the stop-string matcher to stdout.
  litegen::StreamDecoder decoder = tokenizer->NewStreamDecoder();
  litegen::StopStringMatcher matcher(args.stops);
  litegen::Status decode_error;
  auto emit = [](const std::string& piece) {
    if (piece.empty()) return;
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  auto on_token = [&](int token) {
    auto delta = decoder.Push(token);
    if (!delta.ok()) {
      decode_error = delta.status();
      return false;
    }
    emit(matcher.Push(delta.value()));
    return !matcher.matched();
  };
  auto result = session.value()->Generate(args.prompt, args.config, on_token);
  if (!result.ok()) return Fail(result.status());
  if (!decode_error.ok()) return Fail(decode_error);
  if (!matcher.matched()) {
    emit(matcher.Push(decoder.Flush()));
    emit(matcher.Flush());
  }
  std::fputs("\n", stdout);
  std::fflush(stdout);
  PrintStats(result->stats, matcher.matched() ? "stop_string"
                                              : litegen::StopReasonName(result->stats.stop_reason));
  return 0;
}
