#include "engine/session.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

namespace litegen {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

bool Cancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_relaxed);
}

}  // namespace

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxNewTokens: return "max_new_tokens";
    case StopReason::kStopToken: return "stop_token";
    case StopReason::kContextFull: return "context_full";
    case StopReason::kCallback: return "callback";
    case StopReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

Expected<std::unique_ptr<Session>> Session::Create(std::shared_ptr<Engine> engine) {
  if (engine == nullptr) return Status(ErrorCode::kInvalidArgument, "session needs an engine");
  auto session = std::make_unique<Session>(Token{}, std::move(engine));
  LITEGEN_RETURN_IF_ERROR(session->Allocate());
  return session;
}

Status Session::Allocate() {
  const ModelInterface& mi = engine_->interface();
  const int S = mi.max_context, V = mi.vocab_size, chunk = engine_->prefill_chunk();
  for (int i = 0; i < mi.num_layers; ++i) {
    const Shape shape{1, mi.layers[i].num_kv_heads, S, mi.layers[i].head_dim};
    LITEGEN_ASSIGN_OR_RETURN(HostTensor k, HostTensor::Allocate(mi.kv_type, shape,
                                                                "kv_cache_k_" + std::to_string(i)));
    LITEGEN_ASSIGN_OR_RETURN(HostTensor v, HostTensor::Allocate(mi.kv_type, shape,
                                                                "kv_cache_v_" + std::to_string(i)));
    k_cache_.push_back(std::move(k));
    v_cache_.push_back(std::move(v));
  }
  LITEGEN_ASSIGN_OR_RETURN(HostTensor tokens,
                           HostTensor::Allocate(kLiteRtElementTypeInt32, {1, 1}, "tokens"));
  LITEGEN_ASSIGN_OR_RETURN(HostTensor pos,
                           HostTensor::Allocate(kLiteRtElementTypeInt32, {1}, "input_pos"));
  LITEGEN_ASSIGN_OR_RETURN(HostTensor logits,
                           HostTensor::Allocate(kLiteRtElementTypeFloat32, {1, 1, V}, "logits"));
  decode_tokens_ = std::make_unique<HostTensor>(std::move(tokens));
  decode_pos_ = std::make_unique<HostTensor>(std::move(pos));
  decode_logits_ = std::make_unique<HostTensor>(std::move(logits));
  LITEGEN_ASSIGN_OR_RETURN(prefill_tokens_mem_, AllocateAligned(sizeof(int32_t) * chunk));
  LITEGEN_ASSIGN_OR_RETURN(prefill_pos_mem_, AllocateAligned(sizeof(int32_t) * chunk));
  LITEGEN_ASSIGN_OR_RETURN(prefill_logits_mem_,
                           AllocateAligned(sizeof(float) * PrefillLogitsRows() * V));

  // Input pointer vectors in each signature's order; caches are shared by both.
  auto fill = [&](const ModelInterface::Inputs& in, std::vector<const HostTensor*>& out) {
    out.assign(2 + 2 * mi.num_layers, nullptr);
    for (int i = 0; i < mi.num_layers; ++i) {
      out[in.k[i]] = &k_cache_[i];
      out[in.v[i]] = &v_cache_[i];
    }
  };
  fill(mi.prefill, prefill_inputs_);
  fill(mi.decode, decode_inputs_);
  decode_inputs_[mi.decode.tokens] = decode_tokens_.get();
  decode_inputs_[mi.decode.input_pos] = decode_pos_.get();
  return Status::Ok();
}

Status Session::CheckTokens(const std::vector<int>& tokens) const {
  const ModelInterface& mi = engine_->interface();
  if (tokens.empty()) return Status(ErrorCode::kInput, "the prompt is empty (give at least one token)");
  if (tokens.size() > static_cast<size_t>(mi.max_context)) {
    return Status(ErrorCode::kInput, "prompt of " + std::to_string(tokens.size()) +
                                         " tokens exceeds the context of " +
                                         std::to_string(mi.max_context));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= mi.vocab_size) {
      return Status(ErrorCode::kInput, "prompt token " + std::to_string(i) + " is " +
                                           std::to_string(tokens[i]) +
                                           ", outside the vocabulary [0, " +
                                           std::to_string(mi.vocab_size) + ")");
    }
  }
  return Status::Ok();
}

Status Session::RunPrefillChunk(const std::vector<int>& tokens, size_t begin, size_t end) {
  const ModelInterface& mi = engine_->interface();
  const int32_t T = static_cast<int32_t>(end - begin);
  auto* tok = static_cast<int32_t*>(prefill_tokens_mem_.get());
  auto* pos = static_cast<int32_t*>(prefill_pos_mem_.get());
  for (int32_t t = 0; t < T; ++t) {
    tok[t] = tokens[begin + t];
    pos[t] = static_cast<int32_t>(begin) + t;
  }
  const size_t chunk = static_cast<size_t>(engine_->prefill_chunk());
  LITEGEN_ASSIGN_OR_RETURN(HostTensor tokens_t,
                           HostTensor::Wrap(kLiteRtElementTypeInt32, {1, T}, tok,
                                            sizeof(int32_t) * chunk, "tokens"));
  LITEGEN_ASSIGN_OR_RETURN(HostTensor pos_t, HostTensor::Wrap(kLiteRtElementTypeInt32, {T}, pos,
                                                              sizeof(int32_t) * chunk, "input_pos"));
  const size_t rows = PrefillLogitsRows();
  LITEGEN_ASSIGN_OR_RETURN(
      HostTensor logits_t,
      HostTensor::Wrap(kLiteRtElementTypeFloat32,
                       {1, mi.prefill_last_logits ? 1 : T, mi.vocab_size},
                       prefill_logits_mem_.get(), sizeof(float) * rows * mi.vocab_size, "logits"));
  prefill_inputs_[mi.prefill.tokens] = &tokens_t;
  prefill_inputs_[mi.prefill.input_pos] = &pos_t;
  const Status status = engine_->Run(/*prefill=*/true, prefill_inputs_, {&logits_t});
  prefill_inputs_[mi.prefill.tokens] = nullptr;
  prefill_inputs_[mi.prefill.input_pos] = nullptr;
  return status;
}

Expected<const float*> Session::Prefill(const std::vector<int>& tokens,
                                        const std::atomic<bool>* cancel, int* reused) {
  LITEGEN_RETURN_IF_ERROR(CheckTokens(tokens));
  // Keep the longest cached prefix, but always rerun the last token: its logits are needed.
  size_t common = 0;
  const size_t limit = std::min(history_.size(), tokens.size() - 1);
  while (common < limit && history_[common] == tokens[common]) ++common;
  history_.resize(common);
  if (reused != nullptr) *reused = static_cast<int>(common);

  const size_t chunk = static_cast<size_t>(engine_->prefill_chunk());
  for (size_t begin = common; begin < tokens.size(); begin += chunk) {
    if (Cancelled(cancel)) return static_cast<const float*>(nullptr);
    const size_t end = std::min(tokens.size(), begin + chunk);
    LITEGEN_RETURN_IF_ERROR(RunPrefillChunk(tokens, begin, end));
    history_.insert(history_.end(), tokens.begin() + begin, tokens.begin() + end);
  }
  // The last prompt token's row in the final chunk's logits.
  const size_t last =
      engine_->interface().prefill_last_logits ? 0 : (tokens.size() - common - 1) % chunk;
  return static_cast<const float*>(prefill_logits_mem_.get()) +
         last * static_cast<size_t>(engine_->interface().vocab_size);
}

Expected<const float*> Session::Decode(int token) {
  const ModelInterface& mi = engine_->interface();
  if (token < 0 || token >= mi.vocab_size) {
    return Status(ErrorCode::kInput, "token " + std::to_string(token) +
                                         " is outside the vocabulary [0, " +
                                         std::to_string(mi.vocab_size) + ")");
  }
  if (history_.size() >= static_cast<size_t>(mi.max_context)) {
    return Status(ErrorCode::kInput, "the context of " + std::to_string(mi.max_context) +
                                         " tokens is full");
  }
  static_cast<int32_t*>(decode_tokens_->data())[0] = token;
  static_cast<int32_t*>(decode_pos_->data())[0] = static_cast<int32_t>(history_.size());
  LITEGEN_RETURN_IF_ERROR(engine_->Run(/*prefill=*/false, decode_inputs_, {decode_logits_.get()}));
  history_.push_back(token);
  return static_cast<const float*>(decode_logits_->data());
}

Status Session::Validate(const std::vector<int>& prompt, const GenerationConfig& config) const {
  if (config.max_new_tokens < 0) {
    return Status(ErrorCode::kInvalidArgument,
                  "max_new_tokens must be >= 0, got " + std::to_string(config.max_new_tokens));
  }
  const int V = engine_->interface().vocab_size;
  for (int id : config.stop_token_ids) {
    if (id < 0 || id >= V) {
      return Status(ErrorCode::kInvalidArgument,
                    "stop_token_ids: " + std::to_string(id) + " is outside the vocabulary [0, " +
                        std::to_string(V) + ")");
    }
  }
  LITEGEN_RETURN_IF_ERROR(ValidateSamplingParams(config.sampling));
  return CheckTokens(prompt);
}

Expected<GenerationResult> Session::Generate(const std::vector<int>& prompt,
                                             const GenerationConfig& config,
                                             const TokenCallback& on_token,
                                             const std::atomic<bool>* cancel) {
  LITEGEN_RETURN_IF_ERROR(Validate(prompt, config));
  LITEGEN_ASSIGN_OR_RETURN(Sampler sampler,
                           Sampler::Create(config.sampling, engine_->interface().vocab_size));

  GenerationResult result;
  GenerationStats& stats = result.stats;
  stats.prompt_tokens = static_cast<int>(prompt.size());
  const Clock::time_point start = Clock::now();
  if (Cancelled(cancel)) {
    stats.stop_reason = StopReason::kCancelled;
    return result;
  }
  LITEGEN_ASSIGN_OR_RETURN(const float* logits, Prefill(prompt, cancel, &stats.reused_tokens));
  const Clock::time_point prefilled = Clock::now();
  stats.prefill_s = Seconds(start, prefilled);
  stats.prefill_tokens = stats.prompt_tokens - stats.reused_tokens;
  if (stats.prefill_s > 0) stats.prefill_tokens_per_s = stats.prefill_tokens / stats.prefill_s;
  if (logits == nullptr) {
    stats.stop_reason = StopReason::kCancelled;
    return result;
  }
  if (config.max_new_tokens == 0) return result;

  // Repetition penalty sees the prompt and everything generated (as in HF generate).
  std::vector<int> seen = prompt;
  seen.reserve(prompt.size() + config.max_new_tokens);
  Clock::time_point decode_start = prefilled;
  while (true) {
    const int token = sampler.Sample(logits, seen);
    seen.push_back(token);
    result.token_ids.push_back(token);
    if (result.token_ids.size() == 1) {
      decode_start = Clock::now();
      stats.time_to_first_token_s = Seconds(start, decode_start);
    }
    const bool keep_going = !on_token || on_token(token);
    if (std::find(config.stop_token_ids.begin(), config.stop_token_ids.end(), token) !=
        config.stop_token_ids.end()) {
      stats.stop_reason = StopReason::kStopToken;
      break;
    }
    if (!keep_going) {
      stats.stop_reason = StopReason::kCallback;
      break;
    }
    if (static_cast<int>(result.token_ids.size()) >= config.max_new_tokens) {
      stats.stop_reason = StopReason::kMaxNewTokens;
      break;
    }
    if (Cancelled(cancel)) {
      stats.stop_reason = StopReason::kCancelled;
      break;
    }
    if (history_.size() >= static_cast<size_t>(engine_->interface().max_context)) {
      stats.stop_reason = StopReason::kContextFull;
      break;
    }
    LITEGEN_ASSIGN_OR_RETURN(logits, Decode(token));
  }
  stats.generated_tokens = static_cast<int>(result.token_ids.size());
  stats.decode_s = Seconds(decode_start, Clock::now());
  if (stats.generated_tokens > 1 && stats.decode_s > 0) {
    stats.decode_tokens_per_s = (stats.generated_tokens - 1) / stats.decode_s;
  }
  return result;
}

}  // namespace litegen
