// A loaded .tflite model: its signatures (names, dtypes, shapes) and the custom ops it uses.
#ifndef LITEGEN_CPP_LITERT_MODEL_H_
#define LITEGEN_CPP_LITERT_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "litert/environment.h"
#include "litert/tensor_types.h"

namespace litegen {

struct SignatureSpec {
  std::string key;
  size_t index = 0;  // signature index for LiteRtRunCompiledModel
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;

  // Index of the input/output named `name`, or -1.
  int FindInput(const std::string& name) const;
  int FindOutput(const std::string& name) const;
};

class Model {
 public:
  // Checks that `path` is a readable TFLite file before handing it to LiteRT, so a
  // missing, truncated or foreign file gets a precise message (kModelLoad).
  static Expected<std::shared_ptr<const Model>> Load(std::shared_ptr<const Environment> env,
                                                     const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<SignatureSpec>& signatures() const { return signatures_; }
  // Custom op names (custom_code) used anywhere in the model, without duplicates.
  const std::vector<std::string>& custom_ops() const { return custom_ops_; }
  // The signature named `key`, or a kSignature error listing the available ones.
  Expected<const SignatureSpec*> FindSignature(const std::string& key) const;

  LiteRtModel get() const { return handle_.get(); }
  const std::shared_ptr<const Environment>& environment() const { return env_; }

 private:
  struct Token {};

 public:
  Model(Token, std::shared_ptr<const Environment> env, ModelHandle handle, std::string path)
      : env_(std::move(env)), handle_(std::move(handle)), path_(std::move(path)) {}

 private:
  Status ReadSignatures();
  Status ReadCustomOps();

  std::shared_ptr<const Environment> env_;  // must outlive handle_
  ModelHandle handle_;
  std::string path_;
  std::vector<SignatureSpec> signatures_;
  std::vector<std::string> custom_ops_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_MODEL_H_
