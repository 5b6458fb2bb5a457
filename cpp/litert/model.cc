#include "litert/model.h"

#include "litert/huge_page_advice.h"

#include <algorithm>

#include "litert/model_validator.h"

namespace litegen {
namespace {

constexpr int kCustomOpCode = 32;  // TFLite BuiltinOperator_CUSTOM

Expected<TensorSpec> ReadTensorSpec(LiteRtTensor tensor, const char* name,
                                    const std::string& what) {
  TensorSpec spec;
  spec.name = name != nullptr ? name : "";
  LiteRtTensorTypeId type_id = kLiteRtUnrankedTensorType;
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetTensorTypeId(tensor, &type_id),
                                      ErrorCode::kModelLoad, what + ": reading tensor type"));
  if (type_id != kLiteRtRankedTensorType) {
    return Status(ErrorCode::kModelLoad, what + ": tensor '" + spec.name + "' is unranked");
  }
  LiteRtRankedTensorType ranked = {};
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetRankedTensorType(tensor, &ranked),
                                      ErrorCode::kModelLoad, what + ": reading tensor shape"));
  spec.type = ranked.element_type;
  spec.shape = LayoutShape(ranked.layout);
  return spec;
}

// The C API has parallel functions for a signature's inputs and outputs.
struct TensorListAccess {
  const char* what;
  LiteRtStatus (*count)(LiteRtSignature, LiteRtParamIndex*);
  LiteRtStatus (*name)(LiteRtSignature, LiteRtParamIndex, const char**);
  LiteRtStatus (*tensor)(LiteRtSignature, LiteRtParamIndex, LiteRtTensor*);
};
constexpr TensorListAccess kSignatureInputs = {"input", LiteRtGetNumSignatureInputs,
                                               LiteRtGetSignatureInputName,
                                               LiteRtGetSignatureInputTensorByIndex};
constexpr TensorListAccess kSignatureOutputs = {"output", LiteRtGetNumSignatureOutputs,
                                                LiteRtGetSignatureOutputName,
                                                LiteRtGetSignatureOutputTensorByIndex};

Expected<std::vector<TensorSpec>> ReadTensorList(LiteRtSignature signature,
                                                 const TensorListAccess& access,
                                                 const std::string& where) {
  const std::string what = where + ": " + access.what;
  LiteRtParamIndex count = 0;
  LITEGEN_RETURN_IF_ERROR(
      CheckLiteRt(access.count(signature, &count), ErrorCode::kModelLoad, what + " count"));
  std::vector<TensorSpec> specs;
  for (LiteRtParamIndex i = 0; i < count; ++i) {
    const char* name = nullptr;
    LiteRtTensor tensor = nullptr;
    LITEGEN_RETURN_IF_ERROR(
        CheckLiteRt(access.name(signature, i, &name), ErrorCode::kModelLoad, what + " name"));
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(access.tensor(signature, i, &tensor),
                                        ErrorCode::kModelLoad, what + " tensor"));
    LITEGEN_ASSIGN_OR_RETURN(TensorSpec spec, ReadTensorSpec(tensor, name, where));
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace

int SignatureSpec::FindInput(const std::string& name) const {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int SignatureSpec::FindOutput(const std::string& name) const {
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

Expected<std::shared_ptr<const Model>> Model::Load(std::shared_ptr<const Environment> env,
                                                   const std::string& path) {
  // LiteRT does not fully verify flatbuffers (corrupt files can crash it), so we do.
  LITEGEN_RETURN_IF_ERROR(ValidateTfliteModelFile(path));
  LiteRtModel raw = nullptr;
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtCreateModelFromFile(env->get(), path.c_str(), &raw),
                                      ErrorCode::kModelLoad,
                                      "loading model file '" + path + "'"));
  // Before anything reads the weights: their page-cache folios are sized on first read.
  AdviseHugePagesForFile(path);
  auto model = std::make_shared<Model>(Token{}, std::move(env), ModelHandle(raw), path);
  LITEGEN_RETURN_IF_ERROR(model->ReadSignatures());
  LITEGEN_RETURN_IF_ERROR(model->ReadCustomOps());
  return std::shared_ptr<const Model>(std::move(model));
}

Status Model::ReadSignatures() {
  const std::string where = "model '" + path_ + "'";
  LiteRtParamIndex count = 0;
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetNumModelSignatures(get(), &count),
                                      ErrorCode::kModelLoad, where + ": reading signatures"));
  if (count == 0) {
    return Status(ErrorCode::kModelLoad, where + " has no signatures");
  }
  for (LiteRtParamIndex s = 0; s < count; ++s) {
    LiteRtSignature signature = nullptr;
    const char* key = nullptr;
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetModelSignature(get(), s, &signature),
                                        ErrorCode::kModelLoad, where + ": reading a signature"));
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetSignatureKey(signature, &key),
                                        ErrorCode::kModelLoad, where + ": signature key"));
    SignatureSpec spec;
    spec.key = key != nullptr ? key : "";
    spec.index = s;
    const std::string sig_where = where + " signature '" + spec.key + "'";

    LITEGEN_ASSIGN_OR_RETURN(spec.inputs, ReadTensorList(signature, kSignatureInputs, sig_where));
    LITEGEN_ASSIGN_OR_RETURN(spec.outputs,
                             ReadTensorList(signature, kSignatureOutputs, sig_where));
    signatures_.push_back(std::move(spec));
  }
  return Status::Ok();
}

Status Model::ReadCustomOps() {
  const std::string where = "model '" + path_ + "'";
  LiteRtParamIndex num_subgraphs = 0;
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetNumModelSubgraphs(get(), &num_subgraphs),
                                      ErrorCode::kModelLoad, where + ": reading subgraphs"));
  for (LiteRtParamIndex g = 0; g < num_subgraphs; ++g) {
    LiteRtSubgraph subgraph = nullptr;
    LiteRtParamIndex num_ops = 0;
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetModelSubgraph(get(), g, &subgraph),
                                        ErrorCode::kModelLoad, where + ": reading a subgraph"));
    LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetNumSubgraphOps(subgraph, &num_ops),
                                        ErrorCode::kModelLoad, where + ": reading ops"));
    for (LiteRtParamIndex o = 0; o < num_ops; ++o) {
      LiteRtOp op = nullptr;
      int code = 0;
      LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetSubgraphOp(subgraph, o, &op),
                                          ErrorCode::kModelLoad, where + ": reading an op"));
      LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetOpCode(op, &code), ErrorCode::kModelLoad,
                                          where + ": reading an op code"));
      if (code != kCustomOpCode) continue;
      const char* custom = nullptr;
      LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtGetCustomCode(op, &custom),
                                          ErrorCode::kModelLoad, where + ": custom op name"));
      const std::string name = custom != nullptr ? custom : "";
      if (std::find(custom_ops_.begin(), custom_ops_.end(), name) == custom_ops_.end()) {
        custom_ops_.push_back(name);
      }
    }
  }
  return Status::Ok();
}

Expected<const SignatureSpec*> Model::FindSignature(const std::string& key) const {
  for (const SignatureSpec& spec : signatures_) {
    if (spec.key == key) return &spec;
  }
  std::string known;
  for (const SignatureSpec& spec : signatures_) {
    known += (known.empty() ? "'" : ", '") + spec.key + "'";
  }
  return Status(ErrorCode::kSignature, "model '" + path_ + "' has no signature '" + key +
                                           "' (available: " + known + ")");
}

}  // namespace litegen
