// The generation engine on the toy LLM of tests/fixtures/cpp_models.py (write_toy_llm):
// interface discovery, logits against a naive reference, prefix reuse, chunked prefill,
// context limits, stop tokens, callbacks, cancellation from another thread, bad inputs.
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/session.h"
#include "test_framework.h"

namespace litegen {
namespace {

constexpr int kVocab = 32, kDim = 8, kContext = 16;

std::string Fixture(const std::string& name) { return testing::FixtureDir() + "/" + name; }

float Emb(int v, int d) { return static_cast<float>((7 * v + 13 * d + v * d) % 17 - 8) / 8; }
float Head(int v, int d) {
  return static_cast<float>((5 * v + 11 * d + 3 * v * d + v * v) % 37 - 18) / 9;
}

// Logits of the last token of `tokens` (causal attention of E[tokens] on itself).
std::vector<double> ReferenceLogits(const std::vector<int>& tokens) {
  const size_t p = tokens.size() - 1;
  const double scale = 1.0 / std::sqrt(double(kDim));
  std::vector<double> w(tokens.size());
  double m = -1e300, total = 0;
  for (size_t j = 0; j <= p; ++j) {
    double dot = 0;
    for (int d = 0; d < kDim; ++d) dot += double(Emb(tokens[p], d)) * Emb(tokens[j], d);
    w[j] = scale * dot;
    m = std::max(m, w[j]);
  }
  for (double& x : w) total += (x = std::exp(x - m));
  std::vector<double> out(kDim, 0.0), logits(kVocab, 0.0);
  for (size_t j = 0; j <= p; ++j) {
    for (int d = 0; d < kDim; ++d) out[d] += w[j] / total * Emb(tokens[j], d);
  }
  for (int v = 0; v < kVocab; ++v) {
    for (int d = 0; d < kDim; ++d) logits[v] += out[d] * Head(v, d);
  }
  return logits;
}

void CheckLogits(const float* got, const std::vector<int>& tokens) {
  const std::vector<double> want = ReferenceLogits(tokens);
  double worst = 0;
  for (int v = 0; v < kVocab; ++v) worst = std::max(worst, std::abs(got[v] - want[v]));
  CHECK_NEAR(worst, 0.0, 1e-4);
}

std::shared_ptr<Engine> ToyEngine(int chunk = 512, int threads = 1,
                                  const std::string& model = "toy_llm.tflite") {
  EngineOptions options;
  options.num_threads = threads;
  options.prefill_chunk_size = chunk;
  auto engine = Engine::Create(Fixture(model), options);
  CHECK_OK(engine);
  return engine.ok() ? engine.value() : nullptr;
}

std::unique_ptr<Session> NewSession(const std::shared_ptr<Engine>& engine) {
  auto session = engine->NewSession();
  CHECK_OK(session);
  return session.ok() ? std::move(session).value() : nullptr;
}

// Prefills 5 tokens and decodes 3 more, checking every step's logits against the
// reference; returns the tokens, or an empty vector after a failed step.
std::vector<int> CheckPrefillThenDecode(Session* session) {
  if (session == nullptr) return {};
  std::vector<int> tokens = {1, 2, 3, 30, 7};
  auto logits = session->Prefill(tokens);
  CHECK_OK(logits);
  if (!logits.ok()) return {};
  CheckLogits(logits.value(), tokens);
  for (int next : {5, 31, 0}) {
    auto step = session->Decode(next);
    CHECK_OK(step);
    if (!step.ok()) return {};
    tokens.push_back(next);
    CheckLogits(step.value(), tokens);
  }
  return tokens;
}


GenerationConfig Greedy(int max_new_tokens) {
  GenerationConfig config;
  config.max_new_tokens = max_new_tokens;
  return config;
}

TEST(EngineDiscoversTheInterface) {
  auto engine = ToyEngine();
  if (!engine) return;
  const ModelInterface& mi = engine->interface();
  CHECK_EQ(mi.num_layers, 1);
  CHECK_EQ(mi.max_context, kContext);
  CHECK_EQ(mi.vocab_size, kVocab);
  CHECK_EQ(mi.layers[0].num_kv_heads, 1);
  CHECK_EQ(mi.layers[0].head_dim, kDim);
  CHECK(mi.kv_type == kLiteRtElementTypeFloat32);
  CHECK_EQ(engine->prefill_chunk(), kContext);  // capped by the context
}

// The same toy with float16 KV caches (its values are exact in half): the session
// allocates half caches, and logits and generation are those of the float32 model.
TEST(EngineRunsFloat16KvCaches) {
  auto f16 = ToyEngine(/*chunk=*/3, /*threads=*/2, "toy_llm_f16.tflite");
  auto f32 = ToyEngine();
  if (!f16 || !f32) return;
  CHECK(f16->interface().kv_type == kLiteRtElementTypeFloat16);
  if (CheckPrefillThenDecode(NewSession(f16).get()).empty()) return;
  const std::vector<int> prompt = {4, 9, 1, 22, 13, 8, 17};
  auto a = NewSession(f16)->Generate(prompt, Greedy(6));
  auto b = NewSession(f32)->Generate(prompt, Greedy(6));
  CHECK_OK(a);
  CHECK_OK(b);
  if (a.ok() && b.ok()) CHECK(a.value().token_ids == b.value().token_ids);
  // Caches of different dtypes are not a model the engine runs.
  EngineOptions options;
  CHECK_ERROR(Engine::Create(Fixture("toy_llm_mixed_kv.tflite"), options), ErrorCode::kModelLoad,
              "input 'kv_cache_v_0' is float32, the other caches float16");
}

TEST(EngineRejectsModelsThatAreNotLlms) {
  EngineOptions options;
  CHECK_ERROR(Engine::Create(Fixture("two_signature_fc.tflite"), options), ErrorCode::kModelLoad,
              "is not a litegen LLM signature: no input 'tokens'");
  CHECK_ERROR(Engine::Create(Fixture("attention.tflite"), options), ErrorCode::kModelLoad,
              "needs 'prefill' and 'decode' signatures");
  CHECK_ERROR(Engine::Create(Fixture("not_a_model.tflite"), options), ErrorCode::kModelLoad, "");
  CHECK_ERROR(Engine::Create(Fixture("missing.tflite"), options), ErrorCode::kModelLoad, "");
  options.prefill_chunk_size = 0;
  CHECK_ERROR(Engine::Create(Fixture("toy_llm.tflite"), options), ErrorCode::kInvalidArgument,
              "prefill_chunk_size");
}

TEST(SessionLogitsMatchReference) {
  auto engine = ToyEngine();
  if (!engine) return;
  auto session = NewSession(engine);
  const std::vector<int> tokens = CheckPrefillThenDecode(session.get());
  if (tokens.empty()) return;
  CHECK(session->history() == tokens);
}

TEST(SessionChunkedPrefillAndPrefixReuseAreExact) {
  auto whole = ToyEngine();
  auto chunked = ToyEngine(/*chunk=*/3);
  if (!whole || !chunked) return;
  CHECK_EQ(chunked->prefill_chunk(), 3);
  const std::vector<int> prompt = {4, 9, 1, 22, 13, 8, 17, 2, 26, 11};
  auto a = NewSession(whole)->Generate(prompt, Greedy(6));
  auto chunked_session = NewSession(chunked);
  auto b = chunked_session->Generate(prompt, Greedy(6));
  CHECK_OK(a);
  CHECK_OK(b);
  if (!a.ok() || !b.ok()) return;
  CHECK(a->token_ids == b->token_ids);
  CHECK_EQ(a->token_ids.size(), size_t{6});  // 10 + 6 = 16: exactly fills the context

  // Second turn: reuse of everything cached, then compare with a fresh session.
  auto session = NewSession(whole);
  const std::vector<int> first = {4, 9, 1, 22};
  auto turn1 = session->Generate(first, Greedy(3));
  CHECK_OK(turn1);
  if (!turn1.ok()) return;
  std::vector<int> conversation = first;
  conversation.insert(conversation.end(), turn1->token_ids.begin(), turn1->token_ids.end());
  conversation.push_back(5);
  auto turn2 = session->Generate(conversation, Greedy(4));
  auto fresh = NewSession(whole)->Generate(conversation, Greedy(4));
  CHECK_OK(turn2);
  CHECK_OK(fresh);
  if (!turn2.ok() || !fresh.ok()) return;
  CHECK_EQ(turn2->stats.reused_tokens, 6);  // 4 prompt + 3 generated - 1 never run
  CHECK_EQ(turn2->stats.prefill_tokens, 2);
  CHECK(turn2->token_ids == fresh->token_ids);
  // Same request again: only its last token reruns; a shorter one keeps its prefix.
  auto again = session->Generate(conversation, Greedy(4));
  CHECK_OK(again);
  if (again.ok()) {
    CHECK_EQ(again->stats.prefill_tokens, 1);
    CHECK(again->token_ids == fresh->token_ids);
  }
  auto shorter = session->Generate({4, 9, 30}, Greedy(2));
  auto shorter_fresh = NewSession(whole)->Generate({4, 9, 30}, Greedy(2));
  CHECK_OK(shorter);
  if (shorter.ok() && shorter_fresh.ok()) {
    CHECK_EQ(shorter->stats.reused_tokens, 2);
    CHECK(shorter->token_ids == shorter_fresh->token_ids);
  }
}

TEST(SessionContextLimits) {
  auto engine = ToyEngine();
  if (!engine) return;
  auto session = NewSession(engine);
  std::vector<int> prompt(kContext - 2, 3);
  auto result = session->Generate(prompt, Greedy(10));
  CHECK_OK(result);
  if (result.ok()) {
    CHECK_EQ(result->token_ids.size(), size_t{3});
    CHECK(result->stats.stop_reason == StopReason::kContextFull);
  }
  CHECK_EQ(session->history().size(), size_t{kContext});
  CHECK_ERROR(session->Decode(1), ErrorCode::kInput, "context of 16 tokens is full");
  CHECK_ERROR(session->Generate(std::vector<int>(kContext + 1, 3), Greedy(1)), ErrorCode::kInput,
              "prompt of 17 tokens exceeds the context of 16");
  CHECK_ERROR(session->Generate({}, Greedy(1)), ErrorCode::kInput, "prompt is empty");
  CHECK_ERROR(session->Generate({1, kVocab}, Greedy(1)), ErrorCode::kInput,
              "outside the vocabulary");
  CHECK_ERROR(session->Decode(-1), ErrorCode::kInput, "outside the vocabulary");
}

TEST(SessionRejectsInvalidConfig) {
  auto engine = ToyEngine();
  if (!engine) return;
  auto session = NewSession(engine);
  GenerationConfig config = Greedy(4);
  config.sampling.top_p = 0;
  CHECK_ERROR(session->Generate({1, 2}, config), ErrorCode::kInvalidArgument, "top_p");
  config = Greedy(-1);
  CHECK_ERROR(session->Generate({1, 2}, config), ErrorCode::kInvalidArgument, "max_new_tokens");
  config = Greedy(4);
  config.stop_token_ids = {kVocab};
  CHECK_ERROR(session->Generate({1, 2}, config), ErrorCode::kInvalidArgument, "stop_token_ids");
  CHECK(session->history().empty());  // nothing ran
}

TEST(SessionStopsOnStopTokenAndCallback) {
  auto engine = ToyEngine();
  if (!engine) return;
  const std::vector<int> prompt = {1, 2, 3};
  auto reference = NewSession(engine)->Generate(prompt, Greedy(8));
  CHECK_OK(reference);
  if (!reference.ok()) return;
  const std::vector<int>& ids = reference->token_ids;
  GenerationConfig config = Greedy(8);
  config.stop_token_ids = {ids[2]};
  auto stopped = NewSession(engine)->Generate(prompt, config);
  CHECK_OK(stopped);
  if (stopped.ok()) {
    size_t cut = 0;
    while (ids[cut] != ids[2]) ++cut;
    CHECK(stopped->token_ids == std::vector<int>(ids.begin(), ids.begin() + cut + 1));
    CHECK(stopped->stats.stop_reason == StopReason::kStopToken);
  }
  std::vector<int> streamed;
  auto by_callback = NewSession(engine)->Generate(prompt, Greedy(8), [&](int token) {
    streamed.push_back(token);
    return streamed.size() < 4;
  });
  CHECK_OK(by_callback);
  if (by_callback.ok()) {
    CHECK(by_callback->token_ids == streamed);
    CHECK_EQ(streamed.size(), size_t{4});
    CHECK(by_callback->stats.stop_reason == StopReason::kCallback);
  }
}

TEST(SessionCancelFromAnotherThread) {
  auto engine = ToyEngine();
  if (!engine) return;
  auto session = NewSession(engine);
  std::atomic<bool> cancel{false};
  int seen = 0;
  auto result = session->Generate(
      {1, 2, 3}, Greedy(10),
      [&](int) {
        if (++seen == 2) std::thread([&] { cancel.store(true); }).join();
        return true;
      },
      &cancel);
  CHECK_OK(result);
  if (result.ok()) {
    CHECK_EQ(result->token_ids.size(), size_t{2});
    CHECK(result->stats.stop_reason == StopReason::kCancelled);
  }
  // Cancelled before the start: nothing runs.
  auto none = session->Generate({5, 6}, Greedy(10), nullptr, &cancel);
  CHECK_OK(none);
  if (none.ok()) CHECK(none->token_ids.empty());
  // And a session keeps working afterwards.
  cancel.store(false);
  auto after = session->Generate({5, 6}, Greedy(3), nullptr, &cancel);
  CHECK_OK(after);
  if (after.ok()) CHECK_EQ(after->token_ids.size(), size_t{3});
}

TEST(SessionSeededSamplingIsDeterministic) {
  auto engine = ToyEngine();
  if (!engine) return;
  GenerationConfig config = Greedy(10);
  config.sampling.temperature = 1.5f;
  config.sampling.top_k = 20;
  config.sampling.seed = 42;
  auto a = NewSession(engine)->Generate({1, 2, 3}, config);
  auto b = NewSession(engine)->Generate({1, 2, 3}, config);
  CHECK_OK(a);
  CHECK_OK(b);
  if (a.ok() && b.ok()) CHECK(a->token_ids == b->token_ids);
}

TEST(SessionsShareOneEngineAcrossThreads) {
  auto engine = ToyEngine(512, 2);
  if (!engine) return;
  auto expected = NewSession(engine)->Generate({7, 9}, Greedy(12));
  CHECK_OK(expected);
  if (!expected.ok()) return;
  std::vector<std::vector<int>> got(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      auto session = engine->NewSession();
      if (!session.ok()) return;
      auto result = session.value()->Generate({7, 9}, Greedy(12));
      if (result.ok()) got[t] = result->token_ids;
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(got[0] == expected->token_ids);
  CHECK(got[1] == expected->token_ids);
}

}  // namespace
}  // namespace litegen
