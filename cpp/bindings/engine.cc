// Bindings of the generation engine: _litegen.Engine and _litegen.Session.
//
// The GIL is released while the engine computes; the on_token callback re-acquires it.
// An exception raised by the callback stops the generation and is re-raised to the caller.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bindings/errors.h"
#include "engine/engine.h"
#include "engine/session.h"

namespace py = pybind11;

namespace litegen {
namespace {

py::dict StatsToDict(const GenerationStats& s) {
  py::dict d;
  d["prompt_tokens"] = s.prompt_tokens;
  d["reused_tokens"] = s.reused_tokens;
  d["prefill_tokens"] = s.prefill_tokens;
  d["generated_tokens"] = s.generated_tokens;
  d["time_to_first_token_s"] = s.time_to_first_token_s;
  d["prefill_s"] = s.prefill_s;
  d["decode_s"] = s.decode_s;
  d["prefill_tokens_per_s"] = s.prefill_tokens_per_s;
  d["decode_tokens_per_s"] = s.decode_tokens_per_s;
  d["stop_reason"] = StopReasonName(s.stop_reason);
  return d;
}

class PySession {
 public:
  explicit PySession(std::unique_ptr<Session> session) : session_(std::move(session)) {}

  static GenerationConfig MakeConfig(int max_new_tokens, float temperature, int top_k,
                                     float top_p, float min_p, float repetition_penalty,
                                     uint64_t seed, const std::vector<int>& stop_token_ids) {
    GenerationConfig config;
    config.max_new_tokens = max_new_tokens;
    config.sampling.temperature = temperature;
    config.sampling.top_k = top_k;
    config.sampling.top_p = top_p;
    config.sampling.min_p = min_p;
    config.sampling.repetition_penalty = repetition_penalty;
    config.sampling.seed = seed;
    config.stop_token_ids = stop_token_ids;
    return config;
  }

  void Validate(const std::vector<int>& prompt, int max_new_tokens, float temperature, int top_k,
                float top_p, float min_p, float repetition_penalty, uint64_t seed,
                const std::vector<int>& stop_token_ids) const {
    Check(session_->Validate(prompt, MakeConfig(max_new_tokens, temperature, top_k, top_p, min_p,
                                                repetition_penalty, seed, stop_token_ids)));
  }

  py::tuple Generate(const std::vector<int>& prompt, int max_new_tokens, float temperature,
                     int top_k, float top_p, float min_p, float repetition_penalty,
                     uint64_t seed, const std::vector<int>& stop_token_ids,
                     const py::object& on_token) {
    const GenerationConfig config = MakeConfig(max_new_tokens, temperature, top_k, top_p, min_p,
                                               repetition_penalty, seed, stop_token_ids);

    std::unique_lock<std::mutex> busy(mutex_, std::try_to_lock);
    if (!busy.owns_lock()) {
      RaiseStatus(Status(ErrorCode::kExecution,
                         "this session is already generating (use one session per thread)"));
    }
    cancel_.store(false);
    std::optional<py::error_already_set> callback_error;
    TokenCallback callback;
    if (!on_token.is_none()) {
      callback = [&](int token) {
        py::gil_scoped_acquire gil;
        try {
          py::object keep = on_token(token);
          return keep.is_none() || keep.cast<bool>();
        } catch (py::error_already_set& e) {
          callback_error.emplace(std::move(e));
          return false;
        } catch (const py::cast_error&) {
          return true;
        }
      };
    }
    Expected<GenerationResult> result = Status();
    {
      py::gil_scoped_release release;
      result = session_->Generate(prompt, config, callback, &cancel_);
    }
    if (callback_error) throw std::move(*callback_error);
    GenerationResult value = Unwrap(std::move(result));
    return py::make_tuple(py::cast(value.token_ids), StatsToDict(value.stats));
  }

  void Cancel() { cancel_.store(true); }
  void Reset() {
    std::unique_lock<std::mutex> busy(mutex_, std::try_to_lock);
    if (!busy.owns_lock()) {
      RaiseStatus(Status(ErrorCode::kExecution, "cannot reset a session while it generates"));
    }
    session_->Reset();
  }
  std::vector<int> History() {
    // try_lock: blocking here would hold the GIL the generating thread's callback needs.
    std::unique_lock<std::mutex> busy(mutex_, std::try_to_lock);
    if (!busy.owns_lock()) {
      RaiseStatus(Status(ErrorCode::kExecution, "the history is not readable while generating"));
    }
    return session_->history();
  }

 private:
  std::unique_ptr<Session> session_;
  std::mutex mutex_;
  std::atomic<bool> cancel_{false};
};

class PyEngine {
 public:
  PyEngine(const std::string& path, int num_threads, const std::string& weight_cache_path,
           int prefill_chunk_size) {
    EngineOptions options;
    options.num_threads = num_threads;
    options.weight_cache_path = weight_cache_path;
    options.prefill_chunk_size = prefill_chunk_size;
    Expected<std::shared_ptr<Engine>> engine = Status();
    {
      py::gil_scoped_release release;
      engine = Engine::Create(path, options);
    }
    engine_ = Unwrap(std::move(engine));
  }

  py::dict Info() const {
    const ModelInterface& mi = engine_->interface();
    py::dict d;
    d["num_layers"] = mi.num_layers;
    d["max_context"] = mi.max_context;
    d["vocab_size"] = mi.vocab_size;
    d["kv_dtype"] = ElementTypeName(mi.kv_type);
    py::list heads, dims;
    for (const LayerCacheShape& layer : mi.layers) {
      heads.append(layer.num_kv_heads);
      dims.append(layer.head_dim);
    }
    d["num_kv_heads"] = heads;
    d["head_dim"] = dims;
    d["prefill_chunk"] = engine_->prefill_chunk();
    return d;
  }

  std::unique_ptr<PySession> NewSession() {
    return std::make_unique<PySession>(Unwrap(engine_->NewSession()));
  }

 private:
  std::shared_ptr<Engine> engine_;
};

}  // namespace

void BindEngine(py::module_& m) {
  py::class_<PySession>(m, "Session")
      .def("generate", &PySession::Generate, py::arg("prompt_ids"), py::arg("max_new_tokens"),
           py::arg("temperature"), py::arg("top_k"), py::arg("top_p"), py::arg("min_p"),
           py::arg("repetition_penalty"), py::arg("seed"), py::arg("stop_token_ids"),
           py::arg("on_token") = py::none())
      .def("validate", &PySession::Validate, py::arg("prompt_ids"), py::arg("max_new_tokens"),
           py::arg("temperature"), py::arg("top_k"), py::arg("top_p"), py::arg("min_p"),
           py::arg("repetition_penalty"), py::arg("seed"), py::arg("stop_token_ids"))
      .def("cancel", &PySession::Cancel)
      .def("reset", &PySession::Reset)
      .def("history", &PySession::History);
  py::class_<PyEngine>(m, "Engine")
      .def(py::init<const std::string&, int, const std::string&, int>(), py::arg("path"),
           py::arg("num_threads"), py::arg("weight_cache_path"), py::arg("prefill_chunk_size"))
      .def("info", &PyEngine::Info)
      .def("new_session", &PyEngine::NewSession);
}

}  // namespace litegen
